// PeerService: the receiving side of ketcd's Peer gRPC service
// (proto/peerpb/peer.proto), registered on the peer listener:
//  - Stream: raft message batches, each handed whole to `deliver` (one
//    wake-up of the raft loop per batch), on a gRPC thread;
//  - Snapshot: one snapshot's files in chunks, written through the
//    SnapshotInbox; its MSG_SNAP is delivered only once the whole snapshot
//    is durable;
//  - LeaseRenew / LeaseTimeToLive: lease calls a follower forwards to the
//    leader, answered from the Lessor (peer_lease_calls.cc);
//  - HashKV: a peer's corruption check, answered from the store
//    (peer_hash_calls.cc). The scan of the whole key space runs on a
//    worker thread of this service, one at a time, never on a gRPC thread:
//    on a large store it would hold up the raft messages those threads
//    deliver.
// Messages from another cluster are refused.
//
// Ownership: borrows the inbox, the lessor, the clock and the logger; all
// must outlive the service. Thread-safety: gRPC calls it from its threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "base/clock.h"
#include "base/logger.h"
#include "peerpb/peer.grpc.pb.h"
#include "raftpb/raft.pb.h"
#include "server/peer/peer_metrics.h"
#include "server/peer/snapshot_inbox.h"
#include "server/state/lessor.h"

namespace server {

class PeerService final : public peerpb::Peer::CallbackService {
 public:
  struct Options {
    uint64_t cluster_id = 0;
    // Where received snapshots go; none = snapshots are refused.
    SnapshotInbox* snapshot_inbox = nullptr;
    // Answers lease calls forwarded by followers; none = refused.
    Lessor* lessor = nullptr;
    // True once this member applied every entry it knows committed. A
    // forwarded lease call waits for it, as etcd's leader waits for its
    // applied index: a key attached (or a lease granted) by an entry
    // committed and acknowledged elsewhere, not yet applied here, must not
    // be missing from the answer. Unset = always caught up.
    std::function<bool()> lease_caught_up;
    // Answers Membership (a joining member's question) from its records;
    // none = refused.
    const storage::MvccStore* store = nullptr;
    // The leader's side of a forwarded MemberPromote; none = refused.
    std::function<void(uint64_t member_id, std::function<void(absl::Status)> done)> promote_member;
    const base::Clock* clock = nullptr;  // required
    base::Logger* logger = nullptr;      // required
    // This member's id, in the header of the HashKV it answers.
    uint64_t member_id = 0;
    // Counts the bytes of every batch received (by sender); may be null.
    PeerMetrics* metrics = nullptr;
  };
  // What the service asks of the transport it belongs to.
  struct Hooks {
    std::function<void(std::vector<raftpb::Message>)> deliver;
    // Test-only fault injection: traffic from a cut peer is dropped.
    std::function<bool(uint64_t peer_id)> is_cut;
    // A peer opened a message stream to us: it is up.
    std::function<void(uint64_t peer_id)> connected;
    // The peer was removed from the cluster while this process ran.
    std::function<bool(uint64_t peer_id)> is_removed;
  };

  PeerService(Options opts, Hooks hooks);
  // Finishes the hash scans queued or running (peer_hash_calls.cc).
  ~PeerService() override;

  grpc::ServerReadReactor<peerpb::MessageBatch>* Stream(grpc::CallbackServerContext* ctx,
                                                         peerpb::StreamAck* ack) override;
  grpc::ServerReadReactor<peerpb::SnapshotChunk>* Snapshot(grpc::CallbackServerContext* ctx,
                                                            peerpb::SnapshotAck* ack) override;

  // Forwarded lease calls (peer_lease_calls.cc).
  grpc::ServerUnaryReactor* LeaseRenew(grpc::CallbackServerContext* ctx,
                                       const peerpb::LeaseForward* req,
                                       etcdserverpb::LeaseKeepAliveResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseTimeToLive(grpc::CallbackServerContext* ctx,
                                            const peerpb::LeaseForward* req,
                                            etcdserverpb::LeaseTimeToLiveResponse* resp) override;
  // Membership calls (peer_membership_calls.cc).
  grpc::ServerUnaryReactor* Membership(grpc::CallbackServerContext* ctx,
                                       const peerpb::MembershipRequest* req,
                                       peerpb::MembershipResponse* resp) override;
  grpc::ServerUnaryReactor* PromoteMember(grpc::CallbackServerContext* ctx,
                                          const peerpb::PromoteForward* req,
                                          peerpb::PromoteAck* resp) override;
  // A peer's corruption check asks for this member's hash (peer_hash_calls.cc).
  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* ctx, const peerpb::HashKVForward* req,
                                   etcdserverpb::HashKVResponse* resp) override;
  // The round-trip probe (peer_prober.h): answered at once.
  grpc::ServerUnaryReactor* Probe(grpc::CallbackServerContext* ctx, const peerpb::ProbeRequest*,
                                  peerpb::ProbeResponse*) override {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  class MessageReader;
  // `id` was removed from the cluster (its messages are refused): as this
  // process saw it happen, or, when a stream opens, as the store recorded.
  bool IsRemoved(uint64_t id, bool opening) const;
  // Why a forwarded lease call cannot be answered here now (OK: it can):
  // no lessor or another cluster (not leader), or still applying.
  absl::Status LeaseCallRefusal(uint64_t cluster_id) const;
  class SnapshotReader;
  // The thread HashKV's scans run on (peer_hash_calls.cc).
  class HashWorker;

  const Options opts_;
  const Hooks hooks_;
  const std::unique_ptr<HashWorker> hash_worker_;
};

}  // namespace server
