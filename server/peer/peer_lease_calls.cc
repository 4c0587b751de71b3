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

grpc::ServerUnaryReactor* PeerService::LeaseRenew(grpc::CallbackServerContext* ctx,
                                                  const peerpb::LeaseForward* req,
                                                  etcdserverpb::LeaseKeepAliveResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  Lessor* lessor = opts_.lessor;
  if (lessor == nullptr || req->cluster_id() != opts_.cluster_id) {
    reactor->Finish(ToPeerWire(NotLeaderError(), ctx));
    return reactor;
  }
  if (opts_.lease_caught_up && !opts_.lease_caught_up()) {
    reactor->Finish(ToPeerWire(ApplyingError(), ctx));
    return reactor;
  }
  auto ttl = lessor->Renew(req->id(), opts_.clock->Now());
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
  Lessor* lessor = opts_.lessor;
  if (lessor == nullptr || req->cluster_id() != opts_.cluster_id) {
    reactor->Finish(ToPeerWire(NotLeaderError(), ctx));
    return reactor;
  }
  if (opts_.lease_caught_up && !opts_.lease_caught_up()) {
    reactor->Finish(ToPeerWire(ApplyingError(), ctx));
    return reactor;
  }
  auto r = lessor->TimeToLive(req->id(), req->keys(), opts_.clock->Now());
  if (r.ok()) *resp = std::move(*r);
  reactor->Finish(ToPeerWire(r.status(), ctx));
  return reactor;
}

}  // namespace server
