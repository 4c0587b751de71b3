#include "server/edge/member_services.h"

#include <map>

#include "server/state/applier.h"
#include "server/edge/grpc_errors.h"
#include "server/state/membership.h"
#include "storage/crc32c.h"

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
  std::map<uint64_t, etcdserverpb::Member> members;
  // The raft membership as applied; before the first conf change is
  // applied (a member's first moments), the bootstrap list.
  for (const auto& [id, r] : LoadRaftMembers(*store_)) {
    auto& m = members[id];
    m.set_id(id);
    m.set_name(r.name());
    for (const auto& u : r.peer_urls()) m.add_peerurls(u);
  }
  if (members.empty()) {
    for (const auto& m : bootstrap_) members[m.id()] = m;
  }
  for (const auto& [key, value] : store_->ListMeta(kMemberMetaPrefix)) {
    serverpb::MemberAttributes a;
    if (!a.ParseFromString(value)) continue;
    // A removed member's attributes stay behind; it is not listed.
    auto it = members.find(a.member_id());
    if (it == members.end()) continue;
    auto& m = it->second;
    m.set_name(a.name());
    m.clear_clienturls();
    for (const auto& u : a.client_urls()) m.add_clienturls(u);
  }
  // This member always knows its own addresses, published or not.
  auto& me = members[self_.ids.member_id];
  me.set_id(self_.ids.member_id);
  me.set_name(self_.name);
  me.clear_peerurls();
  for (const auto& u : self_.peer_urls) me.add_peerurls(u);
  me.clear_clienturls();
  for (const auto& u : self_.client_urls) me.add_clienturls(u);
  for (auto& [id, m] : members) *resp->add_members() = std::move(m);
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
  const RaftStatus rs = proposer_->Status();
  resp->set_leader(rs.leader);
  resp->set_raftindex(rs.commit_index);
  resp->set_raftappliedindex(rs.applied_index);
  resp->set_raftterm(rs.term);
  resp->set_islearner(rs.is_learner);
  if (rs.leader == 0) resp->add_errors("etcdserver: no leader");
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::HashKV(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::HashKVRequest* req,
                                                     etcdserverpb::HashKVResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto view = store_->Read();
  const int64_t rev = req->revision() > 0 ? req->revision() : view->rev();
  uint32_t crc = 0;
  auto add_int = [&crc](int64_t v) { crc = storage::Crc32cExtend(crc, &v, sizeof(v)); };
  auto add_bytes = [&crc, &add_int](const std::string& b) {
    add_int(static_cast<int64_t>(b.size()));
    crc = storage::Crc32cExtend(crc, b.data(), b.size());
  };
  storage::KeyRange all;
  all.single = false;
  all.to_end = true;
  auto s = view->Scan(all, rev, [&](const mvccpb::KeyValue& kv) {
    add_bytes(kv.key());
    add_bytes(kv.value());
    add_int(kv.create_revision());
    add_int(kv.mod_revision());
    add_int(kv.version());
    add_int(kv.lease());
  });
  if (!s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  add_int(view->compact_rev());
  Fill(resp->mutable_header(), self_, proposer_, store_);
  resp->mutable_header()->set_revision(view->rev());
  resp->set_hash(crc);
  resp->set_compact_revision(view->compact_rev());
  resp->set_hash_revision(rev);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace server
