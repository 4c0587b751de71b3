// Log replication: the follower side of AppendEntries, heartbeats and
// InstallSnapshot, and the leader's send path with flow control.
#include "raft/raft.h"

#include "absl/strings/str_cat.h"
#include "raft/check.h"
#include "raft/errors.h"

namespace raft {

// ---- follower side -------------------------------------------------------

void Raft::HandleAppendEntries(const raftpb::Message& m) {
  raftpb::Message resp;
  resp.set_type(raftpb::MSG_APP_RESP);
  resp.set_to(m.from());
  if (m.index() < log_.committed()) {
    // Everything up to our commit is already settled; tell the leader
    // where we are so it can skip ahead.
    resp.set_index(log_.committed());
    Send(std::move(resp));
    return;
  }
  std::vector<raftpb::Entry> ents(m.entries().begin(), m.entries().end());
  auto res = log_.MaybeAppend(m.index(), m.log_term(), m.commit(), ents);
  if (res) {
    if (res->appended_from != 0) {
      // A truncated suffix may have held configuration changes; the new
      // entries may hold others. Both take effect now.
      TruncateConfHistory(res->appended_from - 1);
      std::vector<raftpb::Entry> added(ents.begin() + (res->appended_from - m.index() - 1),
                                       ents.end());
      ApplyConfEntries(added);
      SwitchToCurrentConfig();
    }
    if (m.answer_not_needed() && m.entries_size() == 0) return;
    resp.set_index(res->last_new_index);
    Send(std::move(resp));
    return;
  }
  // Reject with a hint: the last index at or before the probe whose term is
  // at most the leader's term there. The leader can then skip every entry
  // of a conflicting term in one round trip instead of one per entry.
  uint64_t hint = std::min(m.index(), log_.LastIndex());
  auto [hint_index, hint_term] = log_.FindConflictByTerm(hint, m.log_term());
  resp.set_index(m.index());
  resp.set_reject(true);
  resp.set_reject_hint(hint_index);
  resp.set_log_term(hint_term);
  Send(std::move(resp));
}

void Raft::HandleHeartbeat(const raftpb::Message& m) {
  // The leader sends min(match, commit), which is always in our log.
  log_.CommitTo(std::min(m.commit(), log_.LastIndex()));
  raftpb::Message resp;
  resp.set_type(raftpb::MSG_HEARTBEAT_RESP);
  resp.set_to(m.from());
  resp.set_context(m.context());
  Send(std::move(resp));
}

void Raft::HandleSnapshot(const raftpb::Message& m) {
  raftpb::Message resp;
  resp.set_type(raftpb::MSG_APP_RESP);
  resp.set_to(m.from());
  resp.set_index(Restore(m.snapshot()) ? log_.LastIndex() : log_.committed());
  Send(std::move(resp));
}

bool Raft::Restore(const raftpb::Snapshot& s) {
  const auto& md = s.metadata();
  if (md.index() <= log_.committed()) return false;
  if (log_.MatchTerm(md.index(), md.term())) {
    // We already have the snapshot's last entry, so by log matching its
    // whole prefix: just fast-forward the commit index.
    log_.CommitTo(md.index());
    return false;
  }
  log_.Restore(s);
  conf_history_.clear();
  conf_history_.emplace_back(md.index(), md.conf_state());
  trk_.progress().clear();
  SwitchToCurrentConfig();
  return true;
}

// ---- leader side ---------------------------------------------------------

void Raft::AppendEntries(std::vector<raftpb::Entry> entries) {
  uint64_t li = log_.LastIndex();
  for (size_t i = 0; i < entries.size(); ++i) {
    entries[i].set_term(term_);
    entries[i].set_index(li + 1 + i);
  }
  log_.Append(entries);
  ApplyConfEntries(entries);
  SwitchToCurrentConfig();
  // The leader's own copy counts toward commit only once it is durable
  // (OnPersisted). So the application may send these entries before or
  // while it fsyncs them (thesis §10.2.1) without a commit ever resting
  // on an unwritten copy.
}

void Raft::OnPersisted(uint64_t index, uint64_t term) {
  if (state_ != StateType::kLeader) return;
  Progress* self = trk_.Get(id_);
  // (index, term) may have been replaced since the Ready was produced.
  if (self == nullptr || !log_.MatchTerm(index, term)) return;
  if (self->MaybeUpdate(index) && LeaderMaybeCommit() && state_ == StateType::kLeader) {
    BroadcastCommit();
  }
}

bool Raft::MaybeSendAppend(uint64_t to, bool send_if_empty, bool commit_news) {
  Progress* pr = trk_.Get(to);
  if (pr == nullptr || pr->IsPaused()) return false;
  raftpb::Message m;
  m.set_to(to);
  auto term = log_.Term(pr->next - 1);
  auto ents = log_.Entries(pr->next, max_msg_size_);
  if (term.ok() && ents.ok() && ents->empty() && !send_if_empty) return false;

  if (!term.ok() || !ents.ok()) {
    // The follower needs entries we compacted: send a snapshot, but only
    // to a follower that is alive (it is large).
    if (!pr->recent_active) return false;
    auto snap = log_.Snapshot();
    if (!snap.ok()) {
      if (IsSnapshotTemporarilyUnavailable(snap.status())) return false;
      RAFT_FATAL() << "raft " << id_ << ": snapshot unavailable: " << snap.status();
    }
    RAFT_CHECK_NE(snap->metadata().index(), 0u) << "need a non-empty snapshot";
    m.set_type(raftpb::MSG_SNAP);
    *m.mutable_snapshot() = *std::move(snap);
    pr->BecomeSnapshot(m.snapshot().metadata().index());
    Send(std::move(m));
    return true;
  }

  m.set_type(raftpb::MSG_APP);
  m.set_index(pr->next - 1);
  m.set_log_term(*term);
  m.set_commit(log_.committed());
  for (auto& e : *ents) *m.add_entries() = std::move(e);
  if (m.entries_size() > 0) {
    uint64_t last = m.entries(m.entries_size() - 1).index();
    if (pr->state == ProgressState::kReplicate) {
      // Pipelining: assume success and move on; a rejection rewinds.
      pr->OptimisticUpdate(last);
      pr->inflights.Add(last);
    }
  }
  // Spreading a commit to a follower in Replicate with nothing new to send:
  // accepted, the answer would report next - 1, which the follower has
  // acknowledged already or will in its answer to the append that sent it.
  // So it is not asked for (one message each way per follower per write,
  // with one client). If that earlier answer is lost, the heartbeat
  // response's append (not commit news) is answered and repairs the match.
  // Rejections are always answered, and Probe needs every answer.
  if (commit_news && m.entries_size() == 0 && pr->state == ProgressState::kReplicate) {
    m.set_answer_not_needed(true);
  }
  // In Probe, one append per heartbeat round trip until we learn where
  // the follower's log ends.
  if (pr->state == ProgressState::kProbe) pr->probe_sent = true;
  Send(std::move(m));
  return true;
}

void Raft::BroadcastAppend() {
  for (auto& [id, pr] : trk_.progress()) {
    if (id != id_) SendAppend(id);
  }
}

void Raft::BroadcastCommit() {
  for (auto& [id, pr] : trk_.progress()) {
    if (id != id_) MaybeSendAppend(id, true, /*commit_news=*/true);
  }
}

void Raft::BroadcastHeartbeat() {
  // Every heartbeat carries the in-flight ReadIndex round, so a lost
  // heartbeat only delays the round by one interval.
  std::string ctx = read_round_ != 0 ? absl::StrCat(read_round_) : "";
  for (auto& [id, pr] : trk_.progress()) {
    if (id != id_) SendHeartbeat(id, ctx);
  }
}

void Raft::SendHeartbeat(uint64_t to, const std::string& ctx) {
  const Progress* pr = trk_.Get(to);
  raftpb::Message m;
  m.set_type(raftpb::MSG_HEARTBEAT);
  m.set_to(to);
  // Never tell a follower to commit past what it is known to hold: its log
  // may still lack (or disagree on) the entries after match.
  m.set_commit(std::min(pr->match, log_.committed()));
  m.set_context(ctx);
  Send(std::move(m));
}

void Raft::SendTimeoutNow(uint64_t to) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_TIMEOUT_NOW);
  m.set_to(to);
  Send(std::move(m));
}

}  // namespace raft
