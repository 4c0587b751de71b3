#include "server/edge/snapshot_stream.h"

#include "server/edge/grpc_errors.h"
#include "storage/backup_source.h"

namespace server {

SnapshotStream::SnapshotStream(const storage::MvccStore* store, std::string cluster_version,
                               std::function<void()> on_done)
    : on_done_(std::move(on_done)) {
  producer_ = std::thread([this, store, version = std::move(cluster_version)] {
    Produce(store, version);
  });
}

void SnapshotStream::Produce(const storage::MvccStore* store, const std::string& cluster_version) {
  absl::Status s;
  {
    // The view (a RocksDB snapshot) lives until the stream is encoded or
    // the call ends, whichever is first.
    std::unique_ptr<storage::ReadView> view = store->Read();
    storage::BackupSourceOptions options;
    options.cluster_version = cluster_version;
    s = storage::StreamBackup(*view, options, [this](std::string_view blob, uint64_t remaining) {
      return Push(blob, remaining);
    });
  }
  std::lock_guard lock(mu_);
  produced_ = true;
  result_ = s;
  MaybeFinishLocked();
}

absl::Status SnapshotStream::Push(std::string_view blob, uint64_t remaining_bytes) {
  etcdserverpb::SnapshotResponse resp;
  resp.set_blob(std::string(blob));
  resp.set_remaining_bytes(remaining_bytes);
  std::unique_lock lock(mu_);
  room_.wait(lock, [this] { return stopped_ || queue_.size() < kMaxQueued; });
  if (stopped_) return absl::CancelledError("snapshot: the call ended");
  queue_.push_back(std::move(resp));
  if (!writing_) StartWriteLocked();
  return absl::OkStatus();
}

void SnapshotStream::StartWriteLocked() {
  writing_ = true;
  StartWrite(&queue_.front());
}

void SnapshotStream::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  writing_ = false;
  queue_.pop_front();
  if (!ok) stopped_ = true;
  room_.notify_all();
  if (!stopped_ && !queue_.empty()) {
    StartWriteLocked();
    return;
  }
  MaybeFinishLocked();
}

void SnapshotStream::OnCancel() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  room_.notify_all();
  MaybeFinishLocked();
}

void SnapshotStream::MaybeFinishLocked() {
  if (finished_ || writing_ || !produced_) return;
  if (!stopped_ && !queue_.empty()) return;
  finished_ = true;
  if (stopped_) {
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "context canceled"));
  } else {
    Finish(ToGrpcStatus(result_));
  }
}

void SnapshotStream::OnDone() {
  // Finish ran after the producer set produced_, so it is about to return.
  producer_.join();
  if (on_done_) on_done_();
  delete this;
}

}  // namespace server
