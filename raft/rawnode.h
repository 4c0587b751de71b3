// RawNode: the application's handle on one raft node, and Ready, the batch
// of work raft hands back.
//
// Use from exactly one thread (thread-safety: none). The loop is:
//
//   on timer:        node.Tick();
//   on peer message: node.Step(msg);
//   on request:      node.Propose(data) / ProposeConfChange(cc) /
//                    ReadIndex(ctx) / TransferLeader(id);
//   if (node.HasReady()) {
//     Ready rd = node.GetReady();
//     ...handle rd as the Ready contract below says...
//     node.Advance(rd);
//   }
//
// Ownership: RawNode owns its Raft; it borrows config.storage, which must
// outlive it and which the application writes as Ready says.
#ifndef KETCD_RAFT_RAWNODE_H_
#define KETCD_RAFT_RAWNODE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/raft.h"
#include "raftpb/raft.pb.h"

namespace raft {

// The Ready contract. Handle the fields in this order, then call Advance:
//
//  1. Persist, durably and before anything else: `snapshot` (if set),
//     then append `entries` (an entry at an index already in storage
//     replaces it and everything after it), then `hard_state` (if set).
//     One fdatasync covers all three; it is required when `must_sync`.
//  2. Send `messages` (after step 1: a vote or an acknowledgement is a
//     promise about what is on disk). One exception (thesis §10.2.1): while
//     this node leads, its MSG_APP / MSG_HEARTBEAT / MSG_SNAP may go out
//     before or during the fsync of step 1, since the leader counts its own
//     copy toward commit only when Advance reports it durable. Report
//     delivery failures with ReportUnreachable and snapshot outcomes with
//     ReportSnapshot.
//  3. Apply: restore the state machine from `snapshot` (if set), then
//     apply `committed_entries` in order. ENTRY_CONF_CHANGE entries need no
//     call back into raft — membership already took effect when appended
//     (see raft.h) — but the application updates its member list.
//  4. Serve each of `read_states` once the applied index reaches its index.
//  5. Advance(rd): tells raft that step 1 is durable and step 3 done. Do not
//     call GetReady again before Advance; Step/Tick/Propose in between are
//     fine (their effects come in the next Ready).
//
// A lone voter needs no messages: its proposal is committed by the Advance
// that persists it, and appears in the next Ready's committed_entries.
//
// `soft_state` (leader, role) is informational and needs no persistence.
struct Ready {
  std::optional<SoftState> soft_state;
  std::optional<raftpb::HardState> hard_state;
  std::vector<ReadState> read_states;
  std::vector<raftpb::Entry> entries;
  std::optional<raftpb::Snapshot> snapshot;
  std::vector<raftpb::Entry> committed_entries;
  std::vector<raftpb::Message> messages;
  bool must_sync = false;
};

// Summary for status endpoints and tests.
struct Status {
  uint64_t id = 0;
  SoftState soft_state;
  raftpb::HardState hard_state;
  uint64_t applied = 0;
  uint64_t lead_transferee = 0;
  raftpb::ConfState conf_state;
};

// What every founding member persists before its first RawNode::Create:
// one committed ENTRY_CONF_CHANGE per initial voter, at term 1. Having the
// initial membership in the log (not only in a snapshot) lets a member
// that joins later learn it by replication like any other change.
struct Bootstrap {
  std::vector<raftpb::Entry> entries;
  raftpb::HardState hard_state;
};
Bootstrap BootstrapCluster(const std::vector<uint64_t>& voters,
                           const std::vector<uint64_t>& learners = {});

class RawNode {
 public:
  // Restores the node from config.storage (HardState, snapshot, log). A
  // founding member's storage holds BootstrapCluster's output; a member
  // added later starts empty and learns everything from the leader.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RawNode>> Create(const Config& config);

  // Advances logical time by one tick (election and heartbeat timeouts
  // are counted in ticks).
  void Tick() { raft_->Tick(); }
  // Starts an election now (a lone voter becomes leader at once).
  [[nodiscard]] absl::Status Campaign();
  // Proposes data for the log. ProposalDroppedError if there is no leader
  // to accept or forward it to; acceptance does not imply commit.
  [[nodiscard]] absl::Status Propose(std::string data);
  // Proposes a membership change. On the leader, ConfChangeRejectedError
  // when refused (see ValidateConfChange in raft.h's contract).
  [[nodiscard]] absl::Status ProposeConfChange(const raftpb::ConfChange& cc);
  // Feeds a message from a peer. Local message types are refused, and so
  // is a malformed one (an append whose entries do not follow its index in
  // order, a proposal without entries, term 0 for an entry at an index
  // above 0, an election message without a term, an appended membership
  // change that does not decode): InvalidArgument. A
  // forwarded proposal the leader refuses also returns an error here; the
  // forwarder never hears of it, so the caller just drops the status.
  [[nodiscard]] absl::Status Step(raftpb::Message m);
  // Requests a linearizable read point; the answer arrives as a ReadState
  // with the same ctx. ProposalDroppedError if no leader is known; once
  // accepted it may still go unanswered (lost messages, a leader change):
  // the caller times out and retries.
  [[nodiscard]] absl::Status ReadIndex(std::string ctx);
  // Asks the leader to hand leadership to transferee.
  void TransferLeader(uint64_t transferee);
  void ReportUnreachable(uint64_t id);
  void ReportSnapshot(uint64_t id, bool ok);

  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& rd);

  Status GetStatus() const;
  raftpb::ConfState ConfState() const { return raft_->conf_state(); }
  // The configuration to store in a snapshot taken at applied index.
  raftpb::ConfState ConfStateAt(uint64_t index) const { return raft_->ConfStateAt(index); }
  // Read-only access for status reporting and tests.
  const Raft& raft() const { return *raft_; }

 private:
  explicit RawNode(std::unique_ptr<Raft> r);

  std::unique_ptr<Raft> raft_;
  SoftState prev_soft_;
  raftpb::HardState prev_hard_;
  bool awaiting_advance_ = false;
};

}  // namespace raft

#endif  // KETCD_RAFT_RAWNODE_H_
