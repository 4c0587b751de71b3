// The raft membership as the state machine records it: every applied conf
// change writes (or, for a removal, deletes) the member's record in the
// store's meta table, in the same batch as the applied index; a removal
// also records the id as removed for good. A restarted member finds its
// peers there (not in --initial-cluster, which etcd also ignores once a
// data dir exists), and a member installed from a snapshot gets the
// leader's records with the snapshot.
//
// A conf change entry's context carries the member's name, peer URLs and
// learner flag as a serialized serverpb.MemberAttributes.
//
// The checks below are etcd's (membership/cluster.go
// ValidateConfigurationChange and the strict reconfiguration checks of
// --strict-reconfig-check), as pure functions of a Membership. etcd runs
// the first kind when it applies a change; ketcd's raft makes a change
// effective when it is appended (raft/raft.h), so ketcd runs them before
// proposing, against the applied membership: raft's one-change-at-a-time
// rule leaves only concurrent proposals from two members racing past them.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "serverpb/internal.pb.h"
#include "storage/mvcc_store.h"

namespace server {

// The records' keys are storage::RaftMemberMetaKey and
// storage::RemovedMemberMetaKey (storage/meta_schema.h). The context's
// encoding is storage::EncodeConfChangeContext (storage/wal_bootstrap.h),
// which also writes the founding members'.

// The recorded members, by id.
std::map<uint64_t, serverpb::MemberAttributes> LoadRaftMembers(const storage::MvccStore& store);

struct Membership {
  // Raft records by id. `name` is the member's published name (or the
  // founding name); empty for a member added but not started yet.
  std::map<uint64_t, serverpb::MemberAttributes> members;
  std::set<uint64_t> removed;

  size_t Learners() const;
  std::vector<uint64_t> Voters() const;
  bool IsLearner(uint64_t id) const;
};

// The applied membership, with each member's published name overlaid (a
// member is "started", in etcd's words, once it has a name).
Membership LoadMembership(const storage::MvccStore& store);

// etcd 3.4 allows one learner at a time.
inline constexpr size_t kMaxLearners = 1;

// Validity (etcd errors: MemberNotFound for a removed or unknown id,
// MemberExists, PeerUrlExists, TooManyLearners, MemberNotLearner).
absl::Status CheckAddMember(const Membership& m, const serverpb::MemberAttributes& added,
                            size_t max_learners = kMaxLearners);
absl::Status CheckRemoveMember(const Membership& m, uint64_t id);
absl::Status CheckUpdateMember(const Membership& m, uint64_t id, const std::vector<std::string>& peer_urls);
absl::Status CheckPromoteMember(const Membership& m, uint64_t id);

// --strict-reconfig-check's quorum arithmetic on started members
// (MemberNotEnoughStarted when it fails).
absl::Status CheckStartedForAddVoter(const Membership& m);
absl::Status CheckStartedForRemoveVoter(const Membership& m, uint64_t id);
absl::Status CheckStartedForPromote(const Membership& m);

}  // namespace server
