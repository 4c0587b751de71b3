// `snapshot restore FILE`: a new ketcd member's data dir from an etcd backup
// (one ketcd or etcd 3.4/3.5 made), with etcdctl 3.4's flags, defaults,
// checks and messages (etcdctl/ctlv3/command/snapshot_command.go,
// clientv3/snapshot/v3_snapshot.go Restore).
//
// Contract
// - PlanRestore checks the flags as etcd does, in etcd's order, with its
//   error texts: --initial-advertise-peer-urls and then every
//   --initial-cluster URL must be http(s)/unix(s)://host:port with no path;
//   --name must be in --initial-cluster with exactly the advertised peer
//   URLs (etcd also accepts URLs whose hosts resolve alike; ketcdctl
//   compares the text); no URL twice. The member ids and the cluster id are
//   derived from the URLs and --initial-cluster-token as etcd derives them
//   (storage/identity.h), so the ids equal those etcd's restore gives.
//   --data-dir defaults to "<name>.etcd", as etcdctl's. --wal-dir is
//   refused: ketcd keeps its WAL in the data dir.
// - RestoreSnapshot then refuses an existing target that is not an empty
//   directory (`data-dir "<dir>" exists`), opens and checks the backup
//   (its SHA-256 trailer unless skip_hash_check), and builds the data dir
//   with storage::RestoreDataDir (temporary dir, renamed when complete and
//   durable; nothing left behind on error, unlike etcdctl). It logs what
//   etcdctl logs (zap JSON lines on stderr: "restoring snapshot",
//   "added member" per member, "restored snapshot" with what it restored;
//   stdout stays empty), and on a terminal a progress line. The backup's
//   auth users, roles, enabled flag and revision and its alarms are
//   restored as etcd restores them.
// Errors: the text etcdctl prints after "Error: "; every one exits 1.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/logger.h"
#include "storage/backup_restore.h"

namespace tools {

struct RestoreOptions {
  std::string data_dir;  // "": "<name>.etcd"
  std::string wal_dir;   // must stay ""
  std::string name = "default";
  std::string initial_cluster = "default=http://localhost:2380";
  std::string initial_cluster_token = "etcd-cluster";
  std::string initial_advertise_peer_urls = "http://localhost:2380";
  bool skip_hash_check = false;
};

// The data dir, identity and founding members the flags ask for.
[[nodiscard]] absl::StatusOr<storage::RestoreTarget> PlanRestore(const RestoreOptions& options);

[[nodiscard]] absl::Status RestoreSnapshot(const std::string& file, const RestoreOptions& options,
                                           base::Logger& logger);

}  // namespace tools
