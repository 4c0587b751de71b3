// The asking side of the peer HashKV call (the answering side is
// PeerService::HashKV, peer_hash_calls.cc): what a member's corruption
// checks use to read another member's hash of the key space at a revision.
// Thread-safety: thread-safe; blocks the calling thread up to `timeout`.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/peer/peer_directory.h"

namespace server {

// Member `peer_id`'s HashKV at `rev`. Errors keep their kind across the
// wire (FutureRev: the peer is behind; Compacted: it compacted past `rev`);
// an unreachable peer is Unavailable or DeadlineExceeded.
[[nodiscard]] absl::StatusOr<etcdserverpb::HashKVResponse> AskPeerHashKv(PeerDirectory& peers,
                                                                        uint64_t cluster_id,
                                                                        uint64_t peer_id, int64_t rev,
                                                                        absl::Duration timeout);

}  // namespace server
