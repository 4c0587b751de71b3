// The peer HashKV call, both sides: a member answers from its own store
// (server/state/kv_hash.h) and asks a peer through the shared directory.
// Errors keep their kind across the wire (wire_errors.h).
#include <chrono>
#include <memory>

#include "grpcpp/grpcpp.h"
#include "peerpb/peer.grpc.pb.h"
#include "server/peer/peer_hash.h"
#include "server/peer/peer_service.h"
#include "server/peer/wire_errors.h"
#include "server/state/kv_hash.h"

namespace server {

grpc::ServerUnaryReactor* PeerService::HashKV(grpc::CallbackServerContext* ctx,
                                              const peerpb::HashKVForward* req,
                                              etcdserverpb::HashKVResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (opts_.store == nullptr || req->cluster_id() != opts_.cluster_id) {
    reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "ketcd: hash not served here"));
    return reactor;
  }
  auto got = HashKv(*opts_.store, req->revision());
  if (!got.ok()) {
    reactor->Finish(ToPeerWire(got.status(), ctx));
    return reactor;
  }
  auto* header = resp->mutable_header();
  header->set_cluster_id(opts_.cluster_id);
  header->set_member_id(opts_.member_id);
  header->set_revision(got->rev);
  resp->set_hash(got->hash);
  resp->set_compact_revision(got->compact_rev);
  resp->set_hash_revision(got->hash_rev);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

absl::StatusOr<etcdserverpb::HashKVResponse> AskPeerHashKv(PeerDirectory& peers, uint64_t cluster_id,
                                                          uint64_t peer_id, int64_t rev,
                                                          absl::Duration timeout) {
  auto channel = peers.Channel(peer_id);
  if (!channel.ok()) return channel.status();
  auto stub = peerpb::Peer::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  peerpb::HashKVForward req;
  req.set_cluster_id(cluster_id);
  req.set_revision(rev);
  etcdserverpb::HashKVResponse resp;
  const grpc::Status s = stub->HashKV(&ctx, req, &resp);
  if (auto st = FromPeerWire(s, ctx); !st.ok()) return st;
  return resp;
}

}  // namespace server
