// The asking side of the peer HashKV call (the answering side is
// PeerService::HashKV, peer_hash_calls.cc): what a member's corruption
// checks use to read another member's hash of the key space at a revision.
// Thread-safety: thread-safe; blocks the calling thread up to `timeout`, or
// until its HashCallCanceller is cancelled.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/peer/peer_directory.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace server {

// Ends the calls made with it, so that a member shutting down does not wait
// out a peer's timeout: once Cancel() has run, every call in flight ends at
// once and every later one fails at once, both with kCancelled.
// Thread-safety: thread-safe.
class HashCallCanceller {
 public:
  void Cancel();
  // AskPeerHashKv's bracket around its call: Enter is false once cancelled.
  bool Enter(grpc::ClientContext* ctx);
  void Leave(grpc::ClientContext* ctx);

 private:
  std::mutex mu_;
  bool cancelled_ = false;                // guarded by mu_
  std::set<grpc::ClientContext*> calls_;  // guarded by mu_
};

// Member `peer_id`'s HashKV at `rev`. Errors keep their kind across the
// wire (FutureRev: the peer is behind; Compacted: it compacted past `rev`);
// an unreachable peer is Unavailable or DeadlineExceeded; a call ended by
// `canceller` (may be null) is Cancelled.
[[nodiscard]] absl::StatusOr<etcdserverpb::HashKVResponse> AskPeerHashKv(
    PeerDirectory& peers, uint64_t cluster_id, uint64_t peer_id, int64_t rev, absl::Duration timeout,
    HashCallCanceller* canceller = nullptr);

}  // namespace server
