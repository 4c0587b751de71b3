// Raft snapshots of the state machine on disk: the directories a member
// uses to send, receive and install a whole store (a RocksDB checkpoint),
// and the crash-safe swap of the live store for a received one.
//
// Layout under <data-dir>/member:
//   db/                   the live store
//   snap.recv.tmp/        a snapshot being received; removed at start
//   snap.ready.<index>/   received whole and durable (files and directory
//                         synced); raft may still refuse it; removed at start
//   snap.install/         raft accepted it: it replaces db/. Renaming a ready
//                         directory to this name is the commit point: from
//                         then on the swap is finished at start after a crash
//   db.old/               the replaced store; removed once the swap is durable
//   snap.send.<peer>.<index>/  a checkpoint being streamed to a peer
//
// Crash safety of the swap (SwapInStore): db -> db.old, snap.install -> db,
// sync the member directory, remove db.old. Every crash point leaves either
// snap.install (swap not finished: RecoverSnapshotDirs finishes it) or db
// (swap finished), never neither.
// Thread-safety: free functions, no shared state; callers serialize the
// operations on one member directory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace base {
class Logger;
}  // namespace base

namespace storage {

class SnapshotDirs {
 public:
  explicit SnapshotDirs(std::string member_dir) : member_dir_(std::move(member_dir)) {}
  const std::string& member_dir() const { return member_dir_; }
  std::string db() const { return member_dir_ + "/db"; }
  std::string receiving() const { return member_dir_ + "/snap.recv.tmp"; }
  std::string ready(uint64_t index) const;
  std::string install() const { return member_dir_ + "/snap.install"; }
  std::string sending(uint64_t peer, uint64_t index) const;

 private:
  std::string member_dir_;
};

// At start, before the store is opened: finishes an interrupted swap and
// removes leftovers (partial receives, unclaimed ready snapshots, send
// checkpoints). Finishing a swap is logged to `logger` (if not null).
[[nodiscard]] absl::Status RecoverSnapshotDirs(const SnapshotDirs& dirs,
                                               base::Logger* logger = nullptr);

// A whole received snapshot becomes snap.ready.<index> (the files were
// synced by SnapshotFileSink::Finish).
[[nodiscard]] absl::Status MarkReceived(const SnapshotDirs& dirs, uint64_t index);

// Raft accepted snapshot <index>: snap.ready.<index> -> snap.install (the
// commit point), older ready snapshots removed. NotFound if it is not here.
[[nodiscard]] absl::Status ClaimReady(const SnapshotDirs& dirs, uint64_t index);

// db_dir -> db_dir.old, install_dir -> db_dir, durable, then db_dir.old removed.
[[nodiscard]] absl::Status SwapInStore(const std::string& db_dir, const std::string& install_dir);

// Removes a directory tree; a missing one is fine.
[[nodiscard]] absl::Status RemoveTree(const std::string& dir);

// ---- moving a checkpoint's files between members

struct SnapshotFile {
  std::string name;  // relative to the checkpoint directory, no '/'
  uint64_t size = 0;
};

// The regular files of a checkpoint directory, sorted by name.
[[nodiscard]] absl::StatusOr<std::vector<SnapshotFile>> ListSnapshotFiles(const std::string& dir);

// Up to `max` bytes of dir/name from `offset` (fewer only at the end).
[[nodiscard]] absl::StatusOr<std::string> ReadSnapshotChunk(const std::string& dir,
                                                            const std::string& name,
                                                            uint64_t offset, size_t max);

// Writes received files into a fresh directory. Names must be plain file
// names; chunks of a file arrive in order. Finish() checks that every
// announced file arrived whole, syncs the files and the directory.
class SnapshotFileSink {
 public:
  // Removes whatever is at `dir`, then creates it.
  [[nodiscard]] static absl::StatusOr<SnapshotFileSink> Create(std::string dir,
                                                               std::vector<SnapshotFile> manifest);
  SnapshotFileSink(SnapshotFileSink&&) noexcept;
  SnapshotFileSink& operator=(SnapshotFileSink&&) noexcept;
  ~SnapshotFileSink();

  [[nodiscard]] absl::Status Write(std::string_view name, uint64_t offset, std::string_view data);
  [[nodiscard]] absl::Status Finish();

 private:
  SnapshotFileSink(std::string dir, std::vector<SnapshotFile> manifest);
  void CloseCurrent();

  std::string dir_;
  std::vector<SnapshotFile> manifest_;
  std::vector<uint64_t> received_;  // bytes so far, per manifest entry
  int fd_ = -1;                     // the file being written
  size_t current_ = 0;              // its manifest index
};

}  // namespace storage
