// SnapshotStream: one Maintenance.Snapshot call (`etcdctl snapshot save`).
// A producer thread encodes an etcd backup of a RocksDB snapshot (a
// ReadView taken when the call starts) with storage::StreamBackup and
// hands its 32 KiB messages to the gRPC writer through a queue of at most
// kMaxQueued, waiting while it is full, so memory stays at a few chunks
// whatever the store's size and the apply loop never waits for the client.
// A cancelled or failed call stops the producer, which releases the view.
// Ownership: deletes itself when gRPC is done with it (OnDone); borrows the
// store, which must outlive the call.
// Thread-safety: the producer thread and gRPC's callbacks share the queue
// under mu_.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include <functional>

#include "absl/status/status.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "storage/mvcc_store.h"

namespace server {

class SnapshotStream final : public grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse> {
 public:
  static constexpr size_t kMaxQueued = 4;
  // `on_done` (may be null) runs once gRPC is done with the call, whatever
  // its outcome (etcd times a backend snapshot until it is closed).
  SnapshotStream(const storage::MvccStore* store, std::string cluster_version,
                 std::function<void()> on_done = nullptr);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  void Produce(const storage::MvccStore* store, const std::string& cluster_version);
  // Waits for room, then queues one message; Cancelled once the call ended.
  absl::Status Push(std::string_view blob, uint64_t remaining_bytes);
  void StartWriteLocked();  // REQUIRES: mu_ held, queue_ not empty, no write in flight
  void MaybeFinishLocked();

  std::mutex mu_;
  std::condition_variable room_;
  std::deque<etcdserverpb::SnapshotResponse> queue_;  // guarded by mu_; front() is in flight
  bool writing_ = false;                                // guarded by mu_
  bool stopped_ = false;        // guarded by mu_: cancelled or a write failed
  bool produced_ = false;       // guarded by mu_
  bool finished_ = false;       // guarded by mu_
  absl::Status result_;         // guarded by mu_: the producer's
  std::thread producer_;
  std::function<void()> on_done_;
};

}  // namespace server
