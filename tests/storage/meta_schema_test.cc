// The meta table's keys and encodings are on-disk formats: these tests pin
// the exact bytes existing data dirs hold, and check that each encoder
// round-trips through its decoder.
#include <cstdint>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include "base/errors.h"
#include "storage/errors.h"
#include "storage/meta_schema.h"
#include "storage/wal_bootstrap.h"

using namespace storage;

TEST_CASE("meta keys keep their spelling", "[meta_schema]") {
  CHECK(std::string(kMetaRev) == "rev");
  CHECK(std::string(kMetaAppliedIndex) == "applied_index");
  CHECK(std::string(kMetaCompactRev) == "compact_rev");
  CHECK(std::string(kMetaCompactFinished) == "compact_finished");
  CHECK(std::string(kMetaLiveIndex) == "live_index");
  CHECK(std::string(kMetaLiveKeys) == "live_keys");
  CHECK(std::string(kMetaClusterId) == "cluster_id");
  CHECK(std::string(kMetaMemberId) == "member_id");
  CHECK(std::string(kMetaRaftSnapshot) == "raft_snapshot");
  CHECK(MemberMetaKey(0xabc) == "member/0000000000000abc");
  CHECK(RaftMemberMetaKey(0x8e9e05c52164694dull) == "raft_member/8e9e05c52164694d");
  CHECK(LeaseMetaKey(0x7) == "lease/0000000000000007");
  CHECK(LeaseMetaKey(-1) == "lease/ffffffffffffffff");
  CHECK(LeaseKeysMetaPrefix(0x1f) == "lease_key/000000000000001f/");
  CHECK(LeaseKeyMetaKey(0x1f, "foo") == "lease_key/000000000000001f/foo");
  // Every record key starts with its prefix, so a prefix scan finds it.
  CHECK(MemberMetaKey(1).rfind(kMemberMetaPrefix, 0) == 0);
  CHECK(RaftMemberMetaKey(1).rfind(kRaftMemberMetaPrefix, 0) == 0);
  CHECK(LeaseMetaKey(1).rfind(kLeaseMetaPrefix, 0) == 0);
  CHECK(LeaseKeysMetaPrefix(1).rfind(kLeaseKeyMetaPrefix, 0) == 0);
}

TEST_CASE("meta Int64 values are 8 bytes big endian and round-trip", "[meta_schema]") {
  CHECK(EncodeMetaInt64(1) == std::string("\0\0\0\0\0\0\0\1", 8));
  CHECK(EncodeMetaInt64(0x0102030405060708) == "\x01\x02\x03\x04\x05\x06\x07\x08");
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{255}, int64_t{1} << 40,
                    std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    CHECK(DecodeMetaInt64(EncodeMetaInt64(v)) == v);
  }
}

TEST_CASE("meta ids are lower-case hex and round-trip", "[meta_schema]") {
  CHECK(EncodeMetaId(0xbeef) == "beef");
  CHECK(EncodeMetaId(0) == "0");
  for (uint64_t id : {uint64_t{0}, uint64_t{1}, uint64_t{0x8e9e05c52164694d},
                      std::numeric_limits<uint64_t>::max()}) {
    auto back = DecodeMetaId(EncodeMetaId(id));
    REQUIRE(back.has_value());
    CHECK(*back == id);
  }
  CHECK_FALSE(DecodeMetaId("not hex").has_value());
  CHECK_FALSE(DecodeMetaId("10000000000000000").has_value());  // 65 bits
}

TEST_CASE("conf change contexts round-trip, and the first format still reads", "[meta_schema]") {
  serverpb::MemberAttributes m;
  m.set_member_id(42);
  m.set_name("infra1");
  m.add_peer_urls("http://10.0.0.1:2380");
  auto back = DecodeConfChangeContext(42, EncodeConfChangeContext(m));
  CHECK(back.SerializeAsString() == m.SerializeAsString());
  auto legacy = DecodeConfChangeContext(7, "http://10.0.0.2:2380");
  CHECK(legacy.member_id() == 7);
  REQUIRE(legacy.peer_urls_size() == 1);
  CHECK(legacy.peer_urls(0) == "http://10.0.0.2:2380");
}

TEST_CASE("store errors carry their kind, not only their message", "[errors]") {
  CHECK(IsCompacted(CompactedError()));
  CHECK(IsFutureRev(FutureRevError()));
  CHECK_FALSE(IsCompacted(FutureRevError()));
  CHECK(CompactedError().code() == absl::StatusCode::kOutOfRange);
  CHECK(CompactedError().message() == kErrCompacted);
  CHECK(FutureRevError().message() == kErrFutureRev);
  // The same code and message without the kind is not the store's error.
  CHECK_FALSE(IsCompacted(absl::OutOfRangeError(kErrCompacted)));
  CHECK(base::KindOf(CompactedError()) == base::ErrorKind::kCompacted);
}
