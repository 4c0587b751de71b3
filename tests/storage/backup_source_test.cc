// backup_source: a small MvccStore's history as etcd's compaction keeps it
// (before and after physical compaction), and StreamBackup's messages read
// back by BackupReader.
#include <algorithm>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "serverpb/internal.pb.h"
#include "storage/auth_records.h"
#include "storage/backup_source.h"
#include "storage/meta_schema.h"
#include "tests/common/temp_dir.h"

using namespace storage;
using ketcd_test::TempDir;

namespace {

struct Kept {
  Revision rev;
  bool tombstone;
  std::string key;
  bool operator==(const Kept&) const = default;
};

std::vector<Kept> KeptOf(const ReadView& view) {
  std::vector<Kept> out;
  REQUIRE(view.ForEachKeptRevision([&](Revision rev, bool tombstone, const mvccpb::KeyValue& kv) {
    out.push_back({rev, tombstone, kv.key()});
    if (!tombstone) CHECK(kv.mod_revision() == rev.main);
    return absl::OkStatus();
  }).ok());
  return out;
}

// One committed txn per call: puts of `puts`, then deletes of `dels`.
void Apply(MvccStore* store, uint64_t index, const std::vector<std::string>& puts,
           const std::vector<std::string>& dels = {}, int64_t lease = 0) {
  auto batch = store->Write();
  WriteTxn txn = batch->BeginTxn();
  for (const auto& k : puts) REQUIRE(txn.Put(k, "v-" + k, lease).ok());
  for (const auto& k : dels) REQUIRE(txn.DeleteRange(KeyRange::FromEtcd(k, "")).ok());
  batch->EndTxn(txn);
  REQUIRE(batch->Commit(index, false).ok());
}

// A fresh store whose compactor removes nothing yet (held at revision 1).
class HeldStore {
 public:
  HeldStore() {
    auto opened = MvccStore::Open(dir_.Sub("db"));
    REQUIRE(opened.ok());
    store_ = std::move(*opened);
    s = store_.get();
    s->SetCompactionHold(1);
  }

 private:
  TempDir dir_;
  std::unique_ptr<MvccStore> store_;

 protected:
  MvccStore* s = nullptr;
};

void Compact(MvccStore* store, uint64_t index, int64_t rev) {
  auto batch = store->Write();
  REQUIRE(batch->Compact(rev).ok());
  REQUIRE(batch->Commit(index, false).ok());
}

}  // namespace

TEST_CASE_METHOD(HeldStore, "kept revisions follow etcd's compaction whatever the compactor did") {
  Apply(s, 1, {"a", "b"});        // 2.0 a, 2.1 b
  Apply(s, 2, {"a"});             // 3.0 a
  Apply(s, 3, {"c"});             // 4.0 c
  Apply(s, 4, {"d"}, {"c"});      // 5.0 d, 5.1 delete c
  Apply(s, 5, {}, {"b"});         // 6.0 delete b
  Apply(s, 6, {"e"});             // 7.0 e
  Compact(s, 7, 5);
  Apply(s, 8, {"a"});             // 8.0 a
  // Compaction at 5 keeps b@2.1 and a@3 (the newest at or below 5), d's
  // put at 5 but not c's delete there, and everything above 5.
  const std::vector<Kept> ordered = {
      {{2, 1}, false, "b"}, {{3, 0}, false, "a"}, {{5, 0}, false, "d"},
      {{6, 0}, true, "b"},  {{7, 0}, false, "e"}, {{8, 0}, false, "a"}};
  CHECK(KeptOf(*s->Read()) == ordered);
  s->SetCompactionHold(std::numeric_limits<int64_t>::max());
  s->WaitCompacted(5);
  CHECK(KeptOf(*s->Read()) == ordered);
}

// etcd fills a watch event's prev_kv by reading the key at mod_revision - 1,
// which fails below the compaction: an event at the compaction revision
// has none, whether or not the compactor has removed the older version yet
// (found by compat.go_watch on a loaded CI machine, where it had not).
TEST_CASE_METHOD(HeldStore, "ReadChanges gives no prev_kv read from below the compaction, compactor done or not") {
  Apply(s, 1, {"a", "b"});  // 2.0 a, 2.1 b
  Apply(s, 2, {"a"});       // 3.0 a
  Apply(s, 3, {"b"});       // 4.0 b
  Compact(s, 4, 3);
  auto prevs = [&](bool held) {
    auto changes = s->Read()->ReadChanges(3, 10, /*with_prev=*/true, held);
    REQUIRE(changes.ok());
    std::vector<std::string> out;
    for (const auto& ev : changes->events) {
      out.push_back(ev.kv().key() + "@" + std::to_string(ev.kv().mod_revision()) + ":" +
                    (ev.has_prev_kv() ? std::to_string(ev.prev_kv().mod_revision()) : "none"));
    }
    return out;
  };
  const std::vector<std::string> want = {"a@3:none", "b@4:2"};
  CHECK(prevs(false) == want);
  CHECK(prevs(true) == want);
  s->SetCompactionHold(std::numeric_limits<int64_t>::max());
  s->WaitCompacted(3);
  CHECK(prevs(false) == want);
}

TEST_CASE("StreamBackup sends etcd's messages and BackupReader reads them back") {
  TempDir dir;
  auto store = MvccStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  MvccStore* s = store->get();
  serverpb::LeaseRecord lease;
  lease.set_id(7);
  lease.set_ttl(60);
  {
    auto batch = s->Write();
    REQUIRE(batch->PutMeta(LeaseMetaKey(7), lease.SerializeAsString()).ok());
    serverpb::MemberAttributes m;
    m.set_member_id(0x1234);
    m.add_peer_urls("http://127.0.0.1:2380");
    REQUIRE(batch->PutMeta(RaftMemberMetaKey(0x1234), m.SerializeAsString()).ok());
    m.set_name("m1");
    m.add_client_urls("http://127.0.0.1:2379");
    REQUIRE(batch->PutMeta(MemberMetaKey(0x1234), m.SerializeAsString()).ok());
    REQUIRE(batch->Commit(1, false).ok());
  }
  for (int i = 0; i < 200; ++i) Apply(s, 2 + i, {"key" + std::to_string(i % 37)}, {}, i % 5 ? 0 : 7);
  Compact(s, 300, 100);

  std::string file;
  std::vector<std::pair<std::string, uint64_t>> messages;
  auto view = s->Read();
  REQUIRE(StreamBackup(*view, {"3.5.0"}, [&](std::string_view blob, uint64_t remaining) {
    messages.emplace_back(std::string(blob), remaining);
    return absl::OkStatus();
  }, 4096).ok());
  REQUIRE(messages.size() >= 3);
  for (size_t i = 0; i + 1 < messages.size(); ++i) {
    file += messages[i].first;
    if (i + 2 < messages.size()) CHECK(messages[i].first.size() == 4096);
  }
  uint64_t sent = 0;
  for (size_t i = 0; i + 1 < messages.size(); ++i) {
    sent += messages[i].first.size();
    CHECK(messages[i].second == file.size() - sent);
  }
  CHECK(messages.back().second == 0);
  CHECK(messages.back().first.size() == kBackupHashSize);
  const std::string path = dir.Sub("backup.db");
  std::ofstream(path, std::ios::binary) << file << messages.back().first;

  auto reader = BackupReader::Open(path);  // checks the SHA-256 trailer
  REQUIRE(reader.ok());
  const BackupFacts& facts = (*reader)->facts();
  CHECK(facts.consistent_index == 300);
  CHECK(facts.compact_rev == 100);
  CHECK(facts.cluster_version == "3.5.0");
  REQUIRE(facts.leases.size() == 1);
  CHECK(facts.leases[0].id == 7);
  REQUIRE(facts.members.size() == 1);
  CHECK(facts.members[0].name == "m1");
  CHECK(facts.members[0].peer_urls == std::vector<std::string>{"http://127.0.0.1:2380"});
  std::vector<Revision> got;
  REQUIRE((*reader)->ForEachRevision([&](const BackupRevision& r) {
    got.push_back(r.rev);
    return absl::OkStatus();
  }).ok());
  std::vector<Revision> want;
  for (const Kept& k : KeptOf(*view)) want.push_back(k.rev);
  CHECK(got == want);
  // Puts at revisions 2..201: each of the 37 keys' newest version at or
  // below the compaction (100), and the 101 revisions above it.
  CHECK(want.size() == 37 + 101);
  auto status = (*reader)->Status();
  REQUIRE(status.ok());
  CHECK(status->revision == 201);
}

TEST_CASE("a backup carries the auth records and alarms of its view's moment") {
  TempDir dir;
  auto store = MvccStore::Open(dir.Sub("db"));
  REQUIRE(store.ok());
  MvccStore* s = store->get();
  AuthRecords auth;
  auth.enabled = true;
  auth.revision = 5;
  auth.users.emplace_back().set_name("alice");
  auth.users.back().set_password("$2b$10$hash");
  auth.users.back().add_roles("reader");
  auth.users.emplace_back().set_name("root");
  auth.users.back().add_roles("root");
  auth.roles.emplace_back().set_name("reader");
  auth.roles.back().add_keypermission()->set_key("a/");
  auth.roles.emplace_back().set_name("root");
  {
    auto batch = s->Write();
    REQUIRE(PutAuthRecords(*batch, auth).ok());
    REQUIRE(batch->PutMeta(AlarmMetaKey(0x99, etcdserverpb::NOSPACE), "").ok());
    REQUIRE(batch->Commit(1, false).ok());
  }
  Apply(s, 2, {"a/1"});
  auto view = s->Read();
  {
    // Changes after the view: not in its backup.
    auto batch = s->Write();
    REQUIRE(batch->PutMeta(kMetaAuthEnabled, kMetaAuthEnabledOff).ok());
    REQUIRE(batch->PutMeta(kMetaAuthRevision, EncodeMetaInt64(6)).ok());
    REQUIRE(batch->DeleteMeta(AuthUserMetaKey("alice")).ok());
    REQUIRE(batch->DeleteMeta(AlarmMetaKey(0x99, etcdserverpb::NOSPACE)).ok());
    REQUIRE(batch->Commit(3, false).ok());
  }
  auto facts = BackupFactsFromView(*view, {});
  REQUIRE(facts.ok());
  const std::string path = dir.Sub("backup.db");
  REQUIRE(WriteBackupFile(path, *facts, RevisionSourceFromView(*view)).ok());
  view.reset();
  auto reader = BackupReader::Open(path);
  REQUIRE(reader.ok());
  const AuthRecords& got = (*reader)->facts().auth;
  CHECK(got.enabled);
  CHECK(got.revision == 5);
  REQUIRE(got.users.size() == 2);
  CHECK(got.users[0].SerializeAsString() == auth.users[0].SerializeAsString());
  CHECK(got.users[1].SerializeAsString() == auth.users[1].SerializeAsString());
  REQUIRE(got.roles.size() == 2);
  CHECK(got.roles[0].SerializeAsString() == auth.roles[0].SerializeAsString());
  REQUIRE((*reader)->facts().alarms.size() == 1);
  CHECK((*reader)->facts().alarms[0].memberid() == 0x99);
  CHECK((*reader)->facts().alarms[0].alarm() == etcdserverpb::NOSPACE);

  // The store's own records now: the disabled flag is kept, as etcd keeps
  // authEnabled=0.
  auto now = ReadAuthRecords([&](std::string_view p) { return s->ListMeta(p); });
  REQUIRE(now.ok());
  CHECK(!now->enabled);
  CHECK(now->flag_recorded);
  CHECK(now->revision == 6);
  CHECK(now->users.size() == 1);
  facts = BackupFactsFromView(*s->Read(), {});
  REQUIRE(facts.ok());
  CHECK(facts->alarms.empty());
  CHECK(!facts->auth.enabled);
  CHECK(facts->auth.flag_recorded);
}

TEST_CASE("an unreadable auth record is DataLoss naming its key") {
  auto got = ReadAuthRecords([](std::string_view prefix) {
    std::vector<std::pair<std::string, std::string>> out;
    if (prefix == kAuthRoleMetaPrefix) out.emplace_back(AuthRoleMetaKey("r"), "\xff\xff");
    return out;
  });
  CHECK(absl::IsDataLoss(got.status()));
  CHECK(got.status().message() == "unreadable auth record auth_role/r");
}
