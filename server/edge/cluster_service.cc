#include "server/edge/cluster_service.h"

#include <map>

#include "server/state/applier.h"
#include "server/state/membership.h"
#include "storage/meta_schema.h"

namespace server {

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::MemberListRequest*,
                                                     etcdserverpb::MemberListResponse* resp) {
  FillHeader(headers_, HeaderRevision::kCurrent, resp->mutable_header());
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
  for (const auto& [key, value] : store_->ListMeta(storage::kMemberMetaPrefix)) {
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

}  // namespace server
