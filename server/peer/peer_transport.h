// PeerTransport: carries raft messages between members over ketcd's Peer
// gRPC service (proto/peerpb/peer.proto).
//
// Sending never blocks the caller: each peer has a bounded queue drained by
// its own thread over one long-lived client stream, reopened with backoff
// after a failure. When a queue is full, or a stream breaks, the messages
// are dropped and the peer is reported unreachable (raft retries; a slow or
// dead peer never holds the leader back). Receiving hands every message of
// this cluster to `deliver`, on a gRPC thread.
//
// Snapshots travel on their own stream (Peer.Snapshot), one thread per
// transfer: the checkpoint's files in chunks of kSnapshotChunkBytes, so
// memory stays bounded whatever the store's size; the receiving side hands
// them to a SnapshotInbox and delivers the MSG_SNAP only once the whole
// snapshot is durable.
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "peerpb/peer.grpc.pb.h"
#include "raftpb/raft.pb.h"
#include "server/state/lessor.h"
#include "server/peer/snapshot_inbox.h"

namespace server {

class PeerTransport {
 public:
  struct Options {
    uint64_t cluster_id = 0;
    uint64_t self_id = 0;
    size_t max_queued_messages = 4096;
    // Where received snapshots go; none = snapshots are refused.
    SnapshotInbox* snapshot_inbox = nullptr;
    // Answers lease calls forwarded by followers; none = refused.
    Lessor* lessor = nullptr;
  };
  static constexpr size_t kSnapshotChunkBytes = 1 << 20;
  using SnapshotDone = std::function<void(bool ok)>;
  // Gets each received batch whole: one wake-up of the raft loop per batch.
  using Deliver = std::function<void(std::vector<raftpb::Message>)>;
  using Unreachable = std::function<void(uint64_t peer_id)>;

  PeerTransport(Options opts, Deliver deliver, Unreachable unreachable);
  ~PeerTransport();

  // `url` like "http://127.0.0.1:2380". Replaces a known peer's address.
  void AddPeer(uint64_t id, const std::string& url);
  void RemovePeer(uint64_t id);
  void Send(std::vector<raftpb::Message> msgs);
  // Streams the checkpoint in `dir` with `msg` (a MSG_SNAP whose metadata
  // describes it) to msg.to(), then removes `dir` and calls `done` (on the
  // transfer's thread) with whether the peer accepted it.
  void SendSnapshot(raftpb::Message msg, std::string dir, SnapshotDone done);
  // The receiving side, to register on the peer listener.
  grpc::Service* service();
  void Stop();

  // Test-only fault injection: while cut, messages to and from `peer_id`
  // are dropped as if the network lost them.
  void CutForTest(uint64_t peer_id, bool cut);

 private:
  class Sender;
  class Receiver;
  class SnapshotReader;
  void RunSnapshotTransfer(raftpb::Message msg, const std::string& target, const std::string& dir,
                           const SnapshotDone& done);
  bool IsCut(uint64_t peer_id) const;
  void PeerConnected(uint64_t peer_id);

  Options opts_;
  Deliver deliver_;
  Unreachable unreachable_;
  std::unique_ptr<Receiver> receiver_;
  mutable std::mutex mu_;
  std::map<uint64_t, std::unique_ptr<Sender>> senders_;  // guarded by mu_
  std::map<uint64_t, bool> cut_;                         // guarded by mu_
  std::map<uint64_t, std::string> targets_;              // guarded by mu_
  struct Transfer {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Transfer> transfers_;                      // guarded by mu_
  std::vector<grpc::ClientContext*> transfer_calls_;     // guarded by mu_
  bool stopped_ = false;                                 // guarded by mu_
};

}  // namespace server
