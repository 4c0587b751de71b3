#include "server/edge/lease_forwarder.h"

#include <chrono>
#include <utility>

#include "base/errors.h"
#include "grpcpp/client_context.h"
#include "server/peer/wire_errors.h"
#include "server/state/errors.h"

namespace server {
namespace {

constexpr int kWorkers = 2;
// How long one forwarded call may take before it is retried.
constexpr auto kForwardDeadline = std::chrono::seconds(1);

// Errors that may clear while leadership settles.
bool Retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || base::IsError(s, base::ErrorKind::kNotLeader);
}

// A revocation goes through a read barrier and raft: tens of ms.
constexpr absl::Duration kExpiringPause = absl::Milliseconds(20);

}  // namespace

LeaseForwarder::LeaseForwarder(Proposer* proposer, Lessor* lessor, PeerDirectory* peers,
                               const base::Clock& clock, MemberInfo self, absl::Duration timeout)
    : proposer_(proposer), lessor_(lessor), peers_(peers), clock_(clock), self_(self),
      timeout_(timeout) {
  for (int i = 0; i < kWorkers; ++i) workers_.emplace_back([this] { Worker(); });
}

LeaseForwarder::~LeaseForwarder() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  stop_cv_.notify_all();
  for (auto& t : workers_) t.join();
  for (auto& job : jobs_) job();  // answered with "server stopped" (stopping_ is set)
}

void LeaseForwarder::Worker() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      jobs_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

void LeaseForwarder::Enqueue(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
}

bool LeaseForwarder::PauseUnlessStopping(absl::Duration pause) {
  std::unique_lock<std::mutex> lock(mu_);
  stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(pause), [&] { return stopping_; });
  return !stopping_;
}

absl::StatusOr<std::unique_ptr<peerpb::Peer::Stub>> LeaseForwarder::LeaderStub(uint64_t leader) {
  // A leader this member cannot dial is, for the caller, no leader yet.
  auto channel = peers_->Channel(leader);
  if (!channel.ok()) return NoLeaderError();
  return peerpb::Peer::NewStub(*channel);
}

template <typename T>
absl::StatusOr<T> LeaseForwarder::Retry(absl::Time deadline,
                                        const std::function<absl::StatusOr<T>()>& once) {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return StoppedError();
    }
    auto r = once();
    if (r.ok() || !Retryable(r.status())) return r;
    // A leader still applying catches up within moments; an election takes
    // a round of timeouts.
    const absl::Duration pause = base::IsError(r.status(), base::ErrorKind::kApplying)
                                     ? absl::Milliseconds(2)
                                 : base::IsError(r.status(), base::ErrorKind::kLeaseExpiring)
                                     ? kExpiringPause
                                     : absl::Milliseconds(100);
    if (clock_.Now() + pause >= deadline) {
      return proposer_->Status().leader == 0 ? NoLeaderError() : TimeoutError();
    }
    if (!PauseUnlessStopping(pause)) return StoppedError();
  }
}

bool LeaseForwarder::CaughtUp() const {
  return proposer_->Status().caught_up();
}

absl::StatusOr<int64_t> LeaseForwarder::RenewOnce(int64_t id) {
  const uint64_t leader = proposer_->Status().leader;
  if (leader == 0) return NoLeaderError();
  if (leader == self_.member_id) {
    // As etcd's waitAppliedIndex: a grant committed but not yet applied
    // here must not read as an unknown lease.
    if (!CaughtUp()) return ApplyingError();
    return lessor_->Renew(id, clock_.Now());
  }
  auto stub = LeaderStub(leader);
  if (!stub.ok()) return stub.status();
  peerpb::LeaseForward req;
  req.set_cluster_id(self_.cluster_id);
  req.set_id(id);
  etcdserverpb::LeaseKeepAliveResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kForwardDeadline);
  auto st = (*stub)->LeaseRenew(&ctx, req, &resp);
  if (!st.ok()) return FromPeerWire(st, ctx);
  return resp.ttl();
}

absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> LeaseForwarder::TimeToLiveOnce(int64_t id,
                                                                                    bool keys) {
  const uint64_t leader = proposer_->Status().leader;
  if (leader == 0) return NoLeaderError();
  if (leader == self_.member_id) {
    if (!CaughtUp()) return ApplyingError();
    return lessor_->TimeToLive(id, keys, clock_.Now());
  }
  auto stub = LeaderStub(leader);
  if (!stub.ok()) return stub.status();
  peerpb::LeaseForward req;
  req.set_cluster_id(self_.cluster_id);
  req.set_id(id);
  req.set_keys(keys);
  etcdserverpb::LeaseTimeToLiveResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kForwardDeadline);
  auto st = (*stub)->LeaseTimeToLive(&ctx, req, &resp);
  if (!st.ok()) return FromPeerWire(st, ctx);
  return resp;
}

void LeaseForwarder::Renew(int64_t id, RenewDone done) {
  // A caught-up leader answers at once; anything else queues.
  if (lessor_->primary() && CaughtUp()) {
    auto r = lessor_->Renew(id, clock_.Now());
    if (r.ok() || !Retryable(r.status())) return done(r);
  }
  const absl::Time deadline = clock_.Now() + timeout_;
  Enqueue([this, id, deadline, done = std::move(done)] {
    done(Retry<int64_t>(deadline, [&] { return RenewOnce(id); }));
  });
}

void LeaseForwarder::TimeToLive(int64_t id, bool keys, TimeToLiveDone done) {
  if (lessor_->primary() && CaughtUp()) {
    auto r = lessor_->TimeToLive(id, keys, clock_.Now());
    if (r.ok() || !Retryable(r.status())) return done(std::move(r));
  }
  const absl::Time deadline = clock_.Now() + timeout_;
  Enqueue([this, id, keys, deadline, done = std::move(done)] {
    done(Retry<etcdserverpb::LeaseTimeToLiveResponse>(deadline,
                                                      [&] { return TimeToLiveOnce(id, keys); }));
  });
}

}  // namespace server
