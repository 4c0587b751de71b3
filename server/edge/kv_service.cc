#include "server/edge/kv_service.h"

#include "server/edge/grpc_errors.h"
#include "server/edge/request_checks.h"

namespace server {

absl::Status KvService::Stamp(const grpc::ServerContextBase& ctx, serverpb::InternalRequest* ir) const {
  return auth_ == nullptr ? absl::OkStatus() : auth_->Stamp(ctx, ir);
}

grpc::ServerUnaryReactor* KvService::Range(grpc::CallbackServerContext* ctx,
                                           const etcdserverpb::RangeRequest* req,
                                           etcdserverpb::RangeResponse* resp) {
  if (auto s = CheckLearner(*proposer_, req->serializable()); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckRange(*req); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  auto serve = [this, ctx, reactor, req, resp](absl::Status barrier) {
    if (!barrier.ok()) return reactor->Finish(ToGrpcStatus(barrier));
    calls_.Answer(reactor, resp, ReadChecked<etcdserverpb::RangeResponse>(
        *ctx,
        [req](const AuthState& st, const AuthInfo& who) {
          return CheckPermitted(st, who, req->key(), req->range_end(), PermAccess::kRead);
        },
        [this, req] { return applier_->ReadRange(*store_, *req); }));
  };
  if (req->serializable()) {
    serve(absl::OkStatus());
  } else {
    proposer_->ReadBarrier(std::move(serve));
  }
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Put(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::PutRequest* req,
                                         etcdserverpb::PutResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  // The quota first, as etcd's quotaKVServer wraps the request checks: an
  // invalid put over the quota is refused with NOSPACE.
  if (quota_ != nullptr && !quota_->Admit(BackendQuota::Cost(*req), reactor)) return reactor;
  if (auto s = CheckPut(*req); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  serverpb::InternalRequest ir;
  *ir.mutable_put() = *req;
  if (auto s = Stamp(*ctx, &ir); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  calls_.ProposeAndAnswer(std::move(ir), reactor, resp, [](auto& r) { return r.mutable_put(); });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::DeleteRange(grpc::CallbackServerContext* ctx,
                                                 const etcdserverpb::DeleteRangeRequest* req,
                                                 etcdserverpb::DeleteRangeResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckDeleteRange(*req); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  serverpb::InternalRequest ir;
  *ir.mutable_delete_range() = *req;
  if (auto s = Stamp(*ctx, &ir); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  calls_.ProposeAndAnswer(std::move(ir), reactor, resp,
                          [](auto& r) { return r.mutable_delete_range(); });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Txn(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::TxnRequest* req,
                                         etcdserverpb::TxnResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  if (quota_ != nullptr && !quota_->Admit(BackendQuota::Cost(*req), reactor)) return reactor;
  if (auto s = CheckTxn(*req, limits_.max_txn_ops); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  if (IsTxnReadOnly(*req)) {
    // etcd serves a read-only txn without raft, after a linearizable barrier.
    proposer_->ReadBarrier([this, ctx, reactor, req, resp](absl::Status barrier) {
      if (!barrier.ok()) return reactor->Finish(ToGrpcStatus(barrier));
      calls_.Answer(reactor, resp, ReadChecked<etcdserverpb::TxnResponse>(
          *ctx,
          [req](const AuthState& st, const AuthInfo& who) { return CheckTxnPermitted(st, who, *req); },
          [this, req] { return applier_->ReadTxn(*store_, *req); }));
    });
    return reactor;
  }
  serverpb::InternalRequest ir;
  *ir.mutable_txn() = *req;
  if (auto s = Stamp(*ctx, &ir); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  calls_.ProposeAndAnswer(std::move(ir), reactor, resp, [](auto& r) { return r.mutable_txn(); });
  return reactor;
}

grpc::ServerUnaryReactor* KvService::Compact(grpc::CallbackServerContext* ctx,
                                             const etcdserverpb::CompactionRequest* req,
                                             etcdserverpb::CompactionResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  serverpb::InternalRequest ir;
  *ir.mutable_compaction() = *req;
  if (auto s = Stamp(*ctx, &ir); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  const bool physical = req->physical();
  const int64_t rev = req->revision();
  calls_.Propose(std::move(ir), [this, reactor, resp, physical, rev](ProposeResult r) {
    if (!r.ok()) return reactor->Finish(ToGrpcStatus(r.status()));
    *resp = std::move(*r->mutable_compaction());
    FillHeader(calls_.headers(), HeaderRevision::kKeep, resp->mutable_header());
    if (!physical) return reactor->Finish(grpc::Status::OK);
    // etcd answers a physical compaction once the old versions are gone.
    store_->NotifyWhenCompacted(rev, [reactor] { reactor->Finish(grpc::Status::OK); });
  });
  return reactor;
}

}  // namespace server
