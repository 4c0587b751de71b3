// etcd backups: the schema's exact bytes (etcd 3.4's encodings), facts and
// revisions round-tripping through WriteBackupFile and BackupReader, the
// status etcdctl would print, and the errors for bad backups.
#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "storage/bbolt/file.h"
#include "storage/etcd_backup.h"
#include "storage/etcd_backup_schema.h"
#include "storage/meta_schema.h"
#include "tests/common/temp_dir.h"

using namespace storage;
using namespace storage::etcd_schema;

namespace {

mvccpb::KeyValue Kv(std::string key, std::string value, int64_t create, int64_t mod, int64_t ver,
                    int64_t lease = 0) {
  mvccpb::KeyValue kv;
  kv.set_key(std::move(key));
  kv.set_value(std::move(value));
  kv.set_create_revision(create);
  kv.set_mod_revision(mod);
  kv.set_version(ver);
  kv.set_lease(lease);
  return kv;
}

// A random history as etcd's store would hold it: puts (some in multi-key
// txns), deletes, leases attached; create revisions and versions kept.
std::vector<BackupRevision> RandomHistory(std::mt19937_64& rng, int revisions) {
  std::vector<BackupRevision> out;
  std::map<std::string, mvccpb::KeyValue> live;
  for (int64_t main = 2; main < revisions + 2; ++main) {
    int changes = 1 + static_cast<int>(rng() % 3);
    for (int64_t sub = 0; sub < changes; ++sub) {
      std::string key = "k" + std::to_string(rng() % 50);
      BackupRevision r;
      r.rev = {main, sub};
      auto it = live.find(key);
      if (it != live.end() && rng() % 4 == 0) {
        r.tombstone = true;
        r.kv.set_key(key);
        live.erase(it);
      } else {
        int64_t create = it == live.end() ? main : it->second.create_revision();
        int64_t ver = it == live.end() ? 1 : it->second.version() + 1;
        r.kv = Kv(key, std::string(rng() % 3000, 'v'), create, main, ver, rng() % 5 == 0 ? 7 : 0);
        live[key] = r.kv;
      }
      out.push_back(r);
    }
  }
  return out;
}

RevisionSource FromVector(const std::vector<BackupRevision>& revs) {
  return [&revs](const RevisionVisitor& visit) {
    for (const BackupRevision& r : revs) {
      if (absl::Status s = visit(r); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
}

BackupFacts SomeFacts() {
  BackupFacts f;
  f.consistent_index = 12345;
  f.compact_rev = 3;
  f.leases = {{7, 60, 0}, {0x1234567890, 10, 4}, {2, 5, 0}};
  f.members = {{0x8e9e05c52164694d, {"http://127.0.0.1:2380"}, false, "m1", {"http://127.0.0.1:2379"}},
               {0xabc, {"http://127.0.0.1:22380"}, true, "", {}}};
  f.removed_members = {0x99, 0x5};
  f.cluster_version = "3.4.0";
  f.auth.enabled = true;
  f.auth.flag_recorded = true;
  f.auth.revision = 9;
  f.auth.users.emplace_back().set_name("root");
  f.auth.users.back().add_roles("root");
  f.auth.roles.emplace_back().set_name("root");
  etcdserverpb::AlarmMember alarm;
  alarm.set_memberid(0xabc);
  alarm.set_alarm(etcdserverpb::NOSPACE);
  f.alarms.push_back(alarm);
  return f;
}

void CheckFactsEqual(const BackupFacts& a, const BackupFacts& b) {
  CHECK(a.consistent_index == b.consistent_index);
  CHECK(a.compact_rev == b.compact_rev);
  CHECK(a.cluster_version == b.cluster_version);
  CHECK(a.auth.enabled == b.auth.enabled);
  CHECK(a.auth.flag_recorded == b.auth.flag_recorded);
  CHECK(a.auth.revision == b.auth.revision);
  auto sorted = [](auto v, auto key) {
    std::sort(v.begin(), v.end(), [&](const auto& x, const auto& y) { return key(x) < key(y); });
    return v;
  };
  auto lease_key = [](const BackupLease& l) { return static_cast<uint64_t>(l.id); };
  CHECK(sorted(a.leases, lease_key) == sorted(b.leases, lease_key));
  auto member_key = [](const BackupMember& m) { return EncodeMetaId(m.id); };
  CHECK(sorted(a.members, member_key) == sorted(b.members, member_key));
  auto id = [](uint64_t v) { return EncodeMetaId(v); };
  CHECK(sorted(a.removed_members, id) == sorted(b.removed_members, id));
  REQUIRE(a.auth.users.size() == b.auth.users.size());
  for (size_t i = 0; i < a.auth.users.size(); ++i) {
    CHECK(a.auth.users[i].SerializeAsString() == b.auth.users[i].SerializeAsString());
  }
  REQUIRE(a.auth.roles.size() == b.auth.roles.size());
  for (size_t i = 0; i < a.auth.roles.size(); ++i) {
    CHECK(a.auth.roles[i].SerializeAsString() == b.auth.roles[i].SerializeAsString());
  }
  REQUIRE(a.alarms.size() == b.alarms.size());
  CHECK(a.alarms[0].SerializeAsString() == b.alarms[0].SerializeAsString());
}

}  // namespace

TEST_CASE("etcd's encodings, byte for byte", "[etcd_backup]") {
  CHECK(EncodeRevisionKey({0x0102, 3}, false) ==
        std::string("\0\0\0\0\0\0\x01\x02_\0\0\0\0\0\0\0\x03", 17));
  CHECK(EncodeRevisionKey({5, 0}, true) == std::string("\0\0\0\0\0\0\0\x05_\0\0\0\0\0\0\0\0t", 18));
  auto decoded = DecodeRevisionKey(EncodeRevisionKey({9, 2}, true));
  REQUIRE(decoded);
  CHECK(decoded->rev == Revision{9, 2});
  CHECK(decoded->tombstone);
  CHECK(!DecodeRevisionKey("short"));
  CHECK(!DecodeRevisionKey(std::string(17, 'x')));
  CHECK(EncodeU64BigEndian(1) == std::string("\0\0\0\0\0\0\0\1", 8));
  // What etcd 3.4 writes for its default member (json.Marshal(Member)).
  BackupMember m{10276657743932975437ull, {"http://localhost:2380"}, false, "default",
                 {"http://localhost:2379"}};
  CHECK(EncodeMemberJson(m) ==
        R"({"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default",)"
        R"("clientURLs":["http://localhost:2379"]})");
  CHECK(EncodeMemberJson(BackupMember{1, {}, true, "", {}}) ==
        R"({"id":1,"peerURLs":null,"isLearner":true})");
  // Go's HTML-safe escaping, invalid UTF-8 as U+FFFD.
  BackupMember odd{2, {"a<b>&\"\\\n\x01"}, false, "n\xC3\xA9\xE2\x80\xA8\xFF", {}};
  CHECK(EncodeMemberJson(odd) ==
        R"({"id":2,"peerURLs":["a\u003cb\u003e\u0026\"\\\n\u0001"],"name":"n)"
        "\xC3\xA9"
        R"(\u2028\ufffd"})");
  absl::StatusOr<BackupMember> back = DecodeMemberJson(EncodeMemberJson(odd));
  REQUIRE(back.ok());
  CHECK(back->peer_urls == odd.peer_urls);
  CHECK(back->name == "n\xC3\xA9\xE2\x80\xA8\xEF\xBF\xBD");
  CHECK(*DecodeMemberJson(EncodeMemberJson(m)) == m);
  absl::StatusOr<BackupMember> extra =
      DecodeMemberJson(R"( {"x":[1,{"y":null}],"id":5,"peerURLs":["\ud83d\ude00"]} )");
  REQUIRE(extra.ok());
  CHECK(extra->id == 5);
  CHECK(extra->peer_urls[0] == "\xF0\x9F\x98\x80");
  CHECK(!DecodeMemberJson("{\"id\":").ok());
  CHECK(!DecodeMemberJson("{\"id\":99999999999999999999}").ok());
  CHECK(!DecodeMemberJson("[]").ok());
}

TEST_CASE("a backup round-trips its facts, revisions and status", "[etcd_backup]") {
  ketcd_test::TempDir dir;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    DYNAMIC_SECTION("seed " << seed) {
      std::mt19937_64 rng(seed);
      std::vector<BackupRevision> revs = RandomHistory(rng, static_cast<int>(rng() % 3000));
      BackupFacts facts = SomeFacts();
      std::string path = dir.Sub("backup" + std::to_string(seed));
      absl::StatusOr<BackupStatus> written = WriteBackupFile(path, facts, FromVector(revs));
      REQUIRE(written.ok());
      uint64_t size = std::filesystem::file_size(path);
      CHECK(BackupHasHashTrailer(size));
      CHECK(written->total_size + 32 == static_cast<int64_t>(size));
      CHECK(written->revision == (revs.empty() ? 0 : revs.back().rev.main));

      absl::StatusOr<std::unique_ptr<BackupReader>> reader = BackupReader::Open(path);
      REQUIRE(reader.ok());
      CHECK((*reader)->has_hash());
      CHECK((*reader)->db().Check().ok());
      CheckFactsEqual((*reader)->facts(), facts);
      CHECK((*reader)->facts().scheduled_compact_rev == facts.compact_rev);
      absl::StatusOr<BackupStatus> status = (*reader)->Status();
      REQUIRE(status.ok());
      CHECK(*status == *written);
      size_t i = 0;
      REQUIRE((*reader)->ForEachRevision([&](const BackupRevision& r) {
                 REQUIRE(i < revs.size());
                 CHECK(r.rev == revs[i].rev);
                 CHECK(r.tombstone == revs[i].tombstone);
                 CHECK(r.kv.SerializeAsString() == revs[i].kv.SerializeAsString());
                 ++i;
                 return absl::OkStatus();
               }).ok());
      CHECK(i == revs.size());
    }
  }
}

TEST_CASE("the layout depends only on the inputs: a dry run sizes the stream", "[etcd_backup]") {
  std::mt19937_64 rng(3);
  std::vector<BackupRevision> revs = RandomHistory(rng, 2000);
  bbolt::CountingSink dry, real;
  absl::StatusOr<EncodedBackup> a = EncodeBackup(SomeFacts(), FromVector(revs), &dry);
  absl::StatusOr<EncodedBackup> b = EncodeBackup(SomeFacts(), FromVector(revs), &real);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->meta_pages == b->meta_pages);
  CHECK(a->size == dry.bytes() + 2 * bbolt::kPageSize);
  CHECK(a->status == b->status);
}

TEST_CASE("the encoder refuses revisions etcd could not have stored", "[etcd_backup]") {
  ketcd_test::TempDir dir;
  auto write = [&](std::vector<BackupRevision> revs) {
    absl::Status s = WriteBackupFile(dir.Sub("b"), BackupFacts{}, FromVector(revs)).status();
    CHECK(!std::filesystem::exists(dir.Sub("b")));  // nothing left behind
    return s;
  };
  BackupRevision r1{{2, 0}, false, Kv("a", "1", 2, 2, 1)};
  BackupRevision r0{{1, 5}, false, Kv("b", "1", 1, 1, 1)};
  CHECK(absl::IsInvalidArgument(write({r1, r0})));
  CHECK(absl::IsInvalidArgument(write({r1, r1})));
  BackupRevision wrong_mod{{3, 0}, false, Kv("a", "1", 2, 2, 2)};
  CHECK(absl::IsInvalidArgument(write({wrong_mod})));
  // A source's own error comes back as is.
  absl::Status s = WriteBackupFile(dir.Sub("b"), BackupFacts{}, [](const RevisionVisitor&) {
                     return absl::AbortedError("source failed");
                   }).status();
  CHECK(s.message() == "source failed");
}

TEST_CASE("bad backups: flipped byte, truncation, not a backup", "[etcd_backup][corrupt]") {
  ketcd_test::TempDir dir;
  std::mt19937_64 rng(5);
  std::vector<BackupRevision> revs = RandomHistory(rng, 500);
  const std::string path = dir.Sub("good");
  REQUIRE(WriteBackupFile(path, SomeFacts(), FromVector(revs)).ok());
  std::string bytes;
  {
    absl::StatusOr<bbolt::File> f = bbolt::File::OpenForRead(path);
    REQUIRE(f->ReadAt(0, *f->Size(), &bytes).ok());
  }
  auto open = [&](const std::string& content, BackupReadOptions opts = {}) {
    absl::StatusOr<bbolt::File> f = bbolt::File::Create(dir.Sub("bad"));
    REQUIRE(f->WriteAt(0, content).ok());
    return BackupReader::Open(dir.Sub("bad"), opts).status();
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  absl::Status s = open(flipped);
  CHECK(absl::IsDataLoss(s));
  CHECK(s.message().find("sha256 mismatch") != std::string::npos);
  s = open(bytes.substr(0, bytes.size() - 1000));
  CHECK(absl::IsFailedPrecondition(s));
  CHECK(s.message().find("truncated") != std::string::npos);
  // Without its trailer: a bare db file, readable with skip_hash_check.
  std::string bare = bytes.substr(0, bytes.size() - 32);
  CHECK(absl::IsFailedPrecondition(open(bare)));
  CHECK(open(bare, {.skip_hash_check = true}).ok());
  // A bbolt file that is not an etcd backup, and not a bbolt file at all.
  s = open(std::string(8192 + 32, 'x'), {.skip_hash_check = true});
  CHECK(absl::IsDataLoss(s));
  CHECK(s.message().find("bad magic") != std::string::npos);
  CHECK(absl::IsNotFound(BackupReader::Open(dir.Sub("missing")).status()));
}

TEST_CASE("a bbolt file without etcd's buckets is not a backup", "[etcd_backup][corrupt]") {
  ketcd_test::TempDir dir;
  absl::StatusOr<bbolt::File> f = bbolt::File::Create(dir.Sub("db"));
  REQUIRE(f.ok());
  bbolt::FileSink sink(&*f);
  bbolt::Writer w(&sink);
  REQUIRE(w.BeginBucket("other").ok());
  REQUIRE(w.EndBucket().ok());
  absl::StatusOr<std::string> metas = w.Finish();
  REQUIRE(metas.ok());
  REQUIRE(sink.Finish(*metas).ok());
  absl::Status s = BackupReader::Open(dir.Sub("db"), {.skip_hash_check = true}).status();
  CHECK(absl::IsDataLoss(s));
  CHECK(s.message().find("no 'key' bucket") != std::string::npos);
}

namespace {

// The raw (key, value) pairs of one top-level bucket.
std::vector<std::pair<std::string, std::string>> BucketPairs(const BackupReader& r,
                                                             const std::string& bucket) {
  std::vector<std::pair<std::string, std::string>> out;
  REQUIRE(r.db().ForEach({bucket}, [&](std::string_view k, std::string_view v, bool) {
    out.emplace_back(std::string(k), std::string(v));
    return absl::OkStatus();
  }).ok());
  return out;
}

}  // namespace

TEST_CASE("the auth buckets hold etcd 3.4's bytes", "[etcd_backup][auth]") {
  ketcd_test::TempDir dir;
  BackupFacts f;
  authpb::User alice;
  alice.set_name("alice");
  alice.set_password("$2a$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY");
  alice.add_roles("reader");
  authpb::User root;
  root.set_name("root");
  root.set_password("$2b$10$0123456789012345678901uABCDEFGHIJKLMNOPQRSTUVWXYZ012");
  root.add_roles("root");
  authpb::Role reader;
  reader.set_name("reader");
  authpb::Permission* p = reader.add_keypermission();
  p->set_permtype(authpb::Permission::READ);
  p->set_key("data/");
  p->set_range_end("data0");
  authpb::Role root_role;
  root_role.set_name("root");
  // Given out of order: the buckets are in name order.
  f.auth.users = {root, alice};
  f.auth.roles = {root_role, reader};
  f.auth.revision = 0x0102030405;
  const std::vector<BackupRevision> no_revisions;
  auto write_read = [&](const BackupFacts& facts) {
    REQUIRE(WriteBackupFile(dir.Sub("b"), facts, FromVector(no_revisions)).ok());
    auto r = BackupReader::Open(dir.Sub("b"));
    REQUIRE(r.ok());
    return std::move(*r);
  };
  const std::string revision("\0\0\0\x01\x02\x03\x04\x05", 8);

  SECTION("enabled: authEnabled is the byte 1") {
    f.auth.enabled = true;
    auto r = write_read(f);
    CHECK(BucketPairs(*r, "auth") ==
          std::vector<std::pair<std::string, std::string>>{{"authEnabled", std::string(1, '\1')},
                                                           {"authRevision", revision}});
    CHECK(BucketPairs(*r, "authUsers") ==
          std::vector<std::pair<std::string, std::string>>{{"alice", alice.SerializeAsString()},
                                                           {"root", root.SerializeAsString()}});
    CHECK(BucketPairs(*r, "authRoles") ==
          std::vector<std::pair<std::string, std::string>>{{"reader", reader.SerializeAsString()},
                                                           {"root", root_role.SerializeAsString()}});
    const AuthRecords& back = r->facts().auth;
    CHECK(back.enabled);
    CHECK(back.flag_recorded);
    CHECK(back.revision == 0x0102030405);
    REQUIRE(back.users.size() == 2);
    CHECK(back.users[0].password() == alice.password());
    CHECK(back.roles[0].keypermission(0).range_end() == "data0");
  }
  SECTION("disabled after an enable: the byte 0") {
    f.auth.flag_recorded = true;
    auto r = write_read(f);
    CHECK(BucketPairs(*r, "auth")[0] == std::make_pair(std::string("authEnabled"), std::string(1, '\0')));
    CHECK(!r->facts().auth.enabled);
    CHECK(r->facts().auth.flag_recorded);
  }
  SECTION("never enabled: no flag; a fresh auth store: no revision") {
    f.auth.revision = 0;
    auto r = write_read(f);
    CHECK(BucketPairs(*r, "auth").empty());
    CHECK(!r->facts().auth.flag_recorded);
    CHECK(r->facts().auth.revision == 0);
  }
}
