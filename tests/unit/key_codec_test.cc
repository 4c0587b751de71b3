// storage/key_codec: round trips, and that encoded order is exactly raw
// byte order of user keys (then revision descending), for keys made of the
// bytes the escape scheme is most likely to get wrong.
#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/key_codec.h"
#include "storage/mvcc_store.h"
#include "tests/unit/kv_model.h"

namespace {

using ketcd_test::Esc;
using storage::Revision;

// Keys over {0x00, 0x01, 0x02, 'a', 0xFE, 0xFF}, length 0..5: many are
// prefixes of each other and many contain the escape byte.
std::string RandomKey(std::mt19937_64& rng) {
  static const char kBytes[] = {'\x00', '\x01', '\x02', 'a', '\xfe', '\xff'};
  std::string k(rng() % 6, '\0');
  for (auto& c : k) c = kBytes[rng() % sizeof(kBytes)];
  return k;
}

int Sign(int v) { return (v > 0) - (v < 0); }

}  // namespace

TEST_CASE("std::string compares bytes as unsigned, like etcd's bytes.Compare", "[key_codec]") {
  // The model and the applier rely on this; it is what char_traits<char> promises.
  CHECK(std::string("\xff") > std::string("\x01"));
  CHECK(std::string("\x80") > std::string("\x7f"));
  CHECK(std::string("a") < std::string("a\x00", 2));
  CHECK(std::string("\x00", 1) > std::string());
}

TEST_CASE("key_codec round trips keys and revisions", "[key_codec]") {
  const uint64_t seed = 20261124;
  std::mt19937_64 rng(seed);
  INFO("seed " << seed);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = RandomKey(rng);
    const Revision rev{static_cast<int64_t>(rng() % 1000000), static_cast<int64_t>(rng() % 5)};
    INFO("key " << Esc(key) << " rev " << rev.main << "." << rev.sub);
    auto decoded = storage::DecodeKvKey(storage::EncodeKvKey(key, rev));
    REQUIRE(decoded.has_value());
    REQUIRE(decoded->user_key == key);
    REQUIRE(decoded->rev == rev);
    auto rdec = storage::DecodeRevKey(storage::EncodeRevKey(rev));
    REQUIRE(rdec.has_value());
    REQUIRE(*rdec == rev);
    // The user-key prefix is a prefix of every version's key.
    REQUIRE(storage::EncodeKvKey(key, rev).starts_with(storage::EncodeUserKey(key)));
  }
  // Extremes of the revision space survive the complement.
  for (Revision rev : {Revision{0, 0}, Revision{1, 0}, Revision{INT64_MAX, INT64_MAX}}) {
    auto d = storage::DecodeKvKey(storage::EncodeKvKey(std::string("\x00\xff", 2), rev));
    REQUIRE(d.has_value());
    CHECK(d->rev == rev);
  }
}

TEST_CASE("key_codec rejects what it did not write", "[key_codec]") {
  const std::string good = storage::EncodeKvKey(std::string("a\0b", 3), {5, 1});
  CHECK_FALSE(storage::DecodeKvKey("").has_value());
  CHECK_FALSE(storage::DecodeKvKey(good.substr(0, good.size() - 1)).has_value());
  CHECK_FALSE(storage::DecodeKvKey(good + "x").has_value());
  CHECK_FALSE(storage::DecodeKvKey(std::string("a\x00\x05", 3) + std::string(16, '\0')).has_value());
  CHECK_FALSE(storage::DecodeKvKey("abc").has_value());
  CHECK_FALSE(storage::DecodeRevKey("short").has_value());
}

TEST_CASE("key_codec encoded order equals raw byte order, then revision descending", "[key_codec]") {
  const uint64_t seed = 7;
  std::mt19937_64 rng(seed);
  INFO("seed " << seed);
  std::vector<std::string> keys;
  for (int i = 0; i < 400; ++i) keys.push_back(RandomKey(rng));
  // Hand-picked prefix chains and escape neighbours.
  for (const char* k : {"", "a", "ab", "b"}) keys.push_back(k);
  keys.push_back(std::string("\x00", 1));
  keys.push_back(std::string("\x00\x00", 2));
  keys.push_back(std::string("\x00\x01", 2));
  keys.push_back(std::string("\x00\xff", 2));
  keys.push_back(std::string("a\x00", 2));
  keys.push_back(std::string("a\x00\x01", 3));
  keys.push_back("\xff");
  keys.push_back("\xff\xff");
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t j = 0; j < keys.size(); ++j) {
      const std::string& a = keys[i];
      const std::string& b = keys[j];
      INFO("a " << Esc(a) << " b " << Esc(b));
      const int raw = Sign(a.compare(b));
      REQUIRE(Sign(storage::EncodeUserKey(a).compare(storage::EncodeUserKey(b))) == raw);
      const Revision ra{static_cast<int64_t>(rng() % 50), static_cast<int64_t>(rng() % 3)};
      const Revision rb{static_cast<int64_t>(rng() % 50), static_cast<int64_t>(rng() % 3)};
      const int enc = Sign(storage::EncodeKvKey(a, ra).compare(storage::EncodeKvKey(b, rb)));
      if (raw != 0) {
        REQUIRE(enc == raw);
        // Every version of the smaller key sorts below the larger key's
        // successor bound and the successor bound below the larger key.
        const std::string& lo = raw < 0 ? a : b;
        const std::string& hi = raw < 0 ? b : a;
        REQUIRE(storage::EncodeUserKeySuccessor(lo) <= storage::EncodeUserKey(hi));
      } else {
        // Same key: newer revisions first.
        const int by_rev = ra == rb ? 0 : (ra > rb ? -1 : 1);
        REQUIRE(enc == by_rev);
      }
      // Any version lies in [EncodeUserKey(k), EncodeUserKeySuccessor(k)).
      const std::string v = storage::EncodeKvKey(a, ra);
      REQUIRE(v >= storage::EncodeUserKey(a));
      REQUIRE(v < storage::EncodeUserKeySuccessor(a));
    }
  }
}

TEST_CASE("key_codec rev keys sort by (main, sub) ascending", "[key_codec]") {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 2000; ++i) {
    const Revision a{static_cast<int64_t>(rng() % 300), static_cast<int64_t>(rng() % 300)};
    const Revision b{static_cast<int64_t>(rng() % 300), static_cast<int64_t>(rng() % 300)};
    const int want = a == b ? 0 : (a < b ? -1 : 1);
    REQUIRE(Sign(storage::EncodeRevKey(a).compare(storage::EncodeRevKey(b))) == want);
  }
  // Big-endian, not little: 256 > 1.
  CHECK(storage::EncodeRevKey({256, 0}) > storage::EncodeRevKey({1, 0}));
}

TEST_CASE("KeyRange::FromEtcd resolves etcd's range_end rules", "[key_codec]") {
  auto single = storage::KeyRange::FromEtcd("a", "");
  CHECK(single.single);
  CHECK_FALSE(single.to_end);
  auto to_end = storage::KeyRange::FromEtcd("a", std::string("\x00", 1));
  CHECK_FALSE(to_end.single);
  CHECK(to_end.to_end);
  auto bounded = storage::KeyRange::FromEtcd("a", "b");
  CHECK_FALSE(bounded.single);
  CHECK_FALSE(bounded.to_end);
  CHECK(bounded.end == "b");
  // "\0\0" is a real end key, not "to the end".
  auto two_zero = storage::KeyRange::FromEtcd(std::string("\x00", 1), std::string("\x00\x00", 2));
  CHECK_FALSE(two_zero.to_end);
  CHECK(ketcd_test::PrefixEnd("a") == "b");
  CHECK(ketcd_test::PrefixEnd("a\xff") == "b");
  CHECK(ketcd_test::PrefixEnd("\xff\xff") == std::string("\x00", 1));
}
