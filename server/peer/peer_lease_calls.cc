// The leader's side of lease calls forwarded by followers (LeaseRenew,
// LeaseTimeToLive): only the leader's Lessor knows the live deadlines.
// The forwarding side is LeaseForwarder (server/edge/lease_forwarder.h);
// errors keep their base::ErrorKind across the wire (wire_errors.h), so
// the follower retries on kNotLeader / kApplying as if raised locally. Both
// wait, as the leader's own calls do, until it applied what it committed.
#include <utility>

#include "grpcpp/grpcpp.h"
#include "server/peer/peer_service.h"
#include "server/peer/wire_errors.h"
#include "server/state/errors.h"

namespace server {

absl::Status PeerService::LeaseCallRefusal(uint64_t cluster_id) const {
  if (opts_.lessor == nullptr || cluster_id != opts_.cluster_id) return NotLeaderError();
  if (opts_.lease_caught_up && !opts_.lease_caught_up()) return ApplyingError();
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* PeerService::LeaseRenew(grpc::CallbackServerContext* ctx,
                                                  const peerpb::LeaseForward* req,
                                                  etcdserverpb::LeaseKeepAliveResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto refused = LeaseCallRefusal(req->cluster_id()); !refused.ok()) {
    reactor->Finish(ToPeerWire(refused, ctx));
    return reactor;
  }
  auto ttl = opts_.lessor->Renew(req->id(), opts_.clock->Now());
  if (ttl.ok()) {
    resp->set_id(req->id());
    resp->set_ttl(*ttl);
  }
  reactor->Finish(ToPeerWire(ttl.status(), ctx));
  return reactor;
}

grpc::ServerUnaryReactor* PeerService::LeaseTimeToLive(grpc::CallbackServerContext* ctx,
                                                       const peerpb::LeaseForward* req,
                                                       etcdserverpb::LeaseTimeToLiveResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto refused = LeaseCallRefusal(req->cluster_id()); !refused.ok()) {
    reactor->Finish(ToPeerWire(refused, ctx));
    return reactor;
  }
  auto r = opts_.lessor->TimeToLive(req->id(), req->keys(), opts_.clock->Now());
  if (r.ok()) *resp = std::move(*r);
  reactor->Finish(ToPeerWire(r.status(), ctx));
  return reactor;
}

}  // namespace server
