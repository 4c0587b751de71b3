// Joining a running cluster: what a member started with
// --initial-cluster-state existing and an empty data dir does before it
// creates its raft log, as etcd's GetClusterFromRemotePeers and
// ValidateClusterAndAssignIDs: it asks the members listed in
// --initial-cluster (over the peer service, with the peer credentials) for
// the cluster's membership, checks that --initial-cluster describes it
// (same number of members, each one's peer URLs found), and takes the
// cluster id and the id `member add` gave its own peer URLs. It then
// starts with an empty log; the leader sends it everything (log or
// snapshot).
// Thread-safety: a free function; blocks for at most a few seconds per peer.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "base/logger.h"
#include "server/boot/config.h"
#include "server/net/transport_security.h"
#include "serverpb/internal.pb.h"

namespace server {

struct JoinedCluster {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
  std::vector<serverpb::MemberAttributes> members;  // the applied records
};

[[nodiscard]] absl::StatusOr<JoinedCluster> DiscoverCluster(const Config& cfg,
                                                            const TransportSecurity& security,
                                                            base::Logger& logger);

}  // namespace server
