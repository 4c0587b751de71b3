// SnapshotInbox: the receiving end of a raft snapshot. The peer service
// feeds it one snapshot stream at a time (manifest, then file chunks); when
// the stream ends whole it checks the received store opens, stamps it with
// this member's identity and the raft snapshot metadata (meta keys
// member_id and raft_snapshot, storage/meta_schema.h), and makes it
// durable as snap.ready.<index> (storage/snapshot_install.h). Only then is
// the MSG_SNAP handed to raft, which may still refuse it as stale.
// Ownership: borrows the logger, which must outlive the inbox.
// Thread-safety: all methods are thread-safe; a second stream while one is
// in progress is refused (the leader retries after a failure report).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/logger.h"
#include "raftpb/raft.pb.h"
#include "storage/snapshot_install.h"

namespace server {

class SnapshotInbox {
 public:
  SnapshotInbox(storage::SnapshotDirs dirs, uint64_t member_id, base::Logger* logger)
      : dirs_(std::move(dirs)), member_id_(member_id), logger_(logger) {}

  [[nodiscard]] absl::Status Begin(raftpb::Message msg, std::vector<storage::SnapshotFile> manifest);
  [[nodiscard]] absl::Status Write(const std::string& file, uint64_t offset, const std::string& data,
                                   uint32_t crc32c);
  // The MSG_SNAP to deliver to raft, once the snapshot is ready on disk.
  [[nodiscard]] absl::StatusOr<raftpb::Message> Finish();
  // Drops a stream that broke off.
  void Abort();

 private:
  const storage::SnapshotDirs dirs_;
  const uint64_t member_id_;
  base::Logger* const logger_;
  std::mutex mu_;
  std::optional<raftpb::Message> msg_;            // guarded by mu_; set while receiving
  std::optional<storage::SnapshotFileSink> sink_;  // guarded by mu_
};

}  // namespace server
