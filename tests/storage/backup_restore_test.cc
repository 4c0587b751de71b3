// backup_restore: a store's backup restored into a new data dir holds the
// same history (every kept revision, the compaction, the revision), the
// leases and their keys, the new membership and identity and a WAL a member
// opens; bad inputs leave nothing behind; LoadHistory refuses what it must.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "base/errors.h"
#include "storage/auth_records.h"
#include "serverpb/internal.pb.h"
#include "storage/backup_restore.h"
#include "storage/backup_source.h"
#include "storage/errors.h"
#include "storage/member_dir.h"
#include "storage/meta_schema.h"
#include "storage/wal.h"
#include "tests/common/temp_dir.h"

using namespace storage;
using ketcd_test::TempDir;
namespace fs = std::filesystem;

namespace {

void Apply(MvccStore* store, uint64_t index, const std::vector<std::string>& puts,
           const std::vector<std::string>& dels = {}, int64_t lease = 0) {
  auto batch = store->Write();
  WriteTxn txn = batch->BeginTxn();
  for (const auto& k : puts) REQUIRE(txn.Put(k, "v-" + k + std::to_string(index), lease).ok());
  for (const auto& k : dels) REQUIRE(txn.DeleteRange(KeyRange::FromEtcd(k, "")).ok());
  batch->EndTxn(txn);
  REQUIRE(batch->Commit(index, false).ok());
}

struct Kept {
  Revision rev;
  bool tombstone;
  std::string kv;  // serialized
  bool operator==(const Kept&) const = default;
};

std::vector<Kept> KeptOf(const ReadView& view) {
  std::vector<Kept> out;
  REQUIRE(view.ForEachKeptRevision([&](Revision rev, bool tombstone, const mvccpb::KeyValue& kv) {
    out.push_back({rev, tombstone, tombstone ? kv.key() : kv.SerializeAsString()});
    return absl::OkStatus();
  }).ok());
  return out;
}

std::string RangeAt(const MvccStore& s, int64_t rev) {
  const std::string zero(1, '\0');  // from the first key to the end
  auto r = s.Read()->Range(KeyRange::FromEtcd(zero, zero), RangeOptions{0, rev, false});
  if (!r.ok()) return r.status().ToString();
  std::string out;
  for (const auto& kv : r->kvs) out += kv.ShortDebugString() + "\n";
  return out + "count " + std::to_string(r->count);
}

// A source store: 120 revisions over 30 keys, deletes, lease 7 on some
// keys, a second lease with none, compaction at 60; and its backup file.
struct Source {
  TempDir dir;
  std::unique_ptr<MvccStore> store;
  std::string backup;

  Source() {
    auto s = MvccStore::Open(dir.Sub("db"));
    REQUIRE(s.ok());
    store = std::move(*s);
    auto batch = store->Write();
    for (int64_t id : {7, 9}) {
      serverpb::LeaseRecord lease;
      lease.set_id(id);
      lease.set_ttl(60 * id);
      if (id == 9) lease.set_remaining_ttl(42);
      REQUIRE(batch->PutMeta(LeaseMetaKey(id), lease.SerializeAsString()).ok());
    }
    AuthRecords auth;
    auth.enabled = true;
    auth.flag_recorded = true;
    auth.revision = 11;
    auth.users.emplace_back().set_name("root");
    auth.users.back().set_password("$2b$10$roothash");
    auth.users.back().add_roles("root");
    auth.roles.emplace_back().set_name("reader");
    auth.roles.back().add_keypermission()->set_key("k1");
    REQUIRE(PutAuthRecords(*batch, auth).ok());
    REQUIRE(batch->PutMeta(AlarmMetaKey(0x99, 1), "").ok());
    REQUIRE(batch->Commit(1, false).ok());
    for (int i = 0; i < 120; ++i) {
      std::string key = "k" + std::to_string(i % 30);
      if (i % 11 == 10) {
        Apply(store.get(), 2 + i, {}, {key});
      } else {
        Apply(store.get(), 2 + i, {key}, {}, i % 4 == 0 ? 7 : 0);
      }
    }
    auto cb = store->Write();
    REQUIRE(cb->Compact(60).ok());
    REQUIRE(cb->Commit(200, false).ok());
    backup = dir.Sub("backup.db");
    auto view = store->Read();
    auto facts = BackupFactsFromView(*view, {});
    REQUIRE(facts.ok());
    REQUIRE(WriteBackupFile(backup, *facts, RevisionSourceFromView(*view)).ok());
  }
};

RestoreTarget ThreeMembers(const std::string& data_dir, const std::string& self) {
  RestoreTarget t;
  t.data_dir = data_dir;
  for (int i = 1; i <= 3; ++i) {
    t.members.push_back(FoundingMember("m" + std::to_string(i),
                                       {"http://127.0.0.1:" + std::to_string(2380 + i)}, "tok"));
  }
  t.identity = FoundingIdentity(t.members, self);
  return t;
}

std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("a restored data dir holds the backup's history, leases, auth, alarms, membership and a WAL") {
  Source src;
  TempDir out;
  const std::string target = out.Sub("m2.etcd");
  auto reader = BackupReader::Open(src.backup);
  REQUIRE(reader.ok());
  int64_t last_progress = 0;
  auto summary = RestoreDataDir(**reader, ThreeMembers(target, "m2"),
                                [&](int64_t revisions, uint64_t) { last_progress = revisions; });
  REQUIRE(summary.ok());
  CHECK(Listing(out.path().string()) == std::vector<std::string>{"m2.etcd"});
  CHECK(summary->revision == src.store->Rev());
  CHECK(summary->compact_rev == 60);
  CHECK(summary->leases == 2);
  CHECK(last_progress == summary->revisions);

  auto dir = MemberDir::Open(target);
  REQUIRE(dir.ok());
  CHECK((*dir)->HasWal());
  {
    auto restored = MvccStore::Open((*dir)->db());
    REQUIRE(restored.ok());
    MvccStore& r = **restored;
    CHECK(r.Rev() == src.store->Rev());
    CHECK(r.CompactRev() == 60);
    CHECK(r.AppliedIndex() == 0);
    CHECK(KeptOf(*r.Read()) == KeptOf(*src.store->Read()));
    for (int64_t rev : {59, 60, 61, 90, 121, 0}) {
      INFO("revision " << rev);
      CHECK(RangeAt(r, rev) == RangeAt(*src.store, rev));
    }
    CHECK(r.LeaseKeys(7) == src.store->LeaseKeys(7));
    CHECK(!r.LeaseKeys(7).empty());
    CHECK(r.ListMeta(kLeaseMetaPrefix) == src.store->ListMeta(kLeaseMetaPrefix));
    // Auth and alarms as they were, as etcd's restore keeps its buckets.
    for (const char* prefix : {"auth_", kAlarmMetaPrefix}) {
      INFO(prefix);
      CHECK(r.ListMeta(prefix) == src.store->ListMeta(prefix));
    }
    CHECK(r.ListMeta("auth_").size() == 4);
    CHECK(summary->users == 1);
    CHECK(summary->roles == 1);
    CHECK(summary->alarms == 1);
    auto members = r.ListMeta(kRaftMemberMetaPrefix);
    REQUIRE(members.size() == 3);
    auto id = LoadIdentity(r);
    REQUIRE(id.ok());
    REQUIRE(id->has_value());
    const RestoreTarget want = ThreeMembers(target, "m2");
    CHECK((*id)->member_id == want.identity.member_id);
    CHECK((*id)->cluster_id == want.identity.cluster_id);
    // The next write takes the next revision.
    Apply(&r, 1, {"new"});
    CHECK(r.Rev() == src.store->Rev() + 1);
  }
  auto wal = Wal::Open((*dir)->wal(), WalOptions{});
  REQUIRE(wal.ok());
  CHECK(wal->state.metadata.member_id == ThreeMembers(target, "m2").identity.member_id);
  CHECK(wal->state.entries.size() == 3);
  CHECK(wal->state.hard_state.commit() == 3);
}

TEST_CASE("restore refuses a non-empty target and leaves it as it was") {
  Source src;
  TempDir out;
  const std::string target = out.Sub("t");
  fs::create_directories(target + "/x");
  auto reader = BackupReader::Open(src.backup);
  REQUIRE(reader.ok());
  auto r = RestoreDataDir(**reader, ThreeMembers(target, "m1"));
  REQUIRE(absl::IsAlreadyExists(r.status()));
  CHECK(r.status().message() == "data-dir \"" + target + "\" exists");
  CHECK(Listing(out.path().string()) == std::vector<std::string>{"t"});
  CHECK(Listing(target) == std::vector<std::string>{"x"});
}

TEST_CASE("restore takes an empty target and replaces a stale temporary dir, not a locked one") {
  Source src;
  TempDir out;
  const std::string target = out.Sub("t");
  fs::create_directories(target);
  fs::create_directories(RestoreTempDir(target) + "/member/db/junk");
  auto reader = BackupReader::Open(src.backup);
  REQUIRE(reader.ok());
  REQUIRE(RestoreDataDir(**reader, ThreeMembers(target, "m1")).ok());
  CHECK(Listing(out.path().string()) == std::vector<std::string>{"t"});

  const std::string busy = out.Sub("busy");
  auto running = MemberDir::Create(RestoreTempDir(busy));  // a restore in progress
  REQUIRE(running.ok());
  auto r = RestoreDataDir(**reader, ThreeMembers(busy, "m1"));
  CHECK(base::KindOf(r.status()) == base::ErrorKind::kDataDirLocked);
  CHECK(!fs::exists(busy));
}

TEST_CASE("LoadHistory refuses a store with data, revisions out of order and a put that contradicts its revision") {
  TempDir dir;
  auto s = MvccStore::Open(dir.Sub("db"));
  REQUIRE(s.ok());
  mvccpb::KeyValue kv;
  kv.set_key("a");
  kv.set_mod_revision(5);
  auto feed = [&](std::vector<Revision> revs) {
    return [&kv, revs](const ReadView::KeptRevisionVisitor& visit) -> absl::Status {
      for (Revision r : revs) {
        kv.set_mod_revision(r.main);
        if (auto st = visit(r, false, kv); !st.ok()) return st;
      }
      return absl::OkStatus();
    };
  };
  CHECK(absl::IsDataLoss((*s)->LoadHistory(feed({{5, 0}, {5, 0}}), {})));
  TempDir dir2;
  auto s2 = MvccStore::Open(dir2.Sub("db"));
  REQUIRE(s2.ok());
  auto contradicting = [&](const ReadView::KeptRevisionVisitor& visit) {
    kv.set_mod_revision(4);
    return visit({5, 0}, false, kv);
  };
  CHECK(absl::IsDataLoss((*s2)->LoadHistory(contradicting, {})));
  TempDir dir3;
  auto s3 = MvccStore::Open(dir3.Sub("db"));
  REQUIRE(s3.ok());
  Apply(s3->get(), 1, {"x"});
  CHECK(absl::IsFailedPrecondition((*s3)->LoadHistory(feed({{5, 0}}), {})));
}
