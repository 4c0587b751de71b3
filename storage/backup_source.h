// backup_source: an etcd backup (etcd_backup.h) of one ReadView, as the
// Maintenance.Snapshot RPC streams it.
//
// Contract
// - BackupFactsFromView: the facts of the view's moment: its applied index
//   as the consistent index, its compaction revision, the leases
//   (lease/<id>), the members (raft_member/<id> for peer URLs, member/<id>
//   for the published name and client URLs), the given cluster version,
//   the auth records (auth_records.h: users with their bcrypt hashes,
//   roles, the enabled flag, the auth revision) and the active alarms, all
//   read from the view, so they are of the same moment as the keys.
// - RevisionSourceFromView: the view's stored revisions that etcd's
//   compaction keeps (ReadView::ForEachKeptRevision), in order. The view
//   must outlive the source.
// - StreamBackup: the bbolt file, then its SHA-256, in the messages etcd
//   3.4's Maintenance.Snapshot sends (etcdserver/api/v3rpc/maintenance.go):
//   chunks of `chunk_size` bytes (the last may be shorter), each with the
//   file bytes still to come after it as remaining_bytes; then the 32-byte
//   SHA-256 of every byte sent, with remaining_bytes 0. The encoder runs
//   twice on the view (a dry run sizes the file and makes the meta pages,
//   which go first), so memory stays at one chunk and a few pages. Stops at
//   `emit`'s first error and returns it.
// Thread-safety: none; the view's own rules apply.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/etcd_backup.h"
#include "storage/mvcc_store.h"

namespace storage {

struct BackupSourceOptions {
  std::string cluster_version;  // "": not written
};

[[nodiscard]] absl::StatusOr<BackupFacts> BackupFactsFromView(const ReadView& view,
                                                              const BackupSourceOptions& options);
RevisionSource RevisionSourceFromView(const ReadView& view);

// etcd's snapshotSendBufferSize.
inline constexpr size_t kBackupChunkSize = 32 * 1024;
using BackupChunkFn = std::function<absl::Status(std::string_view blob, uint64_t remaining_bytes)>;
[[nodiscard]] absl::Status StreamBackup(const ReadView& view, const BackupSourceOptions& options,
                                        const BackupChunkFn& emit,
                                        size_t chunk_size = kBackupChunkSize);

}  // namespace storage
