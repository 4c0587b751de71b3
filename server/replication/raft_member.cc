#include "server/replication/raft_member.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"
#include "server/state/errors.h"
#include "server/state/membership.h"
#include "storage/snapshot_install.h"

namespace server {
RaftMember::RaftMember(RaftMemberOptions opts, std::unique_ptr<raft::RawNode> node,
                       raft::MemoryStorage* log_cache, RaftPersistence* persistence,
                       storage::MvccStore* store, const Applier* applier, PeerTransport* transport)
    : opts_(opts),
      node_(std::move(node)),
      log_cache_(log_cache),
      persistence_(persistence),
      store_(store),
      applier_(applier),
      transport_(transport),
      // As etcd: a time-based start keeps ids unique across restarts.
      request_seq_(static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())) << 8) {
  auto first = log_cache_->FirstIndex();
  snapshot_index_ = first.ok() && *first > 0 ? *first - 1 : 0;
  term_ = node_->GetStatus().hard_state.term();
}

RaftMember::~RaftMember() { Stop(); }

uint64_t RaftMember::NextRequestId() {
  const uint64_t suffix = request_seq_.fetch_add(1, std::memory_order_relaxed) & ((1ull << 48) - 1);
  return ((opts_.id & 0xffff) << 48) | suffix;
}

void RaftMember::Start() { loop_ = std::thread([this] { Loop(); }); }

void RaftMember::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !loop_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  Inbox left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::swap(left, inbox_);
  }
  for (auto& p : left.proposals) p.second(StoppedError());
  for (auto& r : left.reads) r(StoppedError());
  for (auto& [id, w] : waiters_) w.done(StoppedError());
  waiters_.clear();
  for (auto& [ctx, ws] : read_rounds_) for (auto& w : ws) w.done(StoppedError());
  read_rounds_.clear();
  for (auto& [index, ws] : ready_reads_) for (auto& w : ws) w.done(StoppedError());
  ready_reads_.clear();
  for (auto& p : parked_proposals_) p.done(StoppedError());
  parked_proposals_.clear();
  for (auto& r : parked_reads_) r.done(StoppedError());
  parked_reads_.clear();
}

void RaftMember::Deliver(std::vector<raftpb::Message> msgs) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  for (auto& m : msgs) inbox_.messages.push_back(std::move(m));
  cv_.notify_one();
}

void RaftMember::ReportUnreachable(uint64_t peer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  inbox_.unreachable.push_back(peer);
  cv_.notify_one();
}

void RaftMember::ReportSnapshot(uint64_t peer, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  inbox_.snapshot_reports.emplace_back(peer, ok);
  cv_.notify_one();
}

void RaftMember::Propose(serverpb::InternalRequest req, ProposeDone done) {
  req.set_id(NextRequestId());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      inbox_.proposals.emplace_back(std::move(req), std::move(done));
      cv_.notify_one();
      return;
    }
  }
  done(StoppedError());
}

void RaftMember::ReadBarrier(std::function<void(absl::Status)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      inbox_.reads.push_back(std::move(done));
      cv_.notify_one();
      return;
    }
  }
  done(StoppedError());
}

RaftStatus RaftMember::Status() const {
  RaftStatus s;
  s.term = term_.load();
  s.leader = leader_.load();
  s.commit_index = commit_index_.load();
  s.applied_index = store_->AppliedIndex();
  return s;
}

void RaftMember::Fatal(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "ketcd: fatal: %s: %s\n", what.c_str(), std::string(s.message()).c_str());
  std::abort();
}

void RaftMember::Loop() {
  absl::Time next_tick = absl::Now() + opts_.tick;
  {
    // A sole voter has nobody to wait for: it campaigns at once instead of
    // after an election timeout (etcd fast-forwards its ticks on boot for
    // the same reason), so a restarted single member serves in ms, not s.
    const raftpb::ConfState cs = node_->ConfState();
    if (cs.voters_size() == 1 && cs.voters(0) == opts_.id) {
      if (absl::Status s = node_->Campaign(); !s.ok()) {
        std::fprintf(stderr, "ketcd: campaign on boot: %s\n", std::string(s.message()).c_str());
      }
      HandleReady();
    }
  }
  while (true) {
    Inbox in;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_until(lock, absl::ToChronoTime(next_tick),
                     [&] { return stopping_ || !inbox_.empty(); });
      if (stopping_) return;
      std::swap(in, inbox_);
    }
    const absl::Time now = absl::Now();
    if (now >= next_tick) {
      node_->Tick();
      next_tick += opts_.tick;
      if (next_tick < now) next_tick = now + opts_.tick;  // after a stall, do not burst
      ExpireWaiters(now);
    }
    HandleInbox(in);
    HandleReady();
    // A Ready may have named a leader: what waited for one goes now.
    if (!parked_proposals_.empty() || !parked_reads_.empty()) {
      RetryParked();
      HandleReady();
    }
  }
}

void RaftMember::HandleInbox(Inbox& in) {
  for (auto& m : in.messages) {
    // Errors here are refusals of stale or foreign messages; raft recovers.
    (void)node_->Step(std::move(m));
  }
  for (uint64_t id : in.unreachable) node_->ReportUnreachable(id);
  for (auto [id, ok] : in.snapshot_reports) node_->ReportSnapshot(id, ok);
  const absl::Time deadline = absl::Now() + opts_.request_timeout;
  for (auto& [req, done] : in.proposals) {
    parked_proposals_.push_back(ParkedProposal{std::move(req), std::move(done), deadline});
  }
  for (auto& r : in.reads) parked_reads_.push_back(ReadWaiter{std::move(r), deadline});
  RetryParked();
}

void RaftMember::RetryParked() {
  if (leader_.load() == 0) return;
  std::vector<ParkedProposal> proposals;
  proposals.swap(parked_proposals_);
  for (auto& p : proposals) {
    const uint64_t id = p.req.id();
    auto st = node_->Propose(p.req.SerializeAsString());
    if (raft::IsProposalDropped(st)) {
      parked_proposals_.push_back(std::move(p));  // leadership is moving: wait
      continue;
    }
    if (!st.ok()) {
      p.done(absl::UnavailableError(st.message()));
      continue;
    }
    waiters_[id] = Waiter{std::move(p.done), p.deadline};
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
        // A ReadIndex round in flight may never be answered by a leader that
        // lost its role: ask the new leader.
        for (auto& [ctx, ws] : read_rounds_) {
          for (auto& w : ws) parked_reads_.push_back(std::move(w));
        }
        read_rounds_.clear();
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
    // A leader's messages promise nothing about its own disk (raft counts
    // the leader's copy of an entry only after Advance), so the leader sends
    // them before its fdatasync and the two overlap (thesis §10.2.1). Any
    // other node's messages (votes, acknowledgements) wait for the sync.
    const bool leading = leader_.load() == opts_.id;
    if (leading && !out.empty()) transport_->Send(std::move(out));
    // 1. Persist: one durable write (one fdatasync when raft needs it).
    if (auto s = persistence_->Save(rd.hard_state, rd.entries, rd.must_sync); !s.ok()) {
      Fatal("writing the raft log", s);
    }
    if (!rd.entries.empty()) {
      log_writes_.fetch_add(1, std::memory_order_relaxed);
      if (auto s = log_cache_->Append(rd.entries); !s.ok()) Fatal("caching raft entries", s);
    }
    if (rd.hard_state) log_cache_->SetHardState(*rd.hard_state);
    // 2. Send (everything, when not leading).
    if (!leading && !out.empty()) transport_->Send(std::move(out));
    // 3. Apply.
    Apply(rd.committed_entries);
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

void RaftMember::Apply(const std::vector<raftpb::Entry>& committed) {
  if (committed.empty()) return;
  const uint64_t applied = store_->AppliedIndex();
  auto wb = store_->Write();
  uint64_t last = applied;
  std::vector<std::pair<uint64_t, ProposeResult>> results;
  for (const auto& e : committed) {
    if (e.index() <= applied) continue;  // replayed after a restart: already in the store
    last = e.index();
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
      ApplyConfChange(*wb, e);
      continue;
    }
    if (e.data().empty()) continue;  // a new leader's empty entry
    serverpb::InternalRequest req;
    if (!req.ParseFromString(e.data())) Fatal("decoding a log entry", absl::DataLossError("bad entry"));
    auto r = applier_->ApplyEntry(*wb, req);
    if (!r.ok() && r.status().code() == absl::StatusCode::kInternal) {
      Fatal(absl::StrCat("applying entry ", e.index()), r.status());
    }
    results.emplace_back(req.id(), std::move(r));
  }
  if (last == applied) return;
  // Not synced: the raft log holds these entries durably and is replayed
  // past the store's applied index after a crash.
  if (auto s = wb->Commit(last, /*sync=*/false); !s.ok()) Fatal("writing the store", s);
  for (auto& [id, r] : results) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;
    auto done = std::move(it->second.done);
    waiters_.erase(it);
    done(std::move(r));
  }
}

void RaftMember::ApplyConfChange(storage::WriteBatch& wb, const raftpb::Entry& e) {
  raftpb::ConfChange cc;
  if (!cc.ParseFromString(e.data())) Fatal("decoding a conf change", absl::DataLossError("bad entry"));
  const std::string key = RaftMemberMetaKey(cc.node_id());
  if (cc.type() == raftpb::CONF_CHANGE_REMOVE_NODE) {
    if (auto s = wb.DeleteMeta(key); !s.ok()) Fatal("recording a member removal", s);
    transport_->RemovePeer(cc.node_id());
    return;
  }
  serverpb::MemberAttributes m = DecodeConfChangeContext(cc.node_id(), cc.context());
  if (auto s = wb.PutMeta(key, m.SerializeAsString()); !s.ok()) Fatal("recording a member", s);
  if (m.peer_urls_size() > 0) transport_->AddPeer(cc.node_id(), m.peer_urls(0));
}

void RaftMember::ReloadPeers() {
  for (const auto& [id, m] : LoadRaftMembers(*store_)) {
    if (m.peer_urls_size() > 0) transport_->AddPeer(id, m.peer_urls(0));
  }
}

void RaftMember::SendSnapshot(raftpb::Message m) {
  const uint64_t to = m.to();
  // The checkpoint is of the store as applied now, which may be past the
  // raft snapshot raft picked: the metadata is rewritten to match it, so
  // that the follower's store and log agree exactly. Everything applied is
  // committed, so the follower's log may start there.
  const uint64_t applied = store_->AppliedIndex();
  auto term = log_cache_->Term(applied);
  if (opts_.member_dir.empty() || !term.ok()) {
    node_->ReportSnapshot(to, false);
    return;
  }
  const storage::SnapshotDirs dirs(opts_.member_dir);
  const std::string dir = dirs.sending(to, applied);
  absl::Status s = storage::RemoveTree(dir);
  if (s.ok()) s = store_->CreateCheckpoint(dir);
  if (!s.ok()) {
    std::fprintf(stderr, "ketcd: cannot checkpoint the store for member %llx: %s\n",
                 static_cast<unsigned long long>(to), std::string(s.message()).c_str());
    (void)storage::RemoveTree(dir);
    node_->ReportSnapshot(to, false);
    return;
  }
  auto* meta = m.mutable_snapshot()->mutable_metadata();
  meta->set_index(applied);
  meta->set_term(*term);
  *meta->mutable_conf_state() = node_->ConfStateAt(applied);
  m.mutable_snapshot()->clear_data();
  transport_->SendSnapshot(std::move(m), dir, [this, to](bool ok) { ReportSnapshot(to, ok); });
}

void RaftMember::InstallSnapshot(const raftpb::Snapshot& snap) {
  const raftpb::SnapshotMetadata& meta = snap.metadata();
  if (opts_.member_dir.empty()) {
    Fatal("installing a raft snapshot", absl::FailedPreconditionError("no member directory"));
  }
  const storage::SnapshotDirs dirs(opts_.member_dir);
  // Past ClaimReady the swap is committed: a crash from here on finishes it
  // at start, and OpenRaftLog then records the marker if it was not yet.
  if (auto s = storage::ClaimReady(dirs, meta.index()); !s.ok()) Fatal("claiming a received snapshot", s);
  if (auto s = store_->ReplaceWith(dirs.install()); !s.ok()) Fatal("installing a received snapshot", s);
  if (store_->AppliedIndex() != meta.index()) {
    Fatal("installing a received snapshot",
          absl::DataLossError(absl::StrCat("the installed store is at applied index ",
                                           store_->AppliedIndex(), ", not ", meta.index())));
  }
  if (auto s = persistence_->SaveInstalledSnapshot(meta); !s.ok()) Fatal("recording a snapshot", s);
  if (auto s = log_cache_->ApplySnapshot(snap); !s.ok()) Fatal("restoring the raft log", s);
  snapshot_index_ = meta.index();
  ReloadPeers();
  if (opts_.on_snapshot_installed) opts_.on_snapshot_installed();
  std::fprintf(stderr, "ketcd: installed a snapshot at index %llu (term %llu)\n",
               static_cast<unsigned long long>(meta.index()),
               static_cast<unsigned long long>(meta.term()));
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
             [&](auto& p) { timeout(p.done); });
  ExpireFrom(parked_reads_, now, [](const auto& r) { return r.deadline; },
             [&](auto& r) { timeout(r.done); });
  // Reads whose index this member never reaches (it fell behind), and
  // rounds the leader never confirmed, must still be answered.
  ExpireFrom(ready_reads_, now, [&](const auto& p) { return group_deadline(p.second); },
             [&](auto& p) { answer_group(p.second); });
  ExpireFrom(read_rounds_, now, [&](const auto& p) { return group_deadline(p.second); },
             [&](auto& p) { answer_group(p.second); });
}

void RaftMember::MaybeSnapshot() {
  const uint64_t applied = store_->AppliedIndex();
  if (applied < snapshot_index_ + opts_.snapshot_count) return;
  // The log may forget entries only once their effects are durable.
  if (auto s = store_->Sync(); !s.ok()) Fatal("syncing the store before a snapshot", s);
  auto snap = log_cache_->CreateSnapshot(applied, node_->ConfStateAt(applied), "");
  if (!snap.ok()) Fatal("recording a raft snapshot", snap.status());
  if (auto s = persistence_->SaveSnapshotMarker(snap->metadata()); !s.ok()) {
    Fatal("persisting a raft snapshot marker", s);
  }
  snapshot_index_ = applied;
  if (applied <= opts_.snapshot_catchup_entries) return;
  const uint64_t compact_to = applied - opts_.snapshot_catchup_entries;
  auto first = log_cache_->FirstIndex();
  if (first.ok() && compact_to > *first) {
    if (auto s = log_cache_->Compact(compact_to); !s.ok()) Fatal("compacting the raft log", s);
    if (auto s = persistence_->ReleaseTo(compact_to); !s.ok()) Fatal("releasing the raft log", s);
  }
}

}  // namespace server
