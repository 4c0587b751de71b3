#include "server/kv_service.h"

#include <atomic>

#include "server/errors.h"
#include "server/grpc_errors.h"
#include "server/request_checks.h"

namespace server {
namespace {

// etcd gives up on a proposal after this long and answers "request timed out".
constexpr absl::Duration kRequestTimeout = absl::Seconds(7);

absl::Duration TimeoutFor(grpc::ServerContext* ctx) {
  auto deadline = absl::FromChrono(ctx->deadline());
  auto left = deadline - absl::Now();
  return std::max(absl::ZeroDuration(), std::min(left, kRequestTimeout));
}

}  // namespace

void KvService::FillHeader(etcdserverpb::ResponseHeader* h) const {
  h->set_cluster_id(info_.cluster_id);
  h->set_member_id(info_.member_id);
  h->set_raft_term(proposer_->Term());
}

absl::StatusOr<serverpb::InternalResponse> KvService::Write(grpc::ServerContext* ctx,
                                                            serverpb::InternalRequest req) {
  req.set_id(next_request_id_.fetch_add(1, std::memory_order_relaxed));
  if (static_cast<int64_t>(req.ByteSizeLong()) > limits_.max_request_bytes) {
    return RequestError(kErrRequestTooLarge);
  }
  return proposer_->ProposeAndWait(std::move(req), TimeoutFor(ctx));
}

grpc::Status KvService::Range(grpc::ServerContext* ctx, const etcdserverpb::RangeRequest* req,
                              etcdserverpb::RangeResponse* resp) {
  if (auto s = CheckRange(*req); !s.ok()) return ToGrpcStatus(s);
  // Every acknowledged write is applied before it is acknowledged, so on a
  // single member the newest snapshot is a linearizable read.
  auto got = applier_->ReadRange(*store_, *req);
  if (!got.ok()) return ToGrpcStatus(got.status());
  *resp = std::move(*got);
  FillHeader(resp->mutable_header());
  return grpc::Status::OK;
}

grpc::Status KvService::Put(grpc::ServerContext* ctx, const etcdserverpb::PutRequest* req,
                            etcdserverpb::PutResponse* resp) {
  if (auto s = CheckPut(*req); !s.ok()) return ToGrpcStatus(s);
  serverpb::InternalRequest ir;
  *ir.mutable_put() = *req;
  auto got = Write(ctx, std::move(ir));
  if (!got.ok()) return ToGrpcStatus(got.status());
  *resp = std::move(*got->mutable_put());
  FillHeader(resp->mutable_header());
  return grpc::Status::OK;
}

grpc::Status KvService::DeleteRange(grpc::ServerContext* ctx,
                                    const etcdserverpb::DeleteRangeRequest* req,
                                    etcdserverpb::DeleteRangeResponse* resp) {
  if (auto s = CheckDeleteRange(*req); !s.ok()) return ToGrpcStatus(s);
  serverpb::InternalRequest ir;
  *ir.mutable_delete_range() = *req;
  auto got = Write(ctx, std::move(ir));
  if (!got.ok()) return ToGrpcStatus(got.status());
  *resp = std::move(*got->mutable_delete_range());
  FillHeader(resp->mutable_header());
  return grpc::Status::OK;
}

grpc::Status KvService::Txn(grpc::ServerContext* ctx, const etcdserverpb::TxnRequest* req,
                            etcdserverpb::TxnResponse* resp) {
  if (auto s = CheckTxn(*req, limits_.max_txn_ops); !s.ok()) return ToGrpcStatus(s);
  if (IsTxnReadOnly(*req)) {
    auto got = applier_->ReadTxn(*store_, *req);
    if (!got.ok()) return ToGrpcStatus(got.status());
    *resp = std::move(*got);
  } else {
    serverpb::InternalRequest ir;
    *ir.mutable_txn() = *req;
    auto got = Write(ctx, std::move(ir));
    if (!got.ok()) return ToGrpcStatus(got.status());
    *resp = std::move(*got->mutable_txn());
  }
  FillHeader(resp->mutable_header());
  return grpc::Status::OK;
}

grpc::Status KvService::Compact(grpc::ServerContext* ctx, const etcdserverpb::CompactionRequest* req,
                                etcdserverpb::CompactionResponse* resp) {
  serverpb::InternalRequest ir;
  *ir.mutable_compaction() = *req;
  auto got = Write(ctx, std::move(ir));
  if (!got.ok()) return ToGrpcStatus(got.status());
  if (req->physical()) store_->WaitCompacted(req->revision());
  *resp = std::move(*got->mutable_compaction());
  FillHeader(resp->mutable_header());
  return grpc::Status::OK;
}

}  // namespace server
