// Raft: the consensus state machine of one node (follower, pre-candidate,
// candidate, leader). It is a pure function of its inputs: Step(message),
// Tick() and the Storage it reads. It does no I/O, keeps no clock and
// starts no thread; its outputs are the messages, log changes and read
// states that RawNode collects into a Ready. Most callers want RawNode.
//
// Features: randomized election timeouts, pre-vote (§9.6 of Ongaro's
// thesis), check-quorum, vote leases (§4.2.3), pipelined replication with
// flow control, fast log back-off by term hints, snapshots, learners,
// leader transfer (§3.10), ReadIndex reads (§6.4) batched per heartbeat
// round. The leader counts its own log copy toward commit only once it is
// persisted (RawNode::Advance), so the application may fsync in parallel
// with sending appends (§10.2.1).
//
// Membership — one change at a time, effective when appended (thesis
// §4.1, also LogCabin's rule). A ConfChange entry changes the
// configuration of a node as soon as the entry is in that node's log,
// committed or not; if a new leader truncates the entry, the node reverts
// to the configuration of the latest configuration entry still in its log.
// Safety argument: a change adds or removes exactly one voter (promoting a
// learner adds one voter), so any majority of the old voter set and any
// majority of the new one intersect; hence two leaders elected in the same
// term under either configuration would share a voter, which votes once
// per term. A leader only appends a change when (a) no configuration entry
// in its log is uncommitted, so at most two adjacent configurations are in
// use at any time, and (b) it has committed an entry in its own term,
// which closes the hole found in the single-server algorithm in 2015 (a
// leader of a newer term could otherwise append a change based on a
// configuration that a lost, uncommitted change of an older term
// disagreed with, leaving two non-adjacent configurations in use).
// Commit counts only voters of the current configuration. A leader that
// removes itself keeps leading (without counting itself) until the change
// is committed, then hands over with MsgTimeoutNow and steps down.
//
// Thread-safety: none. One thread owns a Raft (through RawNode).
#ifndef KETCD_RAFT_RAFT_H_
#define KETCD_RAFT_RAFT_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "raft/storage.h"
#include "raftpb/raft.pb.h"

namespace raft {

inline constexpr uint64_t kNone = 0;
inline constexpr char kCampaignTransfer[] = "CampaignTransfer";

struct Config {
  // This node's id; never 0.
  uint64_t id = kNone;
  // Read-only log storage; borrowed and must outlive the node.
  const Storage* storage = nullptr;
  // Ticks without hearing from a leader before a follower campaigns; the
  // actual timeout is drawn from [election_tick, 2*election_tick).
  // Default: 10.
  int election_tick = 10;
  // Ticks between leader heartbeats; must be < election_tick. Default: 1.
  int heartbeat_tick = 1;
  // Last index the application has applied (on restart). Default: 0.
  uint64_t applied = 0;
  // Upper bound on the entry bytes of one MsgApp (at least one entry is
  // always sent). Default: 1 MiB.
  uint64_t max_size_per_msg = 1 << 20;
  // Upper bound on the bytes of Ready::committed_entries. Default: none.
  uint64_t max_committed_size_per_ready = kNoLimit;
  // Unacknowledged MsgApp allowed per follower in Replicate. Default: 256.
  int max_inflight_msgs = 256;
  // Leader steps down if it has not heard from a quorum within an election
  // timeout; followers ignore votes while they hear from a leader.
  // Default: true.
  bool check_quorum = true;
  // Pre-vote before bumping the term. Default: true.
  bool pre_vote = true;
  // Drop proposals on followers instead of forwarding. Default: false.
  bool disable_proposal_forwarding = false;
  // Seed of the election-timeout randomization. Tests pass their seed;
  // the server passes something distinct per member (e.g. its id).
  uint64_t random_seed = 0;

  [[nodiscard]] absl::Status Validate() const;
};

enum class StateType { kFollower, kPreCandidate, kCandidate, kLeader };
const char* StateName(StateType s);

struct SoftState {
  uint64_t lead = kNone;
  StateType state = StateType::kFollower;
  bool operator==(const SoftState&) const = default;
};

// A linearizable read may be served once the state machine has applied
// `index`. request_ctx is the context passed to ReadIndex.
struct ReadState {
  uint64_t index = 0;
  std::string request_ctx;
};

class Raft {
 public:
  // Loads HardState, configuration and log position from config.storage.
  static absl::StatusOr<std::unique_ptr<Raft>> Create(const Config& config);

  // Single entry point for every input. Local inputs have term 0:
  // MSG_HUP, MSG_BEAT, MSG_PROP, MSG_READ_INDEX, MSG_TRANSFER_LEADER,
  // MSG_SNAP_STATUS, MSG_UNREACHABLE, MSG_CHECK_QUORUM.
  // Returns ProposalDroppedError / ConfChangeRejectedError for refused
  // proposals; every other message returns Ok.
  [[nodiscard]] absl::Status Step(raftpb::Message m);
  void Tick();

  uint64_t id() const { return id_; }
  uint64_t term() const { return term_; }
  uint64_t vote() const { return vote_; }
  uint64_t lead() const { return lead_; }
  StateType state() const { return state_; }
  uint64_t lead_transferee() const { return lead_transferee_; }
  SoftState soft_state() const { return {lead_, state_}; }
  raftpb::HardState hard_state() const;
  const RaftLog& log() const { return log_; }
  RaftLog& mutable_log() { return log_; }
  const ProgressTracker& tracker() const { return trk_; }
  // Current configuration (including uncommitted appended changes).
  raftpb::ConfState conf_state() const { return conf_history_.back().second; }
  // The configuration in effect at log index `index`; valid for index >=
  // applied (the application snapshots at its applied index).
  raftpb::ConfState ConfStateAt(uint64_t index) const;
  // Is this node a voter in its latest configuration?
  bool Promotable() const { return trk_.IsVoter(id_); }
  // May this node start an election? A voter may; so may a node whose own
  // removal is appended but not yet committed (thesis §4.2.2): it may be
  // the only holder of the longest log, and without it the remaining
  // voters could not elect anyone.
  bool CanCampaign() const;

  std::vector<raftpb::Message> TakeMessages() { return std::exchange(msgs_, {}); }
  bool HasMessages() const { return !msgs_.empty(); }
  std::vector<ReadState> TakeReadStates() { return std::exchange(read_states_, {}); }
  bool HasReadStates() const { return !read_states_.empty(); }

  // Called by RawNode::Advance once entries through (index, term) are
  // durable: the leader's own copy now counts toward commit.
  void OnPersisted(uint64_t index, uint64_t term);
  // Called by RawNode::Advance once the application has applied through
  // `applied`: lets the configuration history forget older entries.
  void OnApplied(uint64_t applied);

  // Aborts if an internal invariant is broken. Cheap enough for tests to
  // call after every step.
  void CheckInvariants() const;

 private:
  explicit Raft(const Config& c);

  using StepFn = absl::Status (Raft::*)(raftpb::Message&);
  using TickFn = void (Raft::*)();
  enum class CampaignType { kPreElection, kElection, kTransfer };

  // raft.cc: roles, elections, the common Step prelude.
  void BecomeFollower(uint64_t term, uint64_t lead);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void Reset(uint64_t term);
  void ResetRandomizedElectionTimeout();
  bool PastElectionTimeout() const { return election_elapsed_ >= randomized_election_timeout_; }
  void Hup(CampaignType t);
  void Campaign(CampaignType t);
  VoteResult Poll(uint64_t id, bool granted);
  // Returns whether the vote was granted.
  bool HandleVoteRequest(const raftpb::Message& m);
  void TickElection();
  void TickHeartbeat();
  void Send(raftpb::Message m);
  absl::Status StepFollower(raftpb::Message& m);
  absl::Status StepCandidate(raftpb::Message& m);

  // raft_replication.cc: the follower side of AppendEntries, heartbeats,
  // snapshots; the leader's send path.
  void HandleAppendEntries(const raftpb::Message& m);
  void HandleHeartbeat(const raftpb::Message& m);
  void HandleSnapshot(const raftpb::Message& m);
  bool Restore(const raftpb::Snapshot& s);
  // commit_news: the append is sent to spread a new commit index (see
  // answer_not_needed in raft.proto).
  bool MaybeSendAppend(uint64_t to, bool send_if_empty, bool commit_news = false);
  void SendAppend(uint64_t to) { MaybeSendAppend(to, true); }
  void BroadcastAppend();
  // BroadcastAppend after the commit index moved.
  void BroadcastCommit();
  void BroadcastHeartbeat();
  void SendHeartbeat(uint64_t to, const std::string& ctx);
  void SendTimeoutNow(uint64_t to);
  // Appends at the leader; assigns term and index.
  void AppendEntries(std::vector<raftpb::Entry> entries);

  // raft_leader.cc: the leader's Step and its helpers.
  absl::Status StepLeader(raftpb::Message& m);
  absl::Status HandlePropose(raftpb::Message& m);
  void HandleAppendResponse(const raftpb::Message& m, Progress* pr);
  void HandleHeartbeatResponse(const raftpb::Message& m, Progress* pr);
  void HandleTransferLeader(const raftpb::Message& m);
  void AbortLeaderTransfer() { lead_transferee_ = kNone; }
  // Advances commit from the match indexes; runs what waits on a commit.
  bool LeaderMaybeCommit();
  bool CommittedEntryInCurrentTerm() const;
  void HandleReadIndex(const raftpb::Message& m);
  void StartReadRound();
  void MaybeFinishReadRound();
  void RespondToRead(uint64_t index, uint64_t from, const std::string& ctx);
  void ResetReads();

  // raft_confchange.cc: membership, effective when appended.
  absl::Status ValidateConfChange(const raftpb::ConfChange& cc) const;
  // Applies the configuration entries among `entries` (just appended).
  void ApplyConfEntries(const std::vector<raftpb::Entry>& entries);
  // Forgets configurations introduced after `index` (log truncated).
  void TruncateConfHistory(uint64_t index);
  // Makes the tracker follow conf_history_.back().
  void SwitchToCurrentConfig();
  // A leader that is no longer a voter hands over once its removal is
  // committed.
  void MaybeStepDownAfterRemoval();

  const uint64_t id_;
  uint64_t term_ = 0;
  uint64_t vote_ = kNone;
  uint64_t lead_ = kNone;
  StateType state_ = StateType::kFollower;
  RaftLog log_;
  ProgressTracker trk_;
  // (first index, configuration) in ascending index order; front() is the
  // configuration as of the snapshot or the last applied configuration.
  std::vector<std::pair<uint64_t, raftpb::ConfState>> conf_history_;

  std::vector<raftpb::Message> msgs_;
  std::vector<ReadState> read_states_;

  const int election_timeout_;
  const int heartbeat_timeout_;
  int randomized_election_timeout_ = 0;
  int election_elapsed_ = 0;   // leader: since last check-quorum
  int heartbeat_elapsed_ = 0;  // leader only
  const bool check_quorum_;
  const bool pre_vote_;
  const bool disable_proposal_forwarding_;
  const uint64_t max_msg_size_;
  std::mt19937_64 rng_;
  uint64_t lead_transferee_ = kNone;

  // ReadIndex (leader). A round is one heartbeat broadcast; it covers every
  // read queued before it started, so concurrent reads share one round.
  struct ReadRequest {
    uint64_t index;
    uint64_t from;
    std::string ctx;
  };
  std::deque<ReadRequest> read_queue_;
  size_t read_covered_ = 0;      // prefix of read_queue_ the round covers
  uint64_t read_round_ = 0;      // in-flight round id, 0 if none
  uint64_t read_round_seq_ = 0;  // last round id issued
  std::set<uint64_t> read_acks_;
  // Reads received before the first commit of this term (§6.4 step 1).
  std::vector<raftpb::Message> pending_reads_;

  TickFn tick_ = &Raft::TickElection;
  StepFn step_ = &Raft::StepFollower;
};

}  // namespace raft

#endif  // KETCD_RAFT_RAFT_H_
