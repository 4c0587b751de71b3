// RestoreDataDir: a new member's data dir built from an etcd backup (one
// ketcd or etcd 3.4/3.5 made), what `ketcdctl snapshot restore` writes.
//
// Contract
// - The data dir holds what a started member expects (member_dir.h): the
//   store with every key revision of the backup (create/mod revisions,
//   versions, leases, tombstones), its compaction (a compacted revision
//   stays compacted) and its revision; the backup's leases with their TTL
//   and checkpointed remaining TTL (the lessor starts their timers when
//   a leader takes them, as etcd's); the new membership (raft_member/<id>
//   per founding member) and identity (cluster_id, member_id); the backup's
//   auth state (users with their bcrypt hashes, roles, the enabled flag and
//   the auth revision, auth_records.h) and its alarms, kept as they are, as
//   etcd's restore keeps its auth and alarm buckets; and the raft WAL
//   bootstrapped with that membership (wal_bootstrap.h). The store's
//   applied index is 0: the member applies the bootstrap conf changes at its
//   first start, as a new member does. The backup's members, consistent
//   index and cluster version are not carried over (etcd's restore drops
//   the members too, and the cluster version is decided again).
// - All of it is built in a temporary dir beside the target
//   (`<data-dir>.restore.tmp`), made durable, and renamed into place last,
//   so the target is either absent (or empty) or complete. On any error the
//   temporary dir is removed and the target untouched. A temporary dir left
//   by a crashed restore is removed first; one whose lock a running restore
//   holds is refused (kDataDirLocked).
// - The target must not exist, or be an empty directory (the rename
//   replaces it): AlreadyExists `data-dir "<dir>" exists` otherwise, as
//   etcdctl says (etcdctl refuses an empty one too).
// Thread-safety: none; one call per target at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "serverpb/internal.pb.h"
#include "storage/etcd_backup.h"
#include "storage/identity.h"

namespace storage {

struct RestoreTarget {
  std::string data_dir;
  MemberIdentity identity;  // this member's id, the new cluster's id
  // The founding members (storage::FoundingMember), this one included.
  std::vector<serverpb::MemberAttributes> members;
};

struct RestoreSummary {
  int64_t revision = 0;      // the store's revision after the restore
  int64_t compact_rev = 0;   // 0: never compacted
  int64_t revisions = 0;     // key revisions written
  size_t leases = 0;
  size_t users = 0, roles = 0, alarms = 0;
};

// Called every few thousand revisions: revisions and key-value bytes so far.
using RestoreProgress = std::function<void(int64_t revisions, uint64_t bytes)>;

// The temporary dir RestoreDataDir builds in.
std::string RestoreTempDir(const std::string& data_dir);

// AlreadyExists as etcdctl words it when `data_dir` exists and is not an
// empty directory; OK otherwise.
[[nodiscard]] absl::Status CheckRestoreTarget(const std::string& data_dir);

[[nodiscard]] absl::StatusOr<RestoreSummary> RestoreDataDir(const BackupReader& backup,
                                                            const RestoreTarget& target,
                                                            const RestoreProgress& progress = nullptr);

}  // namespace storage
