// RaftMember's public entry points: they only queue work for the loop
// thread (raft_loop.cc) and wake it.
#include "server/replication/raft_member.h"

#include <cstdlib>
#include <utility>

#include "server/state/errors.h"

namespace server {
namespace {

// A missing clock or logger is a wiring error, not a runtime condition:
// there is no logger yet to report it to.
template <typename T>
T& Required(T* p) {
  if (p == nullptr) std::abort();
  return *p;
}

}  // namespace

RaftMember::RaftMember(RaftMemberOptions opts, std::unique_ptr<raft::RawNode> node,
                       raft::MemoryStorage* log_cache, RaftPersistence* persistence,
                       storage::MvccStore* store, const Applier* applier, PeerTransport* transport)
    : opts_(std::move(opts)),
      clock_(Required(opts_.clock)),
      logger_(Required(opts_.logger)),
      node_(std::move(node)),
      log_cache_(log_cache),
      persistence_(persistence),
      store_(store),
      applier_(applier),
      transport_(transport),
      // As etcd: a time-based start keeps ids unique across restarts.
      request_seq_(static_cast<uint64_t>(absl::ToUnixMillis(clock_.Now())) << 8) {
  auto first = log_cache_->FirstIndex();
  snapshot_index_ = first.ok() && *first > 0 ? *first - 1 : 0;
  term_ = node_->GetStatus().hard_state.term();
  PublishConfState();
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
  for (auto& p : left.proposals) p.done(StoppedError());
  for (auto& r : left.reads) r(StoppedError());
  for (auto& t : left.tasks) t(true);
  for (auto& [id, w] : waiters_) w.done(StoppedError());
  waiters_.clear();
  for (auto& [ctx, ws] : read_rounds_) for (auto& w : ws) w.done(StoppedError());
  read_rounds_.clear();
  for (auto& [index, ws] : ready_reads_) for (auto& w : ws) w.done(StoppedError());
  ready_reads_.clear();
  for (auto& p : parked_proposals_) p.p.done(StoppedError());
  parked_proposals_.clear();
  for (auto& r : parked_reads_) r.done(StoppedError());
  parked_reads_.clear();
  for (auto& t : transfers_) t.w.done(StoppedError());
  transfers_.clear();
}

// The loop is woken after the lock is released, so that it does not wake
// only to block on mu_ (a wake-up costs a context switch on the hot path).
void RaftMember::Deliver(std::vector<raftpb::Message> msgs) {
  if (msgs.empty()) return;
  const absl::Time arrived = clock_.Now();  // peer_wait starts (write_stages.h)
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    inbox_.message_arrivals.emplace_back(arrived, msgs.size());
    for (auto& m : msgs) inbox_.messages.push_back(std::move(m));
  }
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
  Enqueue(Proposal{std::move(req), std::nullopt, std::move(done)});
}

void RaftMember::ProposeConfChange(raftpb::ConfChange cc, ConfChangeDone done) {
  // The id lets this member find the waiter when the entry is applied.
  cc.set_id(NextRequestId());
  Enqueue(Proposal{{}, std::move(cc),
                   [done = std::move(done)](ProposeResult r) { done(r.status()); }});
}

void RaftMember::Enqueue(Proposal p) {
  p.accepted = clock_.Now();  // the propose_wait stage starts (write_stages.h)
  bool stopped = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      inbox_.proposals.push_back(std::move(p));
      stopped = false;
    }
  }
  if (!stopped) return cv_.notify_one();
  p.done(StoppedError());
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

void RaftMember::RunOnLoop(std::function<void(bool stopped)> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      inbox_.tasks.push_back(std::move(task));
      cv_.notify_one();
      return;
    }
  }
  task(true);
}

void RaftMember::CheckLearnerReady(uint64_t id, std::function<void(absl::Status)> done) {
  RunOnLoop([this, id, done = std::move(done)](bool stopped) {
    if (stopped) return done(StoppedError());
    const raft::Raft& r = node_->raft();
    if (r.state() != raft::StateType::kLeader) return done(NotLeaderError());
    const raft::Progress* learner = r.tracker().Get(id);
    const raft::Progress* leader = r.tracker().Get(opts_.id);
    if (learner == nullptr || leader == nullptr) return done(absl::OkStatus());
    // etcd's readiness: the learner's match within 90% of the leader's.
    if (static_cast<double>(learner->match) < static_cast<double>(leader->match) * 0.9) {
      return done(LearnerNotReadyError());
    }
    done(absl::OkStatus());
  });
}

void RaftMember::TransferLeadership(uint64_t target, std::function<void(absl::Status)> done) {
  RunOnLoop([this, target, done = std::move(done)](bool stopped) mutable {
    if (stopped) return done(StoppedError());
    if (node_->raft().state() != raft::StateType::kLeader) return done(NotLeaderError());
    if (target == opts_.id) return done(absl::OkStatus());
    transfers_.push_back({target, ReadWaiter{std::move(done), clock_.Now() + opts_.request_timeout}});
    node_->TransferLeader(target);
  });
}

RaftStatus RaftMember::Status() const {
  RaftStatus s;
  s.term = term_.load();
  s.leader = leader_.load();
  s.commit_index = commit_index_.load();
  s.applied_index = store_->AppliedIndex();
  s.leader_changes = leader_changes_.load(std::memory_order_relaxed);
  s.is_learner = is_learner_.load(std::memory_order_relaxed);
  return s;
}

raftpb::ConfState RaftMember::ConfState() const {
  std::lock_guard<std::mutex> lock(conf_mu_);
  return conf_state_;
}

void RaftMember::PublishConfState() {
  raftpb::ConfState cs = node_->ConfState();
  is_learner_.store(std::find(cs.learners().begin(), cs.learners().end(), opts_.id) != cs.learners().end(),
                    std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(conf_mu_);
  conf_state_ = std::move(cs);
}

void RaftMember::Fatal(const std::string& what, const absl::Status& s) {
  logger_.Fatal(what, {{"error", std::string(s.message())}});
}

}  // namespace server
