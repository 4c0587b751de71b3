#include "server/edge/lease_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "server/net/url.h"
#include "server/state/errors.h"
#include "server/edge/grpc_errors.h"
#include "server/state/membership.h"

namespace server {
namespace {

constexpr char kErrNotLeader[] = "not leader";

bool Retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || (absl::IsFailedPrecondition(s) && s.message() == kErrNotLeader);
}

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace

// ---------------------------------------------------------------- forwarder

LeaseForwarder::LeaseForwarder(storage::MvccStore* store, Proposer* proposer, Lessor* lessor,
                               MemberInfo self, absl::Duration timeout)
    : store_(store), proposer_(proposer), lessor_(lessor), self_(self), timeout_(timeout) {
  for (int i = 0; i < 2; ++i) workers_.emplace_back([this] { Worker(); });
}

LeaseForwarder::~LeaseForwarder() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  for (auto& job : jobs_) job();  // answered with "server stopped" (stopping_ is set)
}

void LeaseForwarder::Worker() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

absl::StatusOr<peerpb::Peer::Stub*> LeaseForwarder::LeaderStub(uint64_t leader) {
  auto members = LoadRaftMembers(*store_);
  auto it = members.find(leader);
  if (it == members.end() || it->second.peer_urls_size() == 0) return NoLeaderError();
  auto url = ParseUrl(it->second.peer_urls(0));
  if (!url.ok()) return NoLeaderError();
  const std::string target = url->HostPort();
  std::lock_guard<std::mutex> lock(stub_mu_);
  auto& stub = stubs_[target];
  if (!stub) {
    stub = peerpb::Peer::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  }
  return stub.get();
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
    const absl::Duration pause =
        r.status().message() == "applying" ? absl::Milliseconds(2) : absl::Milliseconds(100);
    if (absl::Now() + pause >= deadline) {
      return proposer_->Status().leader == 0 ? NoLeaderError() : TimeoutError();
    }
    absl::SleepFor(pause);
  }
}

bool LeaseForwarder::CaughtUp() const {
  const RaftStatus st = proposer_->Status();
  return st.applied_index >= st.commit_index;
}

absl::StatusOr<int64_t> LeaseForwarder::RenewOnce(int64_t id) {
  const uint64_t leader = proposer_->Status().leader;
  if (leader == 0) return NoLeaderError();
  if (leader == self_.member_id) {
    // As etcd's waitAppliedIndex: a grant committed but not yet applied
    // here must not read as an unknown lease.
    if (!CaughtUp()) return absl::UnavailableError("applying");
    return lessor_->Renew(id, absl::Now());
  }
  auto stub = LeaderStub(leader);
  if (!stub.ok()) return stub.status();
  peerpb::LeaseForward req;
  req.set_cluster_id(self_.cluster_id);
  req.set_id(id);
  etcdserverpb::LeaseKeepAliveResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  auto st = (*stub)->LeaseRenew(&ctx, req, &resp);
  if (!st.ok()) return FromGrpc(st);
  return resp.ttl();
}

absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> LeaseForwarder::TimeToLiveOnce(int64_t id,
                                                                                    bool keys) {
  const uint64_t leader = proposer_->Status().leader;
  if (leader == 0) return NoLeaderError();
  if (leader == self_.member_id) {
    if (!CaughtUp()) return absl::UnavailableError("applying");
    return lessor_->TimeToLive(id, keys, absl::Now());
  }
  auto stub = LeaderStub(leader);
  if (!stub.ok()) return stub.status();
  peerpb::LeaseForward req;
  req.set_cluster_id(self_.cluster_id);
  req.set_id(id);
  req.set_keys(keys);
  etcdserverpb::LeaseTimeToLiveResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  auto st = (*stub)->LeaseTimeToLive(&ctx, req, &resp);
  if (!st.ok()) return FromGrpc(st);
  return resp;
}

void LeaseForwarder::Renew(int64_t id, std::function<void(absl::StatusOr<int64_t>)> done) {
  // A caught-up leader answers at once; anything else queues.
  if (lessor_->primary() && CaughtUp()) {
    auto r = lessor_->Renew(id, absl::Now());
    if (r.ok() || !Retryable(r.status())) return done(r);
  }
  const absl::Time deadline = absl::Now() + timeout_;
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.push_back([this, id, deadline, done = std::move(done)] {
    done(Retry<int64_t>(deadline, [&] { return RenewOnce(id); }));
  });
  cv_.notify_one();
}

void LeaseForwarder::TimeToLive(
    int64_t id, bool keys,
    std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done) {
  if (lessor_->primary() && CaughtUp()) {
    auto r = lessor_->TimeToLive(id, keys, absl::Now());
    if (r.ok() || !Retryable(r.status())) return done(std::move(r));
  }
  const absl::Time deadline = absl::Now() + timeout_;
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.push_back([this, id, keys, deadline, done = std::move(done)] {
    done(Retry<etcdserverpb::LeaseTimeToLiveResponse>(deadline,
                                                      [&] { return TimeToLiveOnce(id, keys); }));
  });
  cv_.notify_one();
}

// ---------------------------------------------------------------- expirer

LeaseExpirer::LeaseExpirer(Lessor* lessor, Proposer* proposer, uint64_t self_id, Options opts)
    : lessor_(lessor), proposer_(proposer), self_id_(self_id), opts_(opts) {
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
  absl::Time next_checkpoint = absl::Now() + opts_.checkpoint_interval;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoMilliseconds(opts_.period), [&] { return stopping_; });
      if (stopping_) return;
    }
    const absl::Time now = absl::Now();
    const bool leading = proposer_->Status().leader == self_id_;
    if (leading && !lessor_->primary()) {
      // Promote only once everything committed before this term is
      // applied (a read barrier waits for the term's first commit), as etcd
      // promotes when its leader applies that entry: a lease granted or
      // revoked just before the election must be known first.
      if (barrier_ok_.exchange(false)) {
        lessor_->Promote(absl::Now());
        next_checkpoint = now + opts_.checkpoint_interval;
      } else if (!barrier_pending_.exchange(true)) {
        proposer_->ReadBarrier([this](absl::Status s) {
          barrier_ok_.store(s.ok());
          barrier_pending_.store(false);
        });
      }
      continue;
    }
    if (!leading) {
      if (lessor_->primary()) lessor_->Demote();
      barrier_ok_.store(false);
      continue;
    }
    // Renewals that cleared a checkpointed remaining TTL are recorded at
    // once, so that a new leader does not start from the stale value.
    auto resets = lessor_->TakeCheckpointResets();
    if (!resets.empty()) {
      serverpb::InternalRequest req;
      for (int64_t id : resets) {
        auto* cp = req.mutable_lease_checkpoint()->add_checkpoints();
        cp->set_id(id);
        cp->set_remaining_ttl(0);
      }
      proposer_->Propose(std::move(req), [](ProposeResult) {});
    }
    // Revocations go through raft; one that fails (leadership moving) is
    // reported again after the request timeout, as etcd retries.
    for (int64_t id : lessor_->TakeExpired(now, absl::Seconds(7), 500)) {
      serverpb::InternalRequest req;
      req.mutable_lease_revoke()->set_id(id);
      proposer_->Propose(std::move(req), [](ProposeResult) {});
    }
    if (now >= next_checkpoint) {
      next_checkpoint = now + opts_.checkpoint_interval;
      auto candidates = lessor_->CheckpointCandidates(now, opts_.checkpoint_interval);
      for (size_t i = 0; i < candidates.size(); i += 1000) {
        serverpb::InternalRequest req;
        for (size_t j = i; j < std::min(candidates.size(), i + 1000); ++j) {
          auto* cp = req.mutable_lease_checkpoint()->add_checkpoints();
          cp->set_id(candidates[j].first);
          cp->set_remaining_ttl(candidates[j].second);
        }
        proposer_->Propose(std::move(req), [](ProposeResult) {});
      }
    }
  }
}

// ---------------------------------------------------------------- service

LeaseService::LeaseService(storage::MvccStore* store, Proposer* proposer, Lessor* lessor,
                           LeaseForwarder* forwarder, MemberInfo info)
    : store_(store), proposer_(proposer), lessor_(lessor), forwarder_(forwarder), info_(info),
      rng_(info.member_id ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))) {}

void LeaseService::FillHeader(etcdserverpb::ResponseHeader* h) const {
  h->set_cluster_id(info_.cluster_id);
  h->set_member_id(info_.member_id);
  h->set_raft_term(proposer_->Term());
  h->set_revision(store_->Rev());
}

int64_t LeaseService::NewLeaseId() {
  std::lock_guard<std::mutex> lock(rng_mu_);
  int64_t id = 0;
  while (id == 0) id = static_cast<int64_t>(rng_() & 0x7fffffffffffffffull);
  return id;
}

namespace {

grpc::ServerUnaryReactor* FailWith(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* LeaseService::LeaseGrant(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::LeaseGrantRequest* req,
                                                   etcdserverpb::LeaseGrantResponse* resp) {
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return FailWith(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  serverpb::InternalRequest ir;
  *ir.mutable_lease_grant() = *req;
  if (req->id() == 0) ir.mutable_lease_grant()->set_id(NewLeaseId());
  proposer_->Propose(std::move(ir), [this, reactor, resp](ProposeResult r) {
    if (!r.ok()) return reactor->Finish(ToGrpcStatus(r.status()));
    *resp = std::move(*r->mutable_lease_grant());
    FillHeader(resp->mutable_header());
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::LeaseRevoke(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseRevokeRequest* req,
                                                    etcdserverpb::LeaseRevokeResponse* resp) {
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return FailWith(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  serverpb::InternalRequest ir;
  *ir.mutable_lease_revoke() = *req;
  proposer_->Propose(std::move(ir), [this, reactor, resp](ProposeResult r) {
    if (!r.ok()) return reactor->Finish(ToGrpcStatus(r.status()));
    *resp = std::move(*r->mutable_lease_revoke());
    const int64_t rev = resp->header().revision();
    FillHeader(resp->mutable_header());
    resp->mutable_header()->set_revision(rev);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::LeaseTimeToLive(grpc::CallbackServerContext* ctx,
                                                        const etcdserverpb::LeaseTimeToLiveRequest* req,
                                                        etcdserverpb::LeaseTimeToLiveResponse* resp) {
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return FailWith(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  forwarder_->TimeToLive(req->id(), req->keys(),
                         [this, reactor, resp](absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> r) {
                           if (!r.ok()) return reactor->Finish(ToGrpcStatus(r.status()));
                           *resp = std::move(*r);
                           FillHeader(resp->mutable_header());
                           reactor->Finish(grpc::Status::OK);
                         });
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::LeaseLeases(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseLeasesRequest*,
                                                    etcdserverpb::LeaseLeasesResponse* resp) {
  FillHeader(resp->mutable_header());
  for (int64_t id : lessor_->Leases(absl::Now())) resp->add_leases()->set_id(id);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

// One keep-alive stream: requests are answered one at a time, in order,
// each with the granted TTL (0: the lease is gone). A client half-close
// ends the stream with OK, as in etcd.
class LeaseService::KeepAlive
    : public grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest,
                                     etcdserverpb::LeaseKeepAliveResponse> {
 public:
  KeepAlive(LeaseService* svc, grpc::CallbackServerContext* ctx) : svc_(svc) {
    if (auto s = CheckRequireLeader(*ctx, *svc_->proposer_); !s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    StartRead(&req_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    etcdserverpb::LeaseKeepAliveResponse resp;
    svc_->FillHeader(resp.mutable_header());  // before the renewal, as etcd does
    resp.set_id(req_.id());
    {
      std::lock_guard<std::mutex> lock(mu_);
      resp_ = std::move(resp);
    }
    svc_->forwarder_->Renew(req_.id(), [this](absl::StatusOr<int64_t> ttl) {
      if (!ttl.ok()) {
        Finish(ToGrpcStatus(ttl.status()));
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      resp_.set_ttl(*ttl);
      StartWrite(&resp_);
    });
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "keep-alive stream broken"));
      return;
    }
    StartRead(&req_);
  }
  void OnDone() override { delete this; }

 private:
  LeaseService* svc_;
  std::mutex mu_;
  etcdserverpb::LeaseKeepAliveRequest req_;
  etcdserverpb::LeaseKeepAliveResponse resp_;  // guarded by mu_ while a renewal runs
};

grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>*
LeaseService::LeaseKeepAlive(grpc::CallbackServerContext* ctx) {
  return new KeepAlive(this, ctx);
}

}  // namespace server
