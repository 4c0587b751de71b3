// SnapshotSender: streams raft snapshots to followers on their own stream
// (Peer.Snapshot) and connection (PeerDirectory::SnapshotChannel), one
// thread per transfer: the checkpoint's files in chunks of `chunk_bytes`,
// so memory stays bounded whatever the store's size. The receiving side is
// PeerService + SnapshotInbox.
//
// Ownership: owned by PeerTransport; borrows the directory and the logger,
// which must outlive it. Thread-safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "base/logger.h"
#include "grpcpp/client_context.h"
#include "peerpb/peer.grpc.pb.h"
#include "raftpb/raft.pb.h"
#include "server/peer/peer_directory.h"
#include "storage/snapshot_install.h"

namespace server {

class SnapshotSender {
 public:
  struct Options {
    uint64_t cluster_id = 0;
    uint64_t self_id = 0;
    size_t chunk_bytes = 1 << 20;
  };
  using Done = std::function<void(bool ok)>;

  SnapshotSender(Options opts, PeerDirectory* directory, base::Logger* logger)
      : opts_(opts), directory_(directory), logger_(logger) {}
  ~SnapshotSender() { Stop(); }

  // Streams the checkpoint in `dir` with `msg` (a MSG_SNAP whose metadata
  // describes it) to msg.to(), then removes `dir` and calls `done` (on the
  // transfer's thread, or at once after Stop) with whether the peer
  // accepted it.
  void Send(raftpb::Message msg, std::string dir, Done done);
  // Cancels the transfers in flight and joins their threads.
  void Stop();

 private:
  struct Transfer {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void Run(raftpb::Message msg, const std::string& dir, const Done& done);
  // Writes the manifest, every chunk and the end marker; the peer's
  // refusal (or the broken stream) as an error.
  absl::Status Stream(raftpb::Message msg, const std::string& dir);
  absl::Status WriteChunks(grpc::ClientWriter<peerpb::SnapshotChunk>* writer, raftpb::Message msg,
                           const std::string& dir, const std::vector<storage::SnapshotFile>& files);

  const Options opts_;
  PeerDirectory* const directory_;
  base::Logger* const logger_;
  std::mutex mu_;
  std::vector<Transfer> transfers_;          // guarded by mu_
  std::vector<grpc::ClientContext*> calls_;  // guarded by mu_
  bool stopped_ = false;                     // guarded by mu_
};

}  // namespace server
