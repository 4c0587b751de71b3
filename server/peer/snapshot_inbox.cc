#include "server/peer/snapshot_inbox.h"

#include "absl/strings/str_cat.h"
#include "storage/crc32c.h"
#include "storage/mvcc_store.h"

namespace server {

absl::Status SnapshotInbox::Begin(raftpb::Message msg, std::vector<storage::SnapshotFile> manifest) {
  std::lock_guard<std::mutex> lock(mu_);
  if (msg_) return absl::UnavailableError("another snapshot is being received");
  if (msg.type() != raftpb::MSG_SNAP || msg.snapshot().metadata().index() == 0) {
    return absl::InvalidArgumentError("a snapshot stream must start with a MSG_SNAP message");
  }
  auto sink = storage::SnapshotFileSink::Create(dirs_.receiving(), std::move(manifest));
  if (!sink.ok()) return sink.status();
  sink_.emplace(std::move(*sink));
  msg_ = std::move(msg);
  return absl::OkStatus();
}

absl::Status SnapshotInbox::Write(const std::string& file, uint64_t offset, const std::string& data,
                                  uint32_t crc32c) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!msg_) return absl::FailedPreconditionError("no snapshot is being received");
  if (storage::Crc32c(data) != crc32c) {
    return absl::DataLossError(absl::StrCat("snapshot file ", file, ": chunk at ", offset,
                                            " fails its CRC"));
  }
  return sink_->Write(file, offset, data);
}

absl::StatusOr<raftpb::Message> SnapshotInbox::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!msg_) return absl::FailedPreconditionError("no snapshot is being received");
  raftpb::Message msg = std::move(*msg_);
  msg_.reset();
  absl::Status s = sink_->Finish();
  sink_.reset();
  const raftpb::SnapshotMetadata& meta = msg.snapshot().metadata();
  if (s.ok()) {
    // Open what arrived: a store that does not open is refused here, not
    // after raft has thrown its log away for it.
    auto store = storage::MvccStore::Open(dirs_.receiving());
    if (!store.ok()) {
      s = absl::DataLossError(absl::StrCat("the received snapshot does not open: ",
                                           store.status().message()));
    } else if ((*store)->AppliedIndex() != meta.index()) {
      s = absl::DataLossError(absl::StrCat("the received snapshot is at applied index ",
                                           (*store)->AppliedIndex(), ", its message says ",
                                           meta.index()));
    } else {
      s = (*store)->PutMeta(storage::kMetaMemberId, storage::EncodeMetaId(member_id_));
      if (s.ok()) s = (*store)->PutMeta(storage::kMetaRaftSnapshot, meta.SerializeAsString());
    }
  }
  if (s.ok()) s = storage::MarkReceived(dirs_, meta.index());
  if (!s.ok()) {
    (void)storage::RemoveTree(dirs_.receiving());
    return s;
  }
  logger_->Info(absl::StrCat("received a snapshot at index ", meta.index(), " from member ",
                             absl::Hex(msg.from())));
  return msg;
}

void SnapshotInbox::Abort() {
  std::lock_guard<std::mutex> lock(mu_);
  msg_.reset();
  sink_.reset();
  (void)storage::RemoveTree(dirs_.receiving());
}

}  // namespace server
