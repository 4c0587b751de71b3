#include "tests/raft/cluster.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "raft/check.h"

namespace raft::testing {
namespace {

std::string EncodeApplied(const std::vector<AppliedEntry>& applied) {
  // The simulated state machine is the full applied sequence; a snapshot
  // carries all of it so that installing one can be checked entry by entry.
  raftpb::Message m;
  for (const auto& a : applied) {
    raftpb::Entry* e = m.add_entries();
    e->set_index(a.index);
    e->set_term(a.term);
    e->set_data(a.data);
  }
  return m.SerializeAsString();
}

}  // namespace

Cluster::Cluster(const ClusterOptions& opts, std::vector<uint64_t> voters,
                 std::vector<uint64_t> learners)
    : opts_(opts), rng_(opts.seed) {
  Bootstrap b = BootstrapCluster(voters, learners);
  std::vector<uint64_t> all = voters;
  all.insert(all.end(), learners.begin(), learners.end());
  for (uint64_t id : all) {
    ids_.push_back(id);
    NodeState& n = nodes_[id];
    RAFT_CHECK(n.storage.Append(b.entries).ok());
    n.storage.SetHardState(b.hard_state);
    for (const auto& e : b.entries) CheckEntryIdentity(id, e);
  }
  for (uint64_t id : all) Restart(id);
}

Config Cluster::NodeConfig(uint64_t id) const {
  const NodeState& n = nodes_.at(id);
  Config c;
  c.id = id;
  c.storage = &n.storage;
  c.election_tick = opts_.election_tick;
  c.heartbeat_tick = opts_.heartbeat_tick;
  c.applied = n.applied.empty() ? 0 : n.applied.back().index;
  c.max_size_per_msg = opts_.max_size_per_msg;
  c.max_inflight_msgs = opts_.max_inflight;
  c.check_quorum = opts_.check_quorum;
  c.pre_vote = opts_.pre_vote;
  c.random_seed = opts_.seed * 1000003 + n.restarts;
  return c;
}

// ---- time ----------------------------------------------------------------

void Cluster::DeliverDue() {
  while (ok() && !net_.empty() && net_.top().at <= now_) {
    raftpb::Message m = net_.top().m;
    net_.pop();
    Deliver(std::move(m));
  }
}

void Cluster::StepUnit() {
  if (!ok()) return;
  ++now_;
  DeliverDue();
  if (now_ % kUnitsPerTick == 0) {
    for (uint64_t id : ids_) {
      if (Alive(id)) Tick(id);
    }
  }
}

void Cluster::RunTicks(int ticks) {
  for (int i = 0; i < ticks * kUnitsPerTick && ok(); ++i) StepUnit();
}

void Cluster::Settle(int max_units) {
  for (int i = 0; i < max_units && ok() && !net_.empty(); ++i) {
    ++now_;
    DeliverDue();
  }
}

void Cluster::Tick(uint64_t id) {
  if (!Alive(id)) return;
  nodes_[id].rn->Tick();
  HandleReady(id);
}

// ---- network -------------------------------------------------------------

void Cluster::Isolate(uint64_t id) {
  for (uint64_t other : ids_) {
    if (other == id) continue;
    Block(id, other);
    Block(other, id);
  }
}

void Cluster::Partition(const std::set<uint64_t>& side) {
  for (uint64_t a : ids_) {
    for (uint64_t b : ids_) {
      if (side.count(a) != side.count(b)) Block(a, b);
    }
  }
}

void Cluster::DropInFlight() {
  while (!net_.empty()) net_.pop();
}

void Cluster::SetFaults(double drop, double dup, int min_delay, int max_delay) {
  opts_.drop_rate = drop;
  opts_.dup_rate = dup;
  opts_.min_delay = min_delay;
  opts_.max_delay = max_delay;
}

void Cluster::Send(raftpb::Message m) {
  auto delay = [&] {
    int span = opts_.max_delay - opts_.min_delay + 1;
    return now_ + opts_.min_delay + (span > 1 ? rng_() % span : 0);
  };
  auto chance = [&](double p) {
    return p > 0 && static_cast<double>(rng_() % 1000000) / 1e6 < p;
  };
  if (chance(opts_.drop_rate)) {
    if (m.type() == raftpb::MSG_SNAP) {
      // The transport tells the sender a snapshot failed.
      raftpb::Message report;
      report.set_type(raftpb::MSG_SNAP_STATUS);
      report.set_to(m.from());
      report.set_from(m.to());
      report.set_reject(true);
      net_.push({delay(), ++seq_, std::move(report)});
    }
    return;
  }
  if (chance(opts_.dup_rate)) net_.push({delay(), ++seq_, m});
  net_.push({delay(), ++seq_, std::move(m)});
}

void Cluster::Deliver(raftpb::Message m) {
  if (m.type() == raftpb::MSG_SNAP_STATUS) {  // a transport report, local
    if (Alive(m.to())) {
      nodes_[m.to()].rn->ReportSnapshot(m.from(), !m.reject());
      HandleReady(m.to());
    }
    return;
  }
  bool lost = !Alive(m.to()) || Blocked(m.from(), m.to()) || (filter && !filter(m));
  if (m.type() == raftpb::MSG_SNAP) {
    raftpb::Message report;
    report.set_type(raftpb::MSG_SNAP_STATUS);
    report.set_to(m.from());
    report.set_from(m.to());
    report.set_reject(lost);
    net_.push({now_ + 1, ++seq_, std::move(report)});
  }
  if (lost) return;
  ++delivered[m.type()];
  uint64_t to = m.to();
  (void)nodes_[to].rn->Step(std::move(m));  // refusals are normal here
  HandleReady(to);
}

// ---- nodes ---------------------------------------------------------------

bool Cluster::Alive(uint64_t id) const {
  auto it = nodes_.find(id);
  return it != nodes_.end() && it->second.rn != nullptr;
}

RawNode& Cluster::node(uint64_t id) {
  RAFT_CHECK(Alive(id)) << "node " << id << " is down";
  return *nodes_[id].rn;
}

MemoryStorage& Cluster::storage(uint64_t id) { return nodes_.at(id).storage; }

const std::vector<AppliedEntry>& Cluster::applied(uint64_t id) const {
  return nodes_.at(id).applied;
}

void Cluster::Crash(uint64_t id) {
  NodeState& n = nodes_.at(id);
  n.rn.reset();
  n.was_leader = false;
}

void Cluster::Restart(uint64_t id) {
  NodeState& n = nodes_.at(id);
  if (n.rn) return;
  ++n.restarts;
  auto rn = RawNode::Create(NodeConfig(id));
  if (!rn.ok()) {
    Fail(absl::StrCat("restart of node ", id, " failed: ", rn.status().ToString()));
    return;
  }
  n.rn = *std::move(rn);
  HandleReady(id);
}

void Cluster::AddEmptyNode(uint64_t id) {
  ids_.push_back(id);
  nodes_[id];
  Restart(id);
}

// ---- requests ------------------------------------------------------------

absl::Status Cluster::Propose(uint64_t id, const std::string& data) {
  absl::Status s = node(id).Propose(data);
  HandleReady(id);
  return s;
}

absl::Status Cluster::ProposeConfChange(uint64_t id, raftpb::ConfChangeType type,
                                        uint64_t target) {
  raftpb::ConfChange cc;
  cc.set_type(type);
  cc.set_node_id(target);
  absl::Status s = node(id).ProposeConfChange(cc);
  HandleReady(id);
  return s;
}

absl::Status Cluster::Campaign(uint64_t id) {
  absl::Status s = node(id).Campaign();
  HandleReady(id);
  return s;
}

void Cluster::TransferLeader(uint64_t id, uint64_t to) {
  node(id).TransferLeader(to);
  HandleReady(id);
}

void Cluster::ReadIndex(uint64_t id, const std::string& ctx) {
  reads_pending_[ctx] = MaxCommitted();
  node(id).ReadIndex(ctx).IgnoreError();  // unanswered reads are normal here
  HandleReady(id);
}

void Cluster::Compact(uint64_t id, uint64_t keep) {
  if (!Alive(id)) return;
  NodeState& n = nodes_[id];
  if (n.applied.empty()) return;
  uint64_t a = n.applied.back().index;
  auto snap = n.storage.Snapshot();
  if (!snap.ok() || a <= snap->metadata().index()) return;
  auto created = n.storage.CreateSnapshot(a, n.rn->ConfStateAt(a), EncodeApplied(n.applied));
  if (!created.ok()) {
    Fail(absl::StrCat("CreateSnapshot on ", id, ": ", created.status().ToString()));
    return;
  }
  uint64_t first = *n.storage.FirstIndex();
  if (a > keep && a - keep >= first) (void)n.storage.Compact(a - keep);
}

// ---- Ready ---------------------------------------------------------------

void Cluster::HandleReady(uint64_t id) {
  NodeState& n = nodes_.at(id);
  while (ok() && n.rn && n.rn->HasReady()) {
    Ready rd = n.rn->GetReady();
    // 1. Persist.
    if (rd.snapshot) {
      absl::Status s = n.storage.ApplySnapshot(*rd.snapshot);
      if (!s.ok()) Fail(absl::StrCat("node ", id, " ApplySnapshot: ", s.ToString()));
    }
    if (!rd.entries.empty()) {
      RAFT_CHECK(n.storage.Append(rd.entries).ok());
      for (const auto& e : rd.entries) CheckEntryIdentity(id, e);
    }
    if (rd.hard_state) n.storage.SetHardState(*rd.hard_state);
    CheckCommitProgress(id);
    // 2. Send.
    for (auto& m : rd.messages) Send(std::move(m));
    // 3. Apply.
    if (rd.snapshot) InstallSnapshot(id, *rd.snapshot);
    for (const auto& e : rd.committed_entries) Apply(id, e);
    // 4. Reads.
    for (const auto& rs : rd.read_states) {
      auto it = reads_pending_.find(rs.request_ctx);
      if (it != reads_pending_.end() && rs.index < it->second) {
        Fail(absl::StrCat("ReadIndex: node ", id, " answered read ", rs.request_ctx,
                          " with index ", rs.index, " < ", it->second,
                          " committed before it was issued"));
      }
      reads_done_[rs.request_ctx] = rs.index;
    }
    n.rn->Advance(rd);
  }
  if (n.rn && ok()) {
    n.rn->raft().CheckInvariants();
    CheckLeaders();
  }
}

void Cluster::Apply(uint64_t id, const raftpb::Entry& e) {
  NodeState& n = nodes_[id];
  uint64_t expect = n.applied.empty() ? 1 : n.applied.back().index + 1;
  if (e.index() != expect) {
    Fail(absl::StrCat("node ", id, " applied index ", e.index(), ", expected ", expect));
    return;
  }
  CheckCommitted(id, e.index(), e.term(), e.data());
  n.applied.push_back({e.index(), e.term(), e.data()});
}

void Cluster::InstallSnapshot(uint64_t id, const raftpb::Snapshot& s) {
  NodeState& n = nodes_[id];
  raftpb::Message m;
  if (!m.ParseFromString(s.data())) {
    Fail("snapshot data unparsable");
    return;
  }
  if (m.entries_size() < static_cast<int>(n.applied.size())) {
    Fail(absl::StrCat("node ", id, " installed a snapshot older than its state"));
    return;
  }
  std::vector<AppliedEntry> next;
  for (const auto& e : m.entries()) {
    CheckCommitted(id, e.index(), e.term(), e.data());
    next.push_back({e.index(), e.term(), e.data()});
  }
  if (next.empty() || next.back().index != s.metadata().index()) {
    Fail("snapshot content does not end at its index");
    return;
  }
  n.applied = std::move(next);
}

// ---- checks --------------------------------------------------------------

void Cluster::Fail(const std::string& why) {
  if (failure_.empty()) failure_ = absl::StrCat("t=", now_, ": ", why);
}

void Cluster::CheckEntryIdentity(uint64_t id, const raftpb::Entry& e) {
  NodeState& n = nodes_[id];
  uint64_t prev = UINT64_MAX;  // unknown (compacted)
  if (e.index() > 1) {
    auto t = n.storage.Term(e.index() - 1);
    if (t.ok()) prev = *t;
  } else {
    prev = 0;
  }
  auto key = std::make_pair(e.index(), e.term());
  auto it = identities_.find(key);
  if (it == identities_.end()) {
    identities_.emplace(key, Identity{prev, e.type(), e.data()});
    return;
  }
  Identity& known = it->second;
  if (known.type != e.type() || known.data != e.data() ||
      (prev != UINT64_MAX && known.prev_term != UINT64_MAX && prev != known.prev_term)) {
    Fail(absl::StrCat("log matching: node ", id, " holds a different entry at index ", e.index(),
                      " term ", e.term()));
  }
  if (known.prev_term == UINT64_MAX) known.prev_term = prev;
}

void Cluster::CheckCommitted(uint64_t id, uint64_t index, uint64_t term,
                             const std::string& data) {
  auto it = ledger_.find(index);
  if (it == ledger_.end()) {
    ledger_.emplace(index, Committed{term, data});
    if (!data.empty()) committed_values_.insert(data);
    return;
  }
  if (it->second.term != term || it->second.data != data) {
    Fail(absl::StrCat("state machine safety: node ", id, " committed/applied index ", index,
                      " term ", term, " but term ", it->second.term, " was committed there"));
  }
}

void Cluster::CheckCommitProgress(uint64_t id) {
  NodeState& n = nodes_[id];
  uint64_t commit = n.storage.hard_state().commit();
  uint64_t first = *n.storage.FirstIndex();
  for (uint64_t i = std::max(n.checked_commit + 1, first); i <= commit && ok(); ++i) {
    auto ents = n.storage.Entries(i, i + 1, kNoLimit);
    if (!ents.ok() || ents->size() != 1) {
      Fail(absl::StrCat("node ", id, " committed ", i, " which is not on its disk"));
      return;
    }
    CheckCommitted(id, i, (*ents)[0].term(), (*ents)[0].data());
  }
  n.checked_commit = std::max(n.checked_commit, commit);
}

void Cluster::CheckLeaders() {
  for (uint64_t id : ids_) {
    NodeState& n = nodes_[id];
    if (!n.rn) continue;
    const Raft& r = n.rn->raft();
    if (r.state() != StateType::kLeader) {
      n.was_leader = false;
      continue;
    }
    auto [it, inserted] = leader_of_term_.emplace(r.term(), id);
    if (!inserted && it->second != id) {
      Fail(absl::StrCat("election safety: nodes ", it->second, " and ", id,
                        " both leaders in term ", r.term()));
      return;
    }
    if (n.was_leader && n.leader_term == r.term()) continue;
    n.was_leader = true;
    n.leader_term = r.term();
    // Leader completeness: every entry committed so far is in the log.
    uint64_t first = r.log().FirstIndex();
    for (const auto& [idx, c] : ledger_) {
      if (idx < first) continue;
      auto t = r.log().Term(idx);
      if (!t.ok() || *t != c.term || idx > r.log().LastIndex()) {
        Fail(absl::StrCat("leader completeness: leader ", id, " of term ", r.term(),
                          " lacks committed index ", idx, " (term ", c.term, ")"));
        return;
      }
    }
  }
}

void Cluster::CheckAll() {
  for (uint64_t id : ids_) {
    if (Alive(id)) nodes_[id].rn->raft().CheckInvariants();
  }
  CheckLeaders();
}

uint64_t Cluster::Leader() const {
  uint64_t best = 0, best_term = 0;
  for (uint64_t id : ids_) {
    if (!Alive(id)) continue;
    const Raft& r = nodes_.at(id).rn->raft();
    if (r.state() == StateType::kLeader && r.term() >= best_term) {
      best = id;
      best_term = r.term();
    }
  }
  return best;
}

std::string Cluster::Describe() const {
  std::string out;
  for (uint64_t id : ids_) {
    if (!Alive(id)) {
      absl::StrAppend(&out, "  node ", id, ": down\n");
      continue;
    }
    const Raft& r = nodes_.at(id).rn->raft();
    raftpb::ConfState cs = r.conf_state();
    absl::StrAppend(&out, "  node ", id, ": ", StateName(r.state()), " term=", r.term(),
                    " vote=", r.vote(), " lead=", r.lead(), " last=", r.log().LastIndex(),
                    "/t", r.log().LastTerm(), " commit=", r.log().committed(), " voters=[");
    for (uint64_t v : cs.voters()) absl::StrAppend(&out, v, " ");
    absl::StrAppend(&out, "] learners=[");
    for (uint64_t v : cs.learners()) absl::StrAppend(&out, v, " ");
    absl::StrAppend(&out, "]\n");
  }
  return out;
}

uint64_t Cluster::CommitIndex(uint64_t id) const {
  return nodes_.at(id).rn->raft().log().committed();
}

}  // namespace raft::testing
