// PeerTransport: carries raft messages between members over ketcd's Peer
// gRPC service (proto/peerpb/peer.proto). It composes three parts, each in
// its own file:
//  - PeerSender (peer_sender.h): per peer, a bounded queue drained by its
//    own thread over one long-lived stream; sending never blocks the
//    caller, and a full queue or a broken stream drops messages and
//    reports the peer unreachable (raft retries);
//  - SnapshotSender (snapshot_sender.h): snapshots on their own stream and
//    connection, one thread per transfer;
//  - PeerService (peer_service.h): the receiving side, registered on the
//    peer listener; it hands every message of this cluster to `deliver`
//    and a snapshot's MSG_SNAP only once the snapshot is durable.
// Every connection is dialed through the shared PeerDirectory, which
// AddPeer / RemovePeer keep current.
//
// Ownership: borrows the directory, the inbox, the lessor, the clock and
// the logger; all must outlive the transport.
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/logger.h"
#include "raftpb/raft.pb.h"
#include "server/peer/peer_directory.h"
#include "server/peer/peer_metrics.h"
#include "server/peer/peer_sender.h"
#include "server/peer/peer_service.h"
#include "server/peer/snapshot_inbox.h"
#include "server/peer/snapshot_sender.h"
#include "server/state/lessor.h"

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
    // Whether this member applied all it knows committed (peer_service.h).
    std::function<bool()> lease_caught_up;
    // PeerService's membership calls (peer_service.h).
    const storage::MvccStore* store = nullptr;
    std::function<void(uint64_t member_id, std::function<void(absl::Status)> done)> promote_member;
    // A peer refused this member's stream: this member was removed while
    // it was away. Called on a sender thread.
    std::function<void()> on_removed_by_peer;
    // Where every peer is dialed; shared with the other dialers. Required.
    PeerDirectory* directory = nullptr;
    const base::Clock* clock = nullptr;  // required
    base::Logger* logger = nullptr;      // required
    // Per-peer bytes and failures, late heartbeats (peer_metrics.h); may
    // be null. A heartbeat is late when sent more than two
    // `heartbeat_interval`s after the previous one to the same peer.
    PeerMetrics* metrics = nullptr;
    absl::Duration heartbeat_interval = absl::ZeroDuration();
  };
  static constexpr size_t kSnapshotChunkBytes = 1 << 20;
  using SnapshotDone = std::function<void(bool ok)>;
  // Gets each received batch whole: one wake-up of the raft loop per batch.
  using Deliver = std::function<void(std::vector<raftpb::Message>)>;
  using Unreachable = std::function<void(uint64_t peer_id)>;

  PeerTransport(Options opts, Deliver deliver, Unreachable unreachable);
  ~PeerTransport();

  // `url` like "http://127.0.0.1:2380". Records it in the directory (this
  // member's own too) and, for another member, starts sending to it;
  // replaces a known peer's address.
  void AddPeer(uint64_t id, const std::string& url);
  void RemovePeer(uint64_t id);
  void Send(std::vector<raftpb::Message> msgs);
  // Streams the checkpoint in `dir` with `msg` (a MSG_SNAP whose metadata
  // describes it) to msg.to(), then removes `dir` and calls `done` (on the
  // transfer's thread) with whether the peer accepted it.
  void SendSnapshot(raftpb::Message msg, std::string dir, SnapshotDone done);
  // The receiving side, to register on the peer listener.
  grpc::Service* service() { return &service_; }
  void Stop();

  // Test-only fault injection: while cut, messages to and from `peer_id`
  // are dropped as if the network lost them. The one-way form drops only
  // what this member sends to it (outbound) or receives from it (inbound).
  void CutForTest(uint64_t peer_id, bool cut);
  void CutForTest(uint64_t peer_id, bool outbound, bool inbound);

 private:
  bool IsCut(uint64_t peer_id) const;  // inbound: drop what peer_id sends us
  // Removed while this process runs (RemovePeer): its streams are refused.
  bool IsRemoved(uint64_t peer_id) const;
  void PeerConnected(uint64_t peer_id);
  // Counts a heartbeat sent late (etcd_server_heartbeat_send_failures_total).
  void ObserveHeartbeat(const raftpb::Message& m, PeerCounters* counters);

  const Options opts_;
  const Deliver deliver_;
  const Unreachable unreachable_;
  PeerService service_;
  SnapshotSender snapshots_;
  mutable std::mutex mu_;
  std::map<uint64_t, std::unique_ptr<PeerSender>> senders_;  // guarded by mu_
  std::set<uint64_t> cut_out_;                               // guarded by mu_
  std::set<uint64_t> cut_in_;                                // guarded by mu_
  std::set<uint64_t> removed_;                               // guarded by mu_
  std::atomic<bool> any_removed_{false};
  bool stopped_ = false;                                     // guarded by mu_
};

}  // namespace server
