// Membership calls between members: a joining member's question for the
// cluster it was added to (answered from the applied raft records), and a
// follower's MemberPromote forwarded to the leader, whose raft progress
// alone tells whether the learner has caught up. Errors keep their kind
// across the wire (wire_errors.h).
#include <memory>
#include <utility>

#include "grpcpp/grpcpp.h"
#include "server/peer/peer_service.h"
#include "server/peer/wire_errors.h"
#include "server/state/errors.h"
#include "server/state/membership.h"

namespace server {

grpc::ServerUnaryReactor* PeerService::Membership(grpc::CallbackServerContext* ctx,
                                                  const peerpb::MembershipRequest*,
                                                  peerpb::MembershipResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (opts_.store == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "ketcd: membership not served here"));
    return reactor;
  }
  resp->set_cluster_id(opts_.cluster_id);
  for (auto& [id, m] : LoadRaftMembers(*opts_.store)) *resp->add_members() = std::move(m);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* PeerService::PromoteMember(grpc::CallbackServerContext* ctx,
                                                     const peerpb::PromoteForward* req,
                                                     peerpb::PromoteAck*) {
  auto* reactor = ctx->DefaultReactor();
  if (!opts_.promote_member || req->cluster_id() != opts_.cluster_id) {
    reactor->Finish(ToPeerWire(NotLeaderError(), ctx));
    return reactor;
  }
  opts_.promote_member(req->member_id(), [reactor, ctx](absl::Status s) {
    reactor->Finish(ToPeerWire(s, ctx));
  });
  return reactor;
}

}  // namespace server
