// RaftMember's loop thread: ticks, the inbox, the Ready contract
// (raft/rawnode.h) and the waiters of requests and reads.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"
#include "server/replication/raft_member.h"
#include "server/state/errors.h"

namespace server {

void RaftMember::Loop() {
  absl::Time next_tick = clock_.Now() + opts_.tick;
  CampaignIfSoleVoter();
  while (true) {
    Inbox in;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Recomputed from the clock every round, so that a clock that jumps
      // is honoured on the next wake-up (base/clock.h).
      const absl::Duration wait = std::max(next_tick - clock_.Now(), absl::ZeroDuration());
      cv_.wait_for(lock, absl::ToChronoNanoseconds(wait),
                   [&] { return stopping_ || !inbox_.empty(); });
      if (stopping_) return;
      std::swap(in, inbox_);
    }
    const absl::Time now = clock_.Now();
    if (now >= next_tick) {
      node_->Tick();
      next_tick += opts_.tick;
      if (next_tick < now) next_tick = now + opts_.tick;  // after a stall, do not burst
      ExpireWaiters(now);
    }
    HandleInbox(in, now);
    HandleReady();
    // A Ready may have named a leader: what waited for one goes now.
    if (!parked_proposals_.empty() || !parked_reads_.empty()) {
      RetryParked();
      HandleReady();
    }
  }
}

void RaftMember::CampaignIfSoleVoter() {
  // A sole voter has nobody to wait for: it campaigns at once instead of
  // after an election timeout (etcd fast-forwards its ticks on boot for
  // the same reason), so a restarted single member serves in ms, not s.
  const raftpb::ConfState cs = node_->ConfState();
  if (cs.voters_size() != 1 || cs.voters(0) != opts_.id) return;
  if (absl::Status s = node_->Campaign(); !s.ok()) {
    logger_.Warn("campaign on boot failed", {{"error", std::string(s.message())}});
  }
  HandleReady();
}

void RaftMember::HandleInbox(Inbox& in, absl::Time now) {
  const absl::Time deadline = now + opts_.request_timeout;
  for (const auto& [arrived, count] : in.message_arrivals) stages_.peer_wait.Observe(now - arrived, count);
  for (auto& m : in.messages) {
    // A membership change a follower forwarded that this leader cannot
    // take yet is retried here: the follower hears of no refusal, and its
    // waiter is answered when the change applies there.
    std::optional<raftpb::ConfChange> forwarded;
    if (m.type() == raftpb::MSG_PROP && m.entries_size() == 1 &&
        m.entries(0).type() == raftpb::ENTRY_CONF_CHANGE) {
      forwarded.emplace();
      if (!forwarded->ParseFromString(m.entries(0).data())) forwarded.reset();
    }
    // Other errors are refusals of stale or foreign messages; raft recovers.
    const absl::Status st = node_->Step(std::move(m));
    if (forwarded && raft::IsConfChangeBusy(st)) {
      parked_proposals_.push_back(
          ParkedProposal{Proposal{{}, std::move(*forwarded), [](ProposeResult) {}}, deadline});
    }
  }
  for (uint64_t id : in.unreachable) node_->ReportUnreachable(id);
  for (auto [id, ok] : in.snapshot_reports) node_->ReportSnapshot(id, ok);
  for (auto& p : in.proposals) {
    stages_.propose_wait.Observe(now - p.accepted);
    parked_proposals_.push_back(ParkedProposal{std::move(p), deadline});
  }
  for (auto& r : in.reads) parked_reads_.push_back(ReadWaiter{std::move(r), deadline});
  for (auto& t : in.tasks) t(false);
  RetryParked();
}

void RaftMember::RetryParked() {
  if (leader_.load() == 0) return;
  std::vector<ParkedProposal> proposals;
  proposals.swap(parked_proposals_);
  for (auto& parked : proposals) {
    Proposal& p = parked.p;
    const uint64_t id = p.id();
    auto st = p.conf_change ? node_->ProposeConfChange(*p.conf_change)
                            : node_->Propose(p.req.SerializeAsString());
    if (raft::IsProposalDropped(st) || raft::IsConfChangeBusy(st)) {
      // Leadership is moving, or the previous membership change (or a new
      // leader's first entry) is not committed yet: try again next turn.
      parked_proposals_.push_back(std::move(parked));
      continue;
    }
    if (!st.ok()) {
      // A refused membership change keeps raft's own status, so that the
      // caller can tell it with raft::IsConfChangeRejected.
      p.done(raft::IsConfChangeRejected(st) ? st : absl::UnavailableError(st.message()));
      continue;
    }
    waiters_[id] = Waiter{std::move(p.done), parked.deadline, p.accepted};
  }
  if (!parked_reads_.empty()) {
    // Every barrier waiting now shares one ReadIndex round.
    std::string ctx = absl::StrCat(opts_.id, "/", next_read_ctx_++);
    if (!node_->ReadIndex(ctx).ok()) return;  // no leader after all: stay parked
    auto& round = read_rounds_[ctx];
    for (auto& r : parked_reads_) round.push_back(std::move(r));
    parked_reads_.clear();
  }
}

void RaftMember::HandleReady() {
  while (node_->HasReady()) {
    raft::Ready rd = node_->GetReady();
    if (rd.soft_state) {
      const uint64_t old_leader = leader_.exchange(rd.soft_state->lead);
      if (old_leader != rd.soft_state->lead) {
        appended_.clear();  // what this member appended as leader is no longer timed
        if (rd.soft_state->lead != 0) leader_changes_.fetch_add(1, std::memory_order_relaxed);
        // A ReadIndex round in flight may never be answered by a leader that
        // lost its role: ask the new leader.
        for (auto& [ctx, ws] : read_rounds_) {
          for (auto& w : ws) parked_reads_.push_back(std::move(w));
        }
        read_rounds_.clear();
        for (auto it = transfers_.begin(); it != transfers_.end();) {
          if (it->target != rd.soft_state->lead) {
            ++it;
            continue;
          }
          it->w.done(absl::OkStatus());
          it = transfers_.erase(it);
        }
      }
    }
    if (rd.hard_state) {
      term_.store(rd.hard_state->term());
      commit_index_.store(rd.hard_state->commit());
    }
    if (rd.snapshot) InstallSnapshot(*rd.snapshot);
    // Advance does not read the messages, so they are moved, not copied
    // (a MsgApp carries its entries). Snapshots go on their own stream.
    std::vector<raftpb::Message> out;
    out.reserve(rd.messages.size());
    for (auto& m : rd.messages) {
      if (m.type() == raftpb::MSG_SNAP) {
        SendSnapshot(std::move(m));
      } else {
        out.push_back(std::move(m));
      }
    }
    const bool leading = leader_.load() == opts_.id;
    // A leader's Ready that appends nothing but commits entries carries
    // only commit news for the followers (and heartbeats): its waiters are
    // answered first, so that waking the followers does not compete with
    // the answer for the cores (raft allows a leader to send at any time).
    const bool answer_first = leading && rd.entries.empty() && !rd.snapshot &&
                              !rd.committed_entries.empty();
    std::vector<raftpb::Message> later;
    if (answer_first) later.swap(out);
    Persist(rd, std::move(out), leading);
    // Membership takes effect when appended (raft.h), not when applied.
    if (!rd.entries.empty() || rd.snapshot) PublishConfState();
    // 3. Apply.
    Apply(rd.committed_entries);
    if (!later.empty()) transport_->Send(std::move(later));
    // 4. Reads.
    for (const auto& rs : rd.read_states) {
      auto it = read_rounds_.find(rs.request_ctx);
      if (it == read_rounds_.end()) continue;
      ready_reads_.emplace_back(rs.index, std::move(it->second));
      read_rounds_.erase(it);
    }
    ServeReads();
    node_->Advance(rd);
    MaybeSnapshot();
  }
}

void RaftMember::Persist(raft::Ready& rd, std::vector<raftpb::Message> out, bool leading) {
  if (leading && !rd.entries.empty()) {
    // The replication stage (write_stages.h) starts before the send.
    appended_.push_back(Appended{rd.entries.front().index(), rd.entries.back().index(), clock_.Now()});
  }
  // A leader's messages promise nothing about its own disk (raft counts
  // the leader's copy of an entry only after Advance), so the leader sends
  // them before its fdatasync and the two overlap (thesis §10.2.1). Any
  // other node's messages (votes, acknowledgements) wait for the sync.
  if (leading && !out.empty()) transport_->Send(std::move(out));
  // 1. Persist: one durable write (one fdatasync when raft needs it).
  const absl::Time save_start = rd.must_sync ? clock_.Now() : absl::InfinitePast();
  if (auto s = persistence_->Save(rd.hard_state, rd.entries, rd.must_sync); !s.ok()) {
    Fatal("writing the raft log", s);
  }
  if (rd.must_sync) {
    const absl::Duration took = clock_.Now() - save_start;
    wal_fsync_.Observe(took);
    stages_.wal_append.Observe(took, rd.entries.size());
  }
  if (!rd.entries.empty()) {
    log_writes_.fetch_add(1, std::memory_order_relaxed);
    if (auto s = log_cache_->Append(rd.entries); !s.ok()) Fatal("caching raft entries", s);
  }
  if (rd.hard_state) log_cache_->SetHardState(*rd.hard_state);
  // 2. Send (everything, when not leading).
  if (!leading && !out.empty()) transport_->Send(std::move(out));
}

void RaftMember::ServeReads() {
  const uint64_t applied = store_->AppliedIndex();
  for (auto it = ready_reads_.begin(); it != ready_reads_.end();) {
    if (it->first > applied) {
      ++it;
      continue;
    }
    for (auto& w : it->second) w.done(absl::OkStatus());
    it = ready_reads_.erase(it);
  }
}

namespace {

// Answers "request timed out" to every waiter of `c` whose deadline has
// passed; `deadline` and `answer` reach into one element.
template <typename C, typename Deadline, typename Answer>
void ExpireFrom(C& c, absl::Time now, Deadline deadline, Answer answer) {
  for (auto it = c.begin(); it != c.end();) {
    if (deadline(*it) > now) {
      ++it;
      continue;
    }
    auto item = std::move(*it);
    it = c.erase(it);
    answer(item);
  }
}

}  // namespace

void RaftMember::ExpireWaiters(absl::Time now) {
  const auto timeout = [](auto& done) { done(TimeoutError()); };
  const auto group_deadline = [](const auto& ws) {
    absl::Time latest = absl::InfinitePast();
    for (const auto& w : ws) latest = std::max(latest, w.deadline);
    return latest;
  };
  const auto answer_group = [&](auto& ws) {
    for (auto& w : ws) timeout(w.done);
  };
  ExpireFrom(waiters_, now, [](const auto& kv) { return kv.second.deadline; },
             [&](auto& kv) { timeout(kv.second.done); });
  ExpireFrom(parked_proposals_, now, [](const auto& p) { return p.deadline; },
             [&](auto& p) { timeout(p.p.done); });
  ExpireFrom(parked_reads_, now, [](const auto& r) { return r.deadline; },
             [&](auto& r) { timeout(r.done); });
  ExpireFrom(transfers_, now, [](const auto& t) { return t.w.deadline; },
             [](auto& t) { t.w.done(TimeoutLeaderTransferError()); });
  // Reads whose index this member never reaches (it fell behind), and
  // rounds the leader never confirmed, must still be answered.
  ExpireFrom(ready_reads_, now, [&](const auto& p) { return group_deadline(p.second); },
             [&](auto& p) { answer_group(p.second); });
  ExpireFrom(read_rounds_, now, [&](const auto& p) { return group_deadline(p.second); },
             [&](auto& p) { answer_group(p.second); });
}

}  // namespace server
