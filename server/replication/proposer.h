// Proposer: the "propose -> commit -> apply" seam every write goes through.
//
// Propose() hands a request to the replicated log; `done` runs exactly once,
// after the request is durable in the log and applied to the store (with its
// response), or with an error if it never will be (stopped, timed out, too
// large, not leader). ProposeConfChange() does the same for a membership
// change. Implementation: RaftMember (raft_member.h), for a lone member as
// for a cluster. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "raftpb/raft.pb.h"
#include "serverpb/internal.pb.h"

namespace server {

using ProposeResult = absl::StatusOr<serverpb::InternalResponse>;
using ProposeDone = std::function<void(ProposeResult)>;
using ConfChangeDone = std::function<void(absl::Status)>;

// What Maintenance.Status reports about the member's raft state.
struct RaftStatus {
  uint64_t term = 0;
  uint64_t leader = 0;  // 0: no leader known
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  bool is_learner = false;
  uint64_t leader_changes = 0;  // how many times a (new) leader became known
  // Applied everything known committed (etcd's waitAppliedIndex condition).
  bool caught_up() const { return applied_index >= commit_index; }
};

class Proposer {
 public:
  virtual ~Proposer() = default;
  virtual void Propose(serverpb::InternalRequest req, ProposeDone done) = 0;
  // Proposes a membership change. `cc.context()` describes the member as
  // storage/wal_bootstrap.h says (storage::EncodeConfChangeContext); `cc.id()` is
  // assigned here. `done` runs exactly once: OK once the change is applied
  // on this member (its record is in the store, raft's configuration has
  // it), or an error: stopped, timed out (also while no leader appears),
  // or refused by raft (raft::IsConfChangeRejected: another change is still
  // pending, or the change is invalid, such as demoting a voter).
  virtual void ProposeConfChange(raftpb::ConfChange cc, ConfChangeDone done) = 0;
  // Runs `done` (OK) once every write acknowledged anywhere in the cluster
  // before this call is applied locally, so that a read of the local store
  // afterwards is linearizable; or with an error ("no leader", timeout).
  virtual void ReadBarrier(std::function<void(absl::Status)> done) = 0;
  // Leader only: OK when learner `id` has caught up with the leader's log
  // (its match index at least 90% of the leader's, etcd's rule for
  // promotion) or is not a learner this leader tracks (the change's own
  // checks answer that); LearnerNotReady, or NotLeader on any other member.
  virtual void CheckLearnerReady(uint64_t id, std::function<void(absl::Status)> done) = 0;
  // Leader only: hands leadership to voter `target` (raft's leader
  // transfer); OK once this member sees `target` lead, TimeoutLeaderTransfer
  // after the request timeout, NotLeader on any other member.
  virtual void TransferLeadership(uint64_t target, std::function<void(absl::Status)> done) = 0;
  // The raft term reported in response headers.
  virtual uint64_t Term() const = 0;
  virtual RaftStatus Status() const = 0;
  // Blocking convenience for synchronous callers: waits at most `timeout`.
  [[nodiscard]] ProposeResult ProposeAndWait(serverpb::InternalRequest req, absl::Duration timeout);
};

// A Proposer that hands every call to `inner` (borrowed); decorators derive
// from it and override what they add to (counting_proposer.h).
class ForwardingProposer : public Proposer {
 public:
  explicit ForwardingProposer(Proposer* inner) : inner_(inner) {}
  void Propose(serverpb::InternalRequest req, ProposeDone done) override {
    inner_->Propose(std::move(req), std::move(done));
  }
  void ProposeConfChange(raftpb::ConfChange cc, ConfChangeDone done) override {
    inner_->ProposeConfChange(std::move(cc), std::move(done));
  }
  void ReadBarrier(std::function<void(absl::Status)> done) override { inner_->ReadBarrier(std::move(done)); }
  void CheckLearnerReady(uint64_t id, std::function<void(absl::Status)> done) override {
    inner_->CheckLearnerReady(id, std::move(done));
  }
  void TransferLeadership(uint64_t target, std::function<void(absl::Status)> done) override {
    inner_->TransferLeadership(target, std::move(done));
  }
  uint64_t Term() const override { return inner_->Term(); }
  RaftStatus Status() const override { return inner_->Status(); }

 protected:
  Proposer* const inner_;
};

}  // namespace server
