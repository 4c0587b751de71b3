// MemberChanges: etcd's membership operations on this member, under the
// Cluster service and the forwarded MemberPromote (peer service): the
// checks etcd makes (server/state/membership.h: validity, and with
// --strict-reconfig-check the started-member quorum and the connectivity
// rule), then a raft conf change through the Proposer. Each answers once
// the change is applied on this member, or with etcd's error.
//
// The connectivity rule is etcd's isConnectedFullySince/numConnectedSince:
// adding a voter needs every voter connected for `health_interval`;
// removing a connected voter needs a quorum of the remaining voters
// connected; removing an unreachable one is always allowed.
// MemberPromote needs the leader's view of the learner's log: a follower
// forwards it to the leader over the peer service.
//
// Ownership: borrows everything; all must outlive it.
// Thread-safety: thread-safe; `done` runs on a raft or gRPC thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "server/peer/peer_directory.h"
#include "server/peer/peer_health.h"
#include "server/replication/proposer.h"
#include "server/state/membership.h"
#include "storage/mvcc_store.h"

namespace server {

class MemberChanges {
 public:
  struct Options {
    uint64_t cluster_id = 0;
    uint64_t self_id = 0;
    bool strict_reconfig_check = true;
    size_t max_learners = kMaxLearners;
    absl::Duration health_interval = absl::Seconds(5);  // etcd's HealthInterval
    absl::Duration forward_timeout = absl::Seconds(7);
  };
  using Done = std::function<void(absl::Status)>;
  using AddDone = std::function<void(absl::StatusOr<serverpb::MemberAttributes>)>;

  MemberChanges(Options opts, Proposer* proposer, const storage::MvccStore* store,
                const PeerHealth* health, PeerDirectory* peers, const base::Clock* clock)
      : opts_(opts), proposer_(proposer), store_(store), health_(health), peers_(peers), clock_(clock) {}

  // `peer_urls` already checked as URLs. The new member's id is etcd's:
  // derived from its peer URLs and the current time.
  void Add(const std::vector<std::string>& peer_urls, bool is_learner, AddDone done);
  void Remove(uint64_t id, Done done);
  void Update(uint64_t id, const std::vector<std::string>& peer_urls, Done done);
  // On any member (forwards to the leader when this one is not).
  void Promote(uint64_t id, Done done);
  // The leader's part of Promote (the peer service calls it).
  void PromoteOnLeader(uint64_t id, Done done);

 private:
  bool ConnectedFullySince(absl::Time since, const std::vector<uint64_t>& voters) const;
  size_t NumConnectedSince(absl::Time since, const std::vector<uint64_t>& voters) const;
  void Propose(raftpb::ConfChangeType type, const serverpb::MemberAttributes& m, Done done);
  void ForwardPromote(uint64_t id, Done done);

  const Options opts_;
  Proposer* proposer_;
  const storage::MvccStore* store_;
  const PeerHealth* health_;
  PeerDirectory* peers_;
  const base::Clock* clock_;
};

}  // namespace server
