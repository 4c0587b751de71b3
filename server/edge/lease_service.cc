#include "server/edge/lease_service.h"

#include <limits>
#include <utility>

#include "server/edge/grpc_errors.h"

namespace server {

LeaseService::LeaseService(storage::MvccStore* store, Proposer* proposer, Lessor* lessor,
                           LeaseForwarder* forwarder, const base::Clock& clock, MemberInfo info,
                           QuotaGate* quota, GrpcMetrics* metrics)
    : proposer_(proposer), lessor_(lessor), forwarder_(forwarder), quota_(quota), metrics_(metrics),
      keep_alive_counters_(metrics != nullptr ? metrics->CountInService("/etcdserverpb.Lease/LeaseKeepAlive")
                                              : nullptr),
      clock_(clock),
      calls_(proposer, HeaderSource{info, proposer, store}, std::numeric_limits<int64_t>::max(),
             QuotaGate::Filter(quota)),
      rng_(info.member_id ^ static_cast<uint64_t>(absl::ToUnixNanos(clock.Now()))) {}

int64_t LeaseService::NewLeaseId() {
  std::lock_guard<std::mutex> lock(rng_mu_);
  int64_t id = 0;
  while (id == 0) id = static_cast<int64_t>(rng_() & 0x7fffffffffffffffull);
  return id;
}

grpc::ServerUnaryReactor* LeaseService::LeaseGrant(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::LeaseGrantRequest* req,
                                                   etcdserverpb::LeaseGrantResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  if (quota_ != nullptr && !quota_->Admit(BackendQuota::Cost(*req), reactor)) return reactor;
  serverpb::InternalRequest ir;
  *ir.mutable_lease_grant() = *req;
  if (req->id() == 0) ir.mutable_lease_grant()->set_id(NewLeaseId());
  if (auto s = auth_ ? auth_->Stamp(*ctx, &ir) : absl::OkStatus(); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  // etcd reports the store's revision when it answers a grant.
  calls_.ProposeAndAnswer(
      std::move(ir), reactor, resp, [](auto& r) { return r.mutable_lease_grant(); },
      HeaderRevision::kCurrent);
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::LeaseRevoke(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseRevokeRequest* req,
                                                    etcdserverpb::LeaseRevokeResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  serverpb::InternalRequest ir;
  *ir.mutable_lease_revoke() = *req;
  if (auto s = auth_ ? auth_->Stamp(*ctx, &ir) : absl::OkStatus(); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  // A revoke reports the revision its deletions made (set by the applier).
  calls_.ProposeAndAnswer(std::move(ir), reactor, resp,
                          [](auto& r) { return r.mutable_lease_revoke(); });
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::LeaseTimeToLive(
    grpc::CallbackServerContext* ctx, const etcdserverpb::LeaseTimeToLiveRequest* req,
    etcdserverpb::LeaseTimeToLiveResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  forwarder_->TimeToLive(
      req->id(), req->keys(),
      [this, reactor, resp](absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> r) {
        calls_.Answer(reactor, resp, std::move(r), HeaderRevision::kCurrent);
      });
  return reactor;
}

grpc::ServerUnaryReactor* LeaseService::LeaseLeases(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::LeaseLeasesRequest*,
                                                    etcdserverpb::LeaseLeasesResponse* resp) {
  FillHeader(calls_.headers(), HeaderRevision::kCurrent, resp->mutable_header());
  for (int64_t id : lessor_->Leases(clock_.Now())) resp->add_leases()->set_id(id);
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
  KeepAlive(LeaseService* svc, grpc::CallbackServerContext* ctx)
      : svc_(svc), counts_(StartCallCounts(svc->keep_alive_counters_, svc->metrics_, ctx->client_metadata())) {
    absl::Status s = CheckLearner(*svc_->proposer_, false);
    if (s.ok()) s = CheckRequireLeader(*ctx, *svc_->proposer_);
    if (!s.ok()) {
      FinishCounted(ToGrpcStatus(s));
      return;
    }
    StartRead(&req_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishCounted(grpc::Status::OK);
      return;
    }
    if (counts_) counts_->Received(&req_);
    etcdserverpb::LeaseKeepAliveResponse resp;
    // Before the renewal, as etcd does.
    FillHeader(svc_->calls_.headers(), HeaderRevision::kCurrent, resp.mutable_header());
    resp.set_id(req_.id());
    {
      std::lock_guard<std::mutex> lock(mu_);
      resp_ = std::move(resp);
    }
    svc_->forwarder_->Renew(req_.id(), [this](absl::StatusOr<int64_t> ttl) {
      if (!ttl.ok()) {
        FinishCounted(ToGrpcStatus(ttl.status()));
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      resp_.set_ttl(*ttl);
      if (counts_) counts_->Sent(resp_.ByteSizeLong());
      StartWrite(&resp_);
    });
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      FinishCounted(grpc::Status(grpc::StatusCode::CANCELLED, "keep-alive stream broken"));
      return;
    }
    StartRead(&req_);
  }
  void OnDone() override { delete this; }

 private:
  // Exactly one Finish per stream: each path above ends the stream's reads
  // and writes before it finishes.
  void FinishCounted(const grpc::Status& s) {
    if (counts_) counts_->Handled(s.error_code());
    Finish(s);
  }

  LeaseService* svc_;
  const std::unique_ptr<CallCounts> counts_;  // null: no metrics
  std::mutex mu_;
  etcdserverpb::LeaseKeepAliveRequest req_;
  etcdserverpb::LeaseKeepAliveResponse resp_;  // guarded by mu_ while a renewal runs
};

grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>*
LeaseService::LeaseKeepAlive(grpc::CallbackServerContext* ctx) {
  return new KeepAlive(this, ctx);
}

}  // namespace server
