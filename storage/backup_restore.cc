#include "storage/backup_restore.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "storage/auth_records.h"
#include "storage/member_dir.h"
#include "storage/meta_schema.h"
#include "storage/mvcc_store.h"
#include "storage/snapshot_install.h"
#include "storage/wal_bootstrap.h"
#include "storage/wal_file.h"

namespace storage {
namespace fs = std::filesystem;
namespace {

std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string ParentDir(const std::string& path) {
  std::string parent = fs::path(WithoutTrailingSlashes(path)).parent_path().string();
  return parent.empty() ? "." : parent;
}

// A temporary dir left by an earlier restore: removed if no process holds
// its lock (the restore that made it crashed), refused otherwise.
absl::Status ClearStaleTempDir(const std::string& tmp, const std::string& data_dir) {
  std::error_code ec;
  if (!fs::exists(tmp, ec)) return absl::OkStatus();
  {
    auto held = MemberDir::Open(tmp);
    if (base::KindOf(held.status()) == base::ErrorKind::kDataDirLocked) {
      return base::MakeError(base::ErrorKind::kDataDirLocked, absl::StatusCode::kFailedPrecondition,
                             absl::StrCat("another restore into ", data_dir, " is running (", tmp,
                                          " is locked)"));
    }
  }  // the lock, if taken, is dropped before the tree goes
  return RemoveTree(tmp);
}

// The store of the restored member: the backup's history, leases, the new
// membership and identity.
absl::Status BuildStore(const BackupReader& backup, const RestoreTarget& target,
                        const std::string& db_dir, const RestoreProgress& progress,
                        RestoreSummary* summary) {
  auto store = MvccStore::Open(db_dir);
  if (!store.ok()) return store.status();
  const BackupFacts& facts = backup.facts();
  std::set<int64_t> leases;
  for (const BackupLease& l : facts.leases) leases.insert(l.id);
  MvccStore::HistoryBounds bounds;
  // A compaction etcd scheduled but had not finished is finished by the
  // store's compactor, as etcd finishes it when it opens the backend.
  bounds.compact_rev = std::max(facts.compact_rev, facts.scheduled_compact_rev);
  bounds.compacted_through = facts.compact_rev;
  bounds.lease_exists = [&leases](int64_t id) { return leases.count(id) > 0; };
  auto feed = [&backup](const ReadView::KeptRevisionVisitor& visit) {
    return backup.ForEachRevision(
        [&visit](const BackupRevision& r) { return visit(r.rev, r.tombstone, r.kv); });
  };
  if (auto s = (*store)->LoadHistory(feed, bounds, progress); !s.ok()) return s;

  std::unique_ptr<WriteBatch> batch = (*store)->Write();
  for (const BackupLease& l : facts.leases) {
    serverpb::LeaseRecord rec;
    rec.set_id(l.id);
    rec.set_ttl(l.ttl);
    rec.set_remaining_ttl(l.remaining_ttl);
    if (auto s = batch->PutMeta(LeaseMetaKey(l.id), rec.SerializeAsString()); !s.ok()) return s;
  }
  // The auth records and the alarms as they are: etcd's restore copies the
  // backend whole, its auth and alarm buckets included (an alarm names a
  // member of the old cluster and stays until disarmed).
  if (auto s = PutAuthRecords(*batch, facts.auth); !s.ok()) return s;
  for (const etcdserverpb::AlarmMember& a : facts.alarms) {
    if (auto s = batch->PutMeta(AlarmMetaKey(a.memberid(), a.alarm()), ""); !s.ok()) return s;
  }
  for (const serverpb::MemberAttributes& m : target.members) {
    if (auto s = batch->PutMeta(RaftMemberMetaKey(m.member_id()), m.SerializeAsString()); !s.ok()) {
      return s;
    }
  }
  if (auto s = batch->Commit(/*applied_index=*/0, /*sync=*/true); !s.ok()) return s;
  batch.reset();
  if (auto s = SaveIdentity(**store, target.identity); !s.ok()) return s;
  summary->revision = (*store)->Rev();
  summary->compact_rev = std::max<int64_t>((*store)->CompactRev(), 0);
  summary->leases = facts.leases.size();
  summary->users = facts.auth.users.size();
  summary->roles = facts.auth.roles.size();
  summary->alarms = facts.alarms.size();
  return absl::OkStatus();
}

absl::StatusOr<RestoreSummary> Build(const BackupReader& backup, const RestoreTarget& target,
                                     const std::string& tmp, const RestoreProgress& progress) {
  RestoreSummary summary;
  auto dir = MemberDir::Create(tmp);
  if (!dir.ok()) return dir.status();
  const MemberDir& md = **dir;
  auto counting = [&](int64_t revisions, uint64_t bytes) {
    summary.revisions = revisions;
    if (progress) progress(revisions, bytes);
  };
  if (auto s = BuildStore(backup, target, md.db(), counting, &summary); !s.ok()) return s;
  auto wal = CreateBootstrappedWal(md.wal(), {target.identity.cluster_id, target.identity.member_id},
                                   target.members, WalOptions{});
  if (!wal.ok()) return wal.status();
  wal->wal.reset();
  // RocksDB and the WAL synced their own files and directories; the
  // directories above them are new too.
  for (const std::string& d : {md.path(), tmp}) {
    if (auto s = wal_file::SyncDirPath(d); !s.ok()) return s;
  }
  return summary;
}

}  // namespace

std::string RestoreTempDir(const std::string& data_dir) {
  return WithoutTrailingSlashes(data_dir) + ".restore.tmp";
}

absl::Status CheckRestoreTarget(const std::string& data_dir) {
  std::error_code ec;
  fs::file_status st = fs::symlink_status(data_dir, ec);
  if (!fs::exists(st)) return absl::OkStatus();
  if (fs::is_directory(st) && fs::is_empty(data_dir, ec) && !ec) return absl::OkStatus();
  return absl::AlreadyExistsError(absl::StrCat("data-dir \"", data_dir, "\" exists"));
}

absl::StatusOr<RestoreSummary> RestoreDataDir(const BackupReader& backup, const RestoreTarget& target,
                                              const RestoreProgress& progress) {
  if (auto s = CheckRestoreTarget(target.data_dir); !s.ok()) return s;
  const std::string tmp = RestoreTempDir(target.data_dir);
  if (auto s = ClearStaleTempDir(tmp, target.data_dir); !s.ok()) return s;
  auto built = Build(backup, target, tmp, progress);
  if (!built.ok()) {
    (void)RemoveTree(tmp);  // the error that stopped the build is the one to report
    return built.status();
  }
  std::error_code ec;
  fs::rename(tmp, WithoutTrailingSlashes(target.data_dir), ec);
  if (ec) {
    (void)RemoveTree(tmp);
    return absl::InternalError(
        absl::StrCat("rename ", tmp, " to ", target.data_dir, ": ", ec.message()));
  }
  if (auto s = wal_file::SyncDirPath(ParentDir(target.data_dir)); !s.ok()) return s;
  return built;
}

}  // namespace storage
