#include "raft/rawnode.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "raft/check.h"
#include "raft/errors.h"

namespace raft {
namespace {

bool SameHardState(const raftpb::HardState& a, const raftpb::HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}

bool IsLocalType(raftpb::MessageType t) {
  switch (t) {
    case raftpb::MSG_HUP:
    case raftpb::MSG_BEAT:
    case raftpb::MSG_UNREACHABLE:
    case raftpb::MSG_SNAP_STATUS:
    case raftpb::MSG_CHECK_QUORUM:
      return true;
    default:
      return false;
  }
}

// Messages no correct peer sends and raft's handlers rely on never seeing:
// - an append whose entries are not exactly index+1, index+2, ...
//   (RaftLog::MaybeAppend finds an entry by its position in the message,
//   so a gap or a repeat reads past the entries or leaves the unstable log
//   disagreeing with its own indexes, and the Ready loop never settles);
// - a forwarded proposal without entries (the leader's HandlePropose
//   treats one as a broken invariant and aborts);
// - term 0 for an entry at an index above 0 (an append's log_term or
//   entries, a snapshot's term): every entry has a term of at least 1, and
//   RaftLog::Term answers 0 for an index past the log, so such a message
//   "matches" entries this log does not have and raft appends or commits
//   past its last index;
// - an election message without a term (Raft::Send never sends one: a vote
//   answered to it would carry term 0, which Send treats as a broken
//   invariant);
// - an appended membership change that does not decode (raft decodes each
//   one as it is appended, and one it cannot read is a corrupt log to it).
absl::Status CheckFromPeer(const raftpb::Message& m) {
  const uint64_t n = static_cast<uint64_t>(m.entries_size());
  auto malformed = [&](const char* what) {
    return absl::InvalidArgumentError(absl::StrCat("raft: ", raftpb::MessageType_Name(m.type()), " from ",
                                                   m.from(), " at index ", m.index(), ": ", what));
  };
  if (m.type() == raftpb::MSG_PROP && n == 0) return malformed("a proposal without entries");
  switch (m.type()) {
    case raftpb::MSG_VOTE:
    case raftpb::MSG_VOTE_RESP:
    case raftpb::MSG_PRE_VOTE:
    case raftpb::MSG_PRE_VOTE_RESP:
      if (m.term() == 0) return malformed("an election message without a term");
      break;
    default:
      break;
  }
  if (m.type() == raftpb::MSG_SNAP) {
    const raftpb::SnapshotMetadata& md = m.snapshot().metadata();
    if (md.index() > 0 && md.term() == 0) return malformed("a snapshot of term 0");
  }
  if (m.type() != raftpb::MSG_APP) return absl::OkStatus();
  if (m.index() > 0 && m.log_term() == 0) return malformed("log term 0");
  if (m.index() > UINT64_MAX - n) return malformed("entries past the last index there is");
  for (uint64_t i = 0; i < n; ++i) {
    const raftpb::Entry& e = m.entries(static_cast<int>(i));
    if (e.index() != m.index() + 1 + i) return malformed("entries that do not follow its index in order");
    if (e.term() == 0) return malformed("an entry of term 0");
    if (e.type() == raftpb::ENTRY_CONF_CHANGE && !raftpb::ConfChange().ParseFromString(e.data())) {
      return malformed("a membership change that does not decode");
    }
  }
  return absl::OkStatus();
}

}  // namespace

Bootstrap BootstrapCluster(const std::vector<uint64_t>& voters,
                           const std::vector<uint64_t>& learners) {
  Bootstrap b;
  uint64_t index = 0;
  auto add = [&](uint64_t id, raftpb::ConfChangeType type) {
    raftpb::ConfChange cc;
    cc.set_type(type);
    cc.set_node_id(id);
    raftpb::Entry e;
    e.set_term(1);
    e.set_index(++index);
    e.set_type(raftpb::ENTRY_CONF_CHANGE);
    e.set_data(cc.SerializeAsString());
    b.entries.push_back(std::move(e));
  };
  for (uint64_t id : voters) add(id, raftpb::CONF_CHANGE_ADD_NODE);
  for (uint64_t id : learners) add(id, raftpb::CONF_CHANGE_ADD_LEARNER_NODE);
  b.hard_state.set_term(1);
  b.hard_state.set_commit(index);
  return b;
}

absl::StatusOr<std::unique_ptr<RawNode>> RawNode::Create(const Config& config) {
  auto r = Raft::Create(config);
  if (!r.ok()) return r.status();
  return std::unique_ptr<RawNode>(new RawNode(*std::move(r)));
}

RawNode::RawNode(std::unique_ptr<Raft> r) : raft_(std::move(r)) {
  prev_soft_ = raft_->soft_state();
  prev_hard_ = raft_->hard_state();
}

absl::Status RawNode::Campaign() {
  raftpb::Message m;
  m.set_type(raftpb::MSG_HUP);
  return raft_->Step(std::move(m));
}

absl::Status RawNode::Propose(std::string data) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_PROP);
  m.set_from(raft_->id());
  m.add_entries()->set_data(std::move(data));
  return raft_->Step(std::move(m));
}

absl::Status RawNode::ProposeConfChange(const raftpb::ConfChange& cc) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_PROP);
  m.set_from(raft_->id());
  raftpb::Entry* e = m.add_entries();
  e->set_type(raftpb::ENTRY_CONF_CHANGE);
  e->set_data(cc.SerializeAsString());
  return raft_->Step(std::move(m));
}

absl::Status RawNode::Step(raftpb::Message m) {
  if (IsLocalType(m.type())) {
    return absl::InvalidArgumentError("raft: cannot step a local message type");
  }
  if (absl::Status s = CheckFromPeer(m); !s.ok()) return s;
  // Responses from peers we do not track are harmless; Raft ignores them.
  return raft_->Step(std::move(m));
}

absl::Status RawNode::ReadIndex(std::string ctx) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_READ_INDEX);
  m.add_entries()->set_data(std::move(ctx));
  return raft_->Step(std::move(m));
}

void RawNode::TransferLeader(uint64_t transferee) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_TRANSFER_LEADER);
  m.set_from(transferee);
  (void)raft_->Step(std::move(m));  // ignored when not applicable
}

void RawNode::ReportUnreachable(uint64_t id) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_UNREACHABLE);
  m.set_from(id);
  (void)raft_->Step(std::move(m));
}

void RawNode::ReportSnapshot(uint64_t id, bool ok) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_SNAP_STATUS);
  m.set_from(id);
  m.set_reject(!ok);
  (void)raft_->Step(std::move(m));
}

bool RawNode::HasReady() const {
  const RaftLog& log = raft_->log();
  if (!(raft_->soft_state() == prev_soft_)) return true;
  raftpb::HardState hs = raft_->hard_state();
  if (!SameHardState(hs, prev_hard_)) return true;
  if (log.UnstableSnapshot()) return true;
  if (!log.UnstableEntries().empty() || log.HasNextCommittedEntries()) return true;
  return raft_->HasMessages() || raft_->HasReadStates();
}

Ready RawNode::GetReady() {
  RAFT_CHECK(!awaiting_advance_) << "GetReady called twice without Advance";
  awaiting_advance_ = true;
  Ready rd;
  const RaftLog& log = raft_->log();
  rd.entries = log.UnstableEntries();
  rd.committed_entries = log.NextCommittedEntries();
  if (log.UnstableSnapshot()) rd.snapshot = *log.UnstableSnapshot();
  rd.messages = raft_->TakeMessages();
  rd.read_states = raft_->TakeReadStates();
  SoftState ss = raft_->soft_state();
  if (!(ss == prev_soft_)) {
    rd.soft_state = ss;
    prev_soft_ = ss;
  }
  raftpb::HardState hs = raft_->hard_state();
  bool term_or_vote_changed = hs.term() != prev_hard_.term() || hs.vote() != prev_hard_.vote();
  if (!SameHardState(hs, prev_hard_)) {
    rd.hard_state = hs;
    prev_hard_ = hs;
  }
  // A commit index alone may be lost in a crash (it is recomputed), but
  // entries, votes and terms are promises to other nodes.
  rd.must_sync = !rd.entries.empty() || term_or_vote_changed || rd.snapshot.has_value();
  return rd;
}

void RawNode::Advance(const Ready& rd) {
  RAFT_CHECK(awaiting_advance_) << "Advance without GetReady";
  awaiting_advance_ = false;
  RaftLog& log = raft_->mutable_log();
  uint64_t applied = 0;
  if (rd.snapshot) applied = rd.snapshot->metadata().index();
  if (!rd.committed_entries.empty()) {
    applied = std::max(applied, rd.committed_entries.back().index());
  }
  if (applied > log.applied()) log.AppliedTo(applied);
  if (!rd.entries.empty()) {
    log.StableTo(rd.entries.back().index(), rd.entries.back().term());
    raft_->OnPersisted(rd.entries.back().index(), rd.entries.back().term());
  }
  if (rd.snapshot) log.StableSnapTo(rd.snapshot->metadata().index());
  raft_->OnApplied(log.applied());
}

Status RawNode::GetStatus() const {
  Status s;
  s.id = raft_->id();
  s.soft_state = raft_->soft_state();
  s.hard_state = raft_->hard_state();
  s.applied = raft_->log().applied();
  s.lead_transferee = raft_->lead_transferee();
  s.conf_state = raft_->conf_state();
  return s;
}

}  // namespace raft
