// Roles, elections and the common part of Step. See raft.h for the
// contract; the leader's Step is in raft_leader.cc, log replication in
// raft_replication.cc and membership in raft_confchange.cc.
#include "raft/raft.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "raft/check.h"
#include "raft/errors.h"

namespace raft {

const char* StateName(StateType s) {
  switch (s) {
    case StateType::kFollower: return "Follower";
    case StateType::kPreCandidate: return "PreCandidate";
    case StateType::kCandidate: return "Candidate";
    case StateType::kLeader: return "Leader";
  }
  return "?";
}

absl::Status Config::Validate() const {
  if (id == kNone) return absl::InvalidArgumentError("raft: id must not be 0");
  if (storage == nullptr) return absl::InvalidArgumentError("raft: storage is required");
  if (heartbeat_tick <= 0) return absl::InvalidArgumentError("raft: heartbeat_tick must be > 0");
  if (election_tick <= heartbeat_tick) {
    return absl::InvalidArgumentError("raft: election_tick must be > heartbeat_tick");
  }
  if (max_inflight_msgs <= 0) return absl::InvalidArgumentError("raft: max_inflight_msgs must be > 0");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Raft>> Raft::Create(const Config& c) {
  if (absl::Status s = c.Validate(); !s.ok()) return s;
  auto is = c.storage->GetInitialState();
  if (!is.ok()) return is.status();
  std::unique_ptr<Raft> r(new Raft(c));
  RaftLog& log = r->log_;

  // The configuration: the snapshot's, then every configuration entry
  // still in the log, since a change is in effect once appended.
  r->conf_history_.emplace_back(log.FirstIndex() - 1, is->conf_state);
  if (log.LastIndex() >= log.FirstIndex()) {
    auto ents = log.Slice(log.FirstIndex(), log.LastIndex() + 1, kNoLimit);
    if (!ents.ok()) return ents.status();
    r->ApplyConfEntries(*ents);
  }
  r->trk_.SetConfig(r->conf_state(), log.LastIndex() + 1);

  const raftpb::HardState& hs = is->hard_state;
  if (hs.commit() > log.LastIndex()) {
    // The commit index is persisted with (after) the entries it covers.
    return absl::DataLossError(absl::StrCat("raft: hard state commit ", hs.commit(),
                                            " is past the last index ", log.LastIndex()));
  }
  log.CommitTo(hs.commit());  // a commit below the snapshot index is implied
  r->term_ = hs.term();
  r->vote_ = hs.vote();
  if (c.applied > 0) {
    if (c.applied > log.committed()) {
      return absl::InvalidArgumentError(absl::StrCat("raft: applied ", c.applied,
                                                     " is past commit ", log.committed()));
    }
    if (c.applied < log.applied()) {
      return absl::InvalidArgumentError(
          absl::StrCat("raft: applied ", c.applied, " is below the snapshot index ",
                       log.applied(), "; restore the state machine from the snapshot first"));
    }
    log.AppliedTo(c.applied);
  }
  r->BecomeFollower(r->term_, kNone);
  return r;
}

Raft::Raft(const Config& c)
    : id_(c.id),
      log_(c.storage, c.max_committed_size_per_ready),
      trk_(c.max_inflight_msgs),
      election_timeout_(c.election_tick),
      heartbeat_timeout_(c.heartbeat_tick),
      check_quorum_(c.check_quorum),
      pre_vote_(c.pre_vote),
      disable_proposal_forwarding_(c.disable_proposal_forwarding),
      max_msg_size_(c.max_size_per_msg),
      rng_(c.random_seed ^ (c.id * 0x9E3779B97F4A7C15ull)) {}

raftpb::HardState Raft::hard_state() const {
  raftpb::HardState hs;
  hs.set_term(term_);
  hs.set_vote(vote_);
  hs.set_commit(log_.committed());
  return hs;
}

// ---- roles ---------------------------------------------------------------

void Raft::Reset(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNone;
  }
  lead_ = kNone;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  trk_.ResetVotes();
  uint64_t last = log_.LastIndex();
  // Rebuild progress so that every member starts fresh from our log end.
  trk_.progress().clear();
  trk_.SetConfig(conf_state(), last + 1);
  for (auto& [id, pr] : trk_.progress()) {
    pr.recent_active = false;
    // Our own match is what is durable; unstable entries count once
    // persisted (OnPersisted).
    if (id == id_) pr.match = std::min(last, log_.StableLastIndex());
  }
  ResetReads();
}

void Raft::ResetRandomizedElectionTimeout() {
  randomized_election_timeout_ =
      election_timeout_ + static_cast<int>(rng_() % static_cast<uint64_t>(election_timeout_));
}

void Raft::BecomeFollower(uint64_t term, uint64_t lead) {
  step_ = &Raft::StepFollower;
  Reset(term);
  tick_ = &Raft::TickElection;
  lead_ = lead;
  state_ = StateType::kFollower;
}

void Raft::BecomePreCandidate() {
  RAFT_CHECK(state_ != StateType::kLeader) << "leader cannot become pre-candidate";
  // A pre-candidate changes neither term nor vote: losing the pre-vote
  // leaves no trace that could disrupt the cluster.
  step_ = &Raft::StepCandidate;
  trk_.ResetVotes();
  tick_ = &Raft::TickElection;
  lead_ = kNone;
  state_ = StateType::kPreCandidate;
}

void Raft::BecomeCandidate() {
  RAFT_CHECK(state_ != StateType::kLeader) << "leader cannot become candidate";
  step_ = &Raft::StepCandidate;
  Reset(term_ + 1);
  tick_ = &Raft::TickElection;
  vote_ = id_;
  state_ = StateType::kCandidate;
}

void Raft::BecomeLeader() {
  RAFT_CHECK(state_ != StateType::kFollower) << "follower cannot become leader directly";
  step_ = &Raft::StepLeader;
  Reset(term_);
  tick_ = &Raft::TickHeartbeat;
  lead_ = id_;
  state_ = StateType::kLeader;
  if (Progress* self = trk_.Get(id_)) {
    self->BecomeReplicate();
    self->recent_active = true;
  }
  // The no-op of §8: commits everything from earlier terms, and marks the
  // point after which ReadIndex may be served.
  AppendEntries({raftpb::Entry()});
}

// ---- elections -----------------------------------------------------------

void Raft::Hup(CampaignType t) {
  if (state_ == StateType::kLeader) return;
  if (!CanCampaign()) return;  // learners and removed nodes never campaign
  Campaign(t);
}

void Raft::Campaign(CampaignType t) {
  uint64_t term;
  raftpb::MessageType vote_type;
  if (t == CampaignType::kPreElection) {
    BecomePreCandidate();
    vote_type = raftpb::MSG_PRE_VOTE;
    term = term_ + 1;  // the term we would campaign in
  } else {
    BecomeCandidate();
    vote_type = raftpb::MSG_VOTE;
    term = term_;
  }
  if (Poll(id_, true) == VoteResult::kWon) {
    // A lone voter wins at once.
    if (t == CampaignType::kPreElection) {
      Campaign(CampaignType::kElection);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (uint64_t id : trk_.voters()) {
    if (id == id_) continue;
    raftpb::Message m;
    m.set_type(vote_type);
    m.set_to(id);
    m.set_term(term);
    m.set_index(log_.LastIndex());
    m.set_log_term(log_.LastTerm());
    if (t == CampaignType::kTransfer) m.set_context(kCampaignTransfer);
    Send(std::move(m));
  }
}

VoteResult Raft::Poll(uint64_t id, bool granted) {
  trk_.RecordVote(id, granted);
  return trk_.TallyVotes(nullptr, nullptr);
}

bool Raft::HandleVoteRequest(const raftpb::Message& m) {
  bool pre = m.type() == raftpb::MSG_PRE_VOTE;
  // We may vote for m.from if we already did (a retransmission), if we
  // have neither voted nor know a leader in this term, or, for a pre-vote,
  // if it is for a future term (a pre-vote changes nothing).
  bool can_vote = vote_ == m.from() || (vote_ == kNone && lead_ == kNone) ||
                  (pre && m.term() > term_);
  raftpb::Message resp;
  resp.set_to(m.from());
  resp.set_type(pre ? raftpb::MSG_PRE_VOTE_RESP : raftpb::MSG_VOTE_RESP);
  bool granted = can_vote && log_.IsUpToDate(m.index(), m.log_term());
  if (granted) {
    // Answer in the candidate's term: for a pre-vote our own term may be
    // lower, and the pre-candidate must recognise the reply.
    resp.set_term(m.term());
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from();
    }
  } else {
    resp.set_term(term_);
    resp.set_reject(true);
  }
  Send(std::move(resp));
  return granted;
}

// ---- ticks ---------------------------------------------------------------

void Raft::Tick() { (this->*tick_)(); }

void Raft::TickElection() {
  ++election_elapsed_;
  if (CanCampaign() && PastElectionTimeout()) {
    election_elapsed_ = 0;
    raftpb::Message m;
    m.set_type(raftpb::MSG_HUP);
    m.set_from(id_);
    (void)Step(std::move(m));  // MSG_HUP always returns Ok
  }
}

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= election_timeout_) {
    election_elapsed_ = 0;
    if (check_quorum_) {
      raftpb::Message m;
      m.set_type(raftpb::MSG_CHECK_QUORUM);
      m.set_from(id_);
      (void)Step(std::move(m));
    }
    // A transfer that did not finish within an election timeout is
    // abandoned so that proposals flow again.
    if (state_ == StateType::kLeader && lead_transferee_ != kNone) AbortLeaderTransfer();
  }
  if (state_ != StateType::kLeader) return;
  if (heartbeat_elapsed_ >= heartbeat_timeout_) {
    heartbeat_elapsed_ = 0;
    raftpb::Message m;
    m.set_type(raftpb::MSG_BEAT);
    m.set_from(id_);
    (void)Step(std::move(m));
  }
}

// ---- messages ------------------------------------------------------------

void Raft::Send(raftpb::Message m) {
  m.set_from(id_);
  switch (m.type()) {
    case raftpb::MSG_VOTE:
    case raftpb::MSG_VOTE_RESP:
    case raftpb::MSG_PRE_VOTE:
    case raftpb::MSG_PRE_VOTE_RESP:
      // Election messages carry the term they are about, which for
      // pre-votes is not our current term.
      RAFT_CHECK_NE(m.term(), 0u) << "election message without a term";
      break;
    case raftpb::MSG_PROP:
    case raftpb::MSG_READ_INDEX:
      // Forwarded requests are not bound to a term: the leader accepts
      // them whatever term the forwarder is in.
      break;
    default:
      RAFT_CHECK_EQ(m.term(), 0u) << "term set on " << raftpb::MessageType_Name(m.type());
      m.set_term(term_);
  }
  msgs_.push_back(std::move(m));
}

absl::Status Raft::Step(raftpb::Message m) {
  // A vote request from a higher term that we end up rejecting must not
  // restart our election timer (Raft paper, Figure 2: the timer restarts
  // on granting a vote). Otherwise a candidate with a stale log, timing
  // out over and over, keeps the up-to-date nodes from ever campaigning.
  std::optional<std::pair<int, int>> timer_before_vote;
  if (m.term() == 0) {
    // Local message.
  } else if (m.term() > term_) {
    if (m.type() == raftpb::MSG_VOTE || m.type() == raftpb::MSG_PRE_VOTE) {
      bool force = m.context() == kCampaignTransfer;
      // Vote lease (thesis §4.2.3): while we hear from a live leader, a
      // (pre-)candidate is most likely a partitioned node coming back; do
      // not let it depose the leader, and do not even raise our term.
      bool in_lease = check_quorum_ && lead_ != kNone && election_elapsed_ < election_timeout_;
      if (!force && in_lease) return absl::OkStatus();
    }
    if (m.type() == raftpb::MSG_PRE_VOTE) {
      // Never change term for a pre-vote request.
    } else if (m.type() == raftpb::MSG_PRE_VOTE_RESP && !m.reject()) {
      // A granted pre-vote is answered in the future term; we move to it
      // only if we win and start the real election.
    } else if (m.type() == raftpb::MSG_APP || m.type() == raftpb::MSG_HEARTBEAT ||
               m.type() == raftpb::MSG_SNAP) {
      BecomeFollower(m.term(), m.from());
    } else {
      if (m.type() == raftpb::MSG_VOTE) {
        timer_before_vote.emplace(election_elapsed_, randomized_election_timeout_);
      }
      BecomeFollower(m.term(), kNone);
    }
  } else if (m.term() < term_) {
    if ((check_quorum_ || pre_vote_) &&
        (m.type() == raftpb::MSG_HEARTBEAT || m.type() == raftpb::MSG_APP)) {
      // A stale leader (perhaps back from a partition) would otherwise
      // never learn our term; with check-quorum or pre-vote we never bump
      // its followers' terms by voting, so tell it here.
      raftpb::Message resp;
      resp.set_type(raftpb::MSG_APP_RESP);
      resp.set_to(m.from());
      Send(std::move(resp));
    } else if (m.type() == raftpb::MSG_PRE_VOTE) {
      raftpb::Message resp;
      resp.set_type(raftpb::MSG_PRE_VOTE_RESP);
      resp.set_to(m.from());
      resp.set_term(term_);
      resp.set_reject(true);
      Send(std::move(resp));
    }
    return absl::OkStatus();  // ignore other stale messages
  }

  switch (m.type()) {
    case raftpb::MSG_HUP:
      if (state_ != StateType::kLeader) {
        Hup(pre_vote_ ? CampaignType::kPreElection : CampaignType::kElection);
      }
      return absl::OkStatus();
    case raftpb::MSG_VOTE:
    case raftpb::MSG_PRE_VOTE:
      if (!HandleVoteRequest(m) && timer_before_vote) {
        std::tie(election_elapsed_, randomized_election_timeout_) = *timer_before_vote;
      }
      return absl::OkStatus();
    default:
      return (this->*step_)(m);
  }
}

absl::Status Raft::StepFollower(raftpb::Message& m) {
  switch (m.type()) {
    case raftpb::MSG_PROP:
      if (lead_ == kNone || disable_proposal_forwarding_) return ProposalDroppedError();
      m.set_to(lead_);
      Send(std::move(m));
      return absl::OkStatus();
    case raftpb::MSG_APP:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleAppendEntries(m);
      return absl::OkStatus();
    case raftpb::MSG_HEARTBEAT:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleHeartbeat(m);
      return absl::OkStatus();
    case raftpb::MSG_SNAP:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleSnapshot(m);
      return absl::OkStatus();
    case raftpb::MSG_TRANSFER_LEADER:
      if (lead_ == kNone) return absl::OkStatus();
      m.set_to(lead_);
      m.set_term(0);
      Send(std::move(m));
      return absl::OkStatus();
    case raftpb::MSG_TIMEOUT_NOW:
      // The leader is handing over to us: campaign at once, skipping
      // pre-vote and the vote lease, since the leader itself asked.
      if (CanCampaign()) Hup(CampaignType::kTransfer);
      return absl::OkStatus();
    case raftpb::MSG_READ_INDEX:
      if (lead_ == kNone) return ProposalDroppedError();  // the caller retries
      m.set_to(lead_);
      Send(std::move(m));
      return absl::OkStatus();
    case raftpb::MSG_READ_INDEX_RESP:
      if (m.entries_size() != 1) {
        return absl::OkStatus();
      }
      read_states_.push_back({m.index(), m.entries(0).data()});
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status Raft::StepCandidate(raftpb::Message& m) {
  // Only answers for the kind of election we run count.
  raftpb::MessageType my_resp = state_ == StateType::kPreCandidate
                                    ? raftpb::MSG_PRE_VOTE_RESP
                                    : raftpb::MSG_VOTE_RESP;
  switch (m.type()) {
    case raftpb::MSG_PROP:
    case raftpb::MSG_READ_INDEX:
      return ProposalDroppedError();  // no leader to serve it yet
    case raftpb::MSG_APP:
      BecomeFollower(m.term(), m.from());  // a leader of our term exists
      HandleAppendEntries(m);
      return absl::OkStatus();
    case raftpb::MSG_HEARTBEAT:
      BecomeFollower(m.term(), m.from());
      HandleHeartbeat(m);
      return absl::OkStatus();
    case raftpb::MSG_SNAP:
      BecomeFollower(m.term(), m.from());
      HandleSnapshot(m);
      return absl::OkStatus();
    case raftpb::MSG_PRE_VOTE_RESP:
    case raftpb::MSG_VOTE_RESP: {
      if (m.type() != my_resp) return absl::OkStatus();
      switch (Poll(m.from(), !m.reject())) {
        case VoteResult::kWon:
          if (state_ == StateType::kPreCandidate) {
            Campaign(CampaignType::kElection);
          } else {
            BecomeLeader();
            BroadcastAppend();
          }
          break;
        case VoteResult::kLost:
          // A rejection in a higher term already made us a follower in
          // Step; this covers rejections in our own term.
          BecomeFollower(term_, kNone);
          break;
        case VoteResult::kPending:
          break;
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

// ---- invariants ----------------------------------------------------------

void Raft::CheckInvariants() const {
  log_.CheckInvariants();
  RAFT_CHECK(!conf_history_.empty());
  for (size_t i = 1; i < conf_history_.size(); ++i) {
    RAFT_CHECK_LT(conf_history_[i - 1].first, conf_history_[i].first);
  }
  RAFT_CHECK_LE(conf_history_.back().first, log_.LastIndex());
  if (state_ == StateType::kLeader) {
    RAFT_CHECK_EQ(lead_, id_);
    RAFT_CHECK_EQ(vote_, id_) << "a leader votes for itself in its term";
    for (const auto& [id, pr] : trk_.progress()) {
      RAFT_CHECK_LT(pr.match, pr.next) << "progress of " << id << ": " << pr.ToString();
      RAFT_CHECK_LE(pr.match, log_.LastIndex()) << "progress of " << id << ": " << pr.ToString();
    }
    // The commit index is always backed by a quorum (or the configuration
    // shrank under it, which only ever makes it easier to reach).
  }
  if (state_ == StateType::kCandidate) RAFT_CHECK_EQ(vote_, id_);
}

}  // namespace raft
