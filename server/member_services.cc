#include "server/member_services.h"

namespace server {
namespace {

void Fill(etcdserverpb::ResponseHeader* h, const MemberSelf& self, const Proposer* proposer,
          const storage::MvccStore* store) {
  h->set_cluster_id(self.ids.cluster_id);
  h->set_member_id(self.ids.member_id);
  h->set_raft_term(proposer->Term());
  h->set_revision(store->Rev());
}

}  // namespace

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::MemberListRequest*,
                                                     etcdserverpb::MemberListResponse* resp) {
  Fill(resp->mutable_header(), self_, proposer_, store_);
  auto* m = resp->add_members();
  m->set_id(self_.ids.member_id);
  m->set_name(self_.name);
  for (const auto& u : self_.peer_urls) m->add_peerurls(u);
  for (const auto& u : self_.client_urls) m->add_clienturls(u);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Status(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::StatusRequest*,
                                                     etcdserverpb::StatusResponse* resp) {
  Fill(resp->mutable_header(), self_, proposer_, store_);
  resp->set_version(kEtcdApiVersion);
  const int64_t size = store_->DbSize();
  resp->set_dbsize(size);
  resp->set_dbsizeinuse(size);
  // A single member is its own leader, and its log index is its applied index.
  resp->set_leader(self_.ids.member_id);
  resp->set_raftindex(store_->AppliedIndex());
  resp->set_raftappliedindex(store_->AppliedIndex());
  resp->set_raftterm(proposer_->Term());
  resp->set_islearner(false);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace server
