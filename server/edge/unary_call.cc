#include "server/edge/unary_call.h"

#include "server/state/errors.h"

namespace server {

void UnaryCalls::Propose(serverpb::InternalRequest req, ProposeDone done) {
  // The proposer gives the request its cluster-wide id; this one stands in
  // for it so that the size checked is the size replicated, as in etcd.
  req.set_id(next_request_id_.fetch_add(1, std::memory_order_relaxed));
  if (static_cast<int64_t>(req.ByteSizeLong()) > max_request_bytes_) {
    done(RequestTooLargeError());
    return;
  }
  if (filter_) done = filter_(std::move(done));
  proposer_->Propose(std::move(req), std::move(done));
}

grpc::ServerUnaryReactor* UnaryCalls::Fail(grpc::CallbackServerContext* ctx,
                                           const absl::Status& s) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

}  // namespace server
