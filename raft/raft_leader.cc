// The leader's Step: proposals, replication responses, heartbeats,
// check-quorum, leader transfer and ReadIndex.
#include "raft/raft.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "raft/check.h"
#include "raft/errors.h"

namespace raft {

absl::Status Raft::StepLeader(raftpb::Message& m) {
  switch (m.type()) {
    case raftpb::MSG_BEAT:
      BroadcastHeartbeat();
      return absl::OkStatus();
    case raftpb::MSG_CHECK_QUORUM: {
      if (Progress* self = trk_.Get(id_)) self->recent_active = true;
      if (!trk_.QuorumActive()) {
        // We may be on the minority side of a partition: stop serving so
        // that clients go to the majority's leader.
        BecomeFollower(term_, kNone);
        return absl::OkStatus();
      }
      trk_.ResetRecentActive(false);
      if (Progress* self = trk_.Get(id_)) self->recent_active = true;
      return absl::OkStatus();
    }
    case raftpb::MSG_PROP:
      return HandlePropose(m);
    case raftpb::MSG_READ_INDEX:
      HandleReadIndex(m);
      return absl::OkStatus();
    case raftpb::MSG_TRANSFER_LEADER:
      HandleTransferLeader(m);
      return absl::OkStatus();
    default:
      break;
  }

  // Everything else is a reply from, or a report about, one peer.
  Progress* pr = trk_.Get(m.from());
  if (pr == nullptr) return absl::OkStatus();  // not (or no longer) a member
  switch (m.type()) {
    case raftpb::MSG_APP_RESP:
      HandleAppendResponse(m, pr);
      break;
    case raftpb::MSG_HEARTBEAT_RESP:
      HandleHeartbeatResponse(m, pr);
      break;
    case raftpb::MSG_SNAP_STATUS:
      if (pr->state != ProgressState::kSnapshot) break;
      if (m.reject()) pr->pending_snapshot = 0;
      pr->BecomeProbe();
      // Wait for the next heartbeat response (or the follower's append
      // response after installing) before probing again.
      pr->probe_sent = true;
      break;
    case raftpb::MSG_UNREACHABLE:
      // Optimistic pipelining to an unreachable peer only loses messages.
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status Raft::HandlePropose(raftpb::Message& m) {
  RAFT_CHECK_GT(m.entries_size(), 0) << "empty proposal";
  if (trk_.Get(id_) == nullptr) {
    return ProposalDroppedError();  // removed from the configuration
  }
  if (lead_transferee_ != kNone) {
    return ProposalDroppedError();  // §3.10: stop accepting during a transfer
  }
  std::vector<raftpb::Entry> ents(m.entries().begin(), m.entries().end());
  for (const auto& e : ents) {
    if (e.type() != raftpb::ENTRY_CONF_CHANGE) continue;
    raftpb::ConfChange cc;
    if (!cc.ParseFromString(e.data())) return ConfChangeRejectedError("unparsable ConfChange");
    if (ents.size() != 1) return ConfChangeRejectedError("a ConfChange must be proposed alone");
    if (absl::Status s = ValidateConfChange(cc); !s.ok()) return s;
  }
  AppendEntries(std::move(ents));
  if (state_ == StateType::kLeader) BroadcastAppend();
  return absl::OkStatus();
}

bool Raft::CommittedEntryInCurrentTerm() const {
  return log_.TermOrZero(log_.committed()) == term_;
}

bool Raft::LeaderMaybeCommit() {
  bool first_in_term = !CommittedEntryInCurrentTerm();
  if (!log_.MaybeCommit(trk_.Committed(), term_)) return false;
  if (first_in_term) {
    // §6.4: reads are served only once this term's no-op is committed, so
    // the commit index is at least that of every earlier leader.
    std::vector<raftpb::Message> waiting = std::exchange(pending_reads_, {});
    for (const auto& r : waiting) HandleReadIndex(r);
  }
  MaybeStepDownAfterRemoval();
  return true;
}

void Raft::HandleAppendResponse(const raftpb::Message& m, Progress* pr) {
  pr->recent_active = true;
  if (m.reject()) {
    uint64_t next_probe = m.reject_hint();
    if (m.log_term() > 0) {
      // The follower has (hint, hint_term) with hint_term <= the term we
      // probed with. Find our last entry at or below that point whose
      // term is at most hint_term; everything above is in conflict.
      next_probe = log_.FindConflictByTerm(m.reject_hint(), m.log_term()).first;
    }
    if (pr->MaybeDecrTo(m.index(), next_probe)) {
      if (pr->state == ProgressState::kReplicate) pr->BecomeProbe();
      SendAppend(m.from());
    }
    return;
  }
  bool was_paused = pr->IsPaused();
  // A probe answered at exactly our match also proves the position: a
  // caught-up follower must not stay in Probe forever.
  bool probe_confirmed = pr->state == ProgressState::kProbe && pr->match == m.index();
  if (!pr->MaybeUpdate(m.index()) && !probe_confirmed) {
    // Stale, but a Snapshot-state follower that reports at least the
    // snapshot index has installed it (the status report may be lost).
    if (pr->state == ProgressState::kSnapshot && pr->match >= pr->pending_snapshot) {
      pr->BecomeProbe();
      SendAppend(m.from());
    }
    return;
  }
  switch (pr->state) {
    case ProgressState::kProbe:
      pr->BecomeReplicate();
      break;
    case ProgressState::kSnapshot:
      if (pr->match >= pr->pending_snapshot) {
        pr->BecomeProbe();
        pr->BecomeReplicate();
      }
      break;
    case ProgressState::kReplicate:
      pr->inflights.FreeLE(m.index());
      break;
  }
  uint64_t from = m.from();
  if (LeaderMaybeCommit()) {
    if (state_ != StateType::kLeader) return;  // stepped down after removal
    BroadcastCommit();
  } else if (was_paused) {
    SendAppend(from);
  }
  // Fill the window: send as long as there are entries and room.
  while (state_ == StateType::kLeader && trk_.Get(from) && MaybeSendAppend(from, false)) {
  }
  if (state_ == StateType::kLeader && from == lead_transferee_ &&
      trk_.Get(from)->match == log_.LastIndex()) {
    // The target caught up: let it campaign now (§3.10).
    SendTimeoutNow(from);
  }
}

void Raft::HandleHeartbeatResponse(const raftpb::Message& m, Progress* pr) {
  pr->recent_active = true;
  pr->probe_sent = false;
  if (pr->state == ProgressState::kReplicate && pr->inflights.Full()) {
    // The follower is alive; maybe the oldest append got lost. Make room
    // for one more so replication cannot stall on a full window.
    pr->inflights.FreeFirstOne();
  }
  if (pr->state == ProgressState::kSnapshot && pr->match >= pr->pending_snapshot) {
    pr->BecomeProbe();
  }
  if (pr->match < log_.LastIndex()) SendAppend(m.from());

  uint64_t round = 0;
  if (read_round_ != 0 && absl::SimpleAtoi(m.context(), &round) && round == read_round_) {
    read_acks_.insert(m.from());
    MaybeFinishReadRound();
  }
}

void Raft::HandleTransferLeader(const raftpb::Message& m) {
  uint64_t target = m.from();
  const Progress* pr = trk_.Get(target);
  if (pr == nullptr || pr->is_learner) return;  // learners cannot lead
  if (lead_transferee_ != kNone) {
    if (lead_transferee_ == target) return;  // already in progress
    AbortLeaderTransfer();
  }
  if (target == id_) return;  // already leader
  // The transfer must finish within an election timeout (see TickHeartbeat).
  election_elapsed_ = 0;
  lead_transferee_ = target;
  if (pr->match == log_.LastIndex()) {
    SendTimeoutNow(target);
  } else {
    SendAppend(target);
  }
}

// ---- ReadIndex (§6.4) ----------------------------------------------------

void Raft::HandleReadIndex(const raftpb::Message& m) {
  std::string ctx = m.entries_size() > 0 ? m.entries(0).data() : "";
  if (!CommittedEntryInCurrentTerm()) {
    pending_reads_.push_back(m);
    return;
  }
  if (trk_.voters().size() == 1 && trk_.IsVoter(id_)) {
    // A lone voter is its own quorum: no round needed.
    RespondToRead(log_.committed(), m.from(), ctx);
    return;
  }
  read_queue_.push_back({log_.committed(), m.from(), std::move(ctx)});
  if (read_round_ == 0) StartReadRound();
}

void Raft::StartReadRound() {
  read_round_ = ++read_round_seq_;
  read_covered_ = read_queue_.size();
  read_acks_.clear();
  read_acks_.insert(id_);
  std::string ctx = absl::StrCat(read_round_);
  for (auto& [id, pr] : trk_.progress()) {
    if (id != id_) SendHeartbeat(id, ctx);
  }
  MaybeFinishReadRound();
}

void Raft::MaybeFinishReadRound() {
  if (read_round_ == 0 || !trk_.IsQuorum(read_acks_)) return;
  // A quorum answered a heartbeat sent after every covered read arrived:
  // no newer leader had been elected when they were received.
  for (size_t i = 0; i < read_covered_; ++i) {
    const ReadRequest& r = read_queue_.front();
    RespondToRead(r.index, r.from, r.ctx);
    read_queue_.pop_front();
  }
  read_round_ = 0;
  read_covered_ = 0;
  read_acks_.clear();
  if (!read_queue_.empty()) StartReadRound();
}

void Raft::RespondToRead(uint64_t index, uint64_t from, const std::string& ctx) {
  if (from == kNone || from == id_) {
    read_states_.push_back({index, ctx});
    return;
  }
  raftpb::Message resp;
  resp.set_type(raftpb::MSG_READ_INDEX_RESP);
  resp.set_to(from);
  resp.set_index(index);
  resp.add_entries()->set_data(ctx);
  Send(std::move(resp));
}

void Raft::ResetReads() {
  read_queue_.clear();
  read_covered_ = 0;
  read_round_ = 0;
  read_acks_.clear();
  pending_reads_.clear();
}

}  // namespace raft
