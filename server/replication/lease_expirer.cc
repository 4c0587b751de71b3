#include "server/replication/lease_expirer.h"

#include <algorithm>
#include <utility>

namespace server {
namespace {

// A revocation that failed (leadership moving) is reported again after
// etcd's request timeout.
constexpr absl::Duration kRevokeRetry = absl::Seconds(7);
constexpr size_t kMaxRevocationsPerRound = 500;
constexpr size_t kCheckpointsPerProposal = 1000;

}  // namespace

LeaseExpirer::LeaseExpirer(Lessor* lessor, Proposer* proposer, const base::Clock& clock,
                           uint64_t self_id, Options opts)
    : lessor_(lessor), proposer_(proposer), clock_(clock), self_id_(self_id), opts_(opts) {
  next_checkpoint_ = clock_.Now() + opts_.checkpoint_interval;
  thread_ = std::thread([this] { Loop(); });
}

LeaseExpirer::~LeaseExpirer() { Stop(); }

void LeaseExpirer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LeaseExpirer::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoNanoseconds(opts_.period),
                   [&] { return stopping_ || wake_; });
      if (stopping_) return;
      wake_ = false;
    }
    Step(clock_.Now());
  }
}

void LeaseExpirer::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void LeaseExpirer::Step(absl::Time now) {
  const bool leading = proposer_->Status().leader == self_id_;
  if (!leading) {
    if (lessor_->primary()) lessor_->Demote();
    barrier_ok_.store(false);
    std::lock_guard<std::mutex> lock(confirmed_mu_);
    confirmed_.clear();
    return;
  }
  if (!lessor_->primary()) {
    MaybePromote(now);
    return;
  }
  ProposeCheckpointResets();
  ProposeRevocations(now);
  if (now >= next_checkpoint_) {
    next_checkpoint_ = now + opts_.checkpoint_interval;
    ProposeCheckpoints(now);
  }
}

void LeaseExpirer::MaybePromote(absl::Time now) {
  // Promote only once everything committed before this term is applied (a
  // read barrier waits for the term's first commit), as etcd promotes when
  // its leader applies that entry: a lease granted or revoked just before
  // the election must be known first.
  if (barrier_ok_.exchange(false)) {
    lessor_->Promote(clock_.Now());
    next_checkpoint_ = now + opts_.checkpoint_interval;
  } else if (!barrier_pending_.exchange(true)) {
    proposer_->ReadBarrier([this](absl::Status s) {
      barrier_ok_.store(s.ok());
      barrier_pending_.store(false);
      if (s.ok()) Wake();
    });
  }
}

void LeaseExpirer::ProposeCheckpointResets() {
  // Renewals that cleared a checkpointed remaining TTL are recorded at
  // once, so that a new leader does not start from the stale value.
  auto resets = lessor_->TakeCheckpointResets();
  if (resets.empty()) return;
  serverpb::InternalRequest req;
  for (int64_t id : resets) {
    auto* cp = req.mutable_lease_checkpoint()->add_checkpoints();
    cp->set_id(id);
    cp->set_remaining_ttl(0);
  }
  proposer_->Propose(std::move(req), [](ProposeResult) {});
}

void LeaseExpirer::ProposeRevocations(absl::Time now) {
  // Revokes the leases a barrier confirmed; the barrier's callback only records
  // them and wakes this thread (it may run on the raft loop, which Propose waits
  // on), so they go out at once rather than a period after the barrier.
  std::vector<int64_t> confirmed;
  {
    std::lock_guard<std::mutex> lock(confirmed_mu_);
    confirmed.swap(confirmed_);
  }
  for (int64_t id : confirmed) {
    serverpb::InternalRequest req;
    req.mutable_lease_revoke()->set_id(id);
    proposer_->Propose(std::move(req), [](ProposeResult) {});
  }
  auto expired = lessor_->TakeExpired(now, kRevokeRetry, kMaxRevocationsPerRound);
  if (expired.empty()) return;
  // Leadership first, as etcd 3.5's lessor: a leader that was paused still
  // believes it leads and its deadlines are stale. A failed barrier drops the
  // round; TakeExpired reports the leases again after kRevokeRetry.
  proposer_->ReadBarrier([this, expired = std::move(expired)](absl::Status s) {
    if (!s.ok()) return;
    {
      std::lock_guard<std::mutex> lock(confirmed_mu_);
      confirmed_.insert(confirmed_.end(), expired.begin(), expired.end());
    }
    Wake();
  });
}

void LeaseExpirer::ProposeCheckpoints(absl::Time now) {
  auto candidates = lessor_->CheckpointCandidates(now, opts_.checkpoint_interval);
  for (size_t i = 0; i < candidates.size(); i += kCheckpointsPerProposal) {
    serverpb::InternalRequest req;
    const size_t end = std::min(candidates.size(), i + kCheckpointsPerProposal);
    for (size_t j = i; j < end; ++j) {
      auto* cp = req.mutable_lease_checkpoint()->add_checkpoints();
      cp->set_id(candidates[j].first);
      cp->set_remaining_ttl(candidates[j].second);
    }
    proposer_->Propose(std::move(req), [](ProposeResult) {});
  }
}

}  // namespace server
