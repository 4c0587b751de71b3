#include "server/edge/cluster_service.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "server/edge/grpc_errors.h"
#include "server/edge/unary_call.h"
#include "server/net/url.h"
#include "server/state/errors.h"
#include "server/state/membership.h"
#include "storage/meta_schema.h"

namespace server {
namespace {

// etcd's types.NewURLs: at least one, each an http(s)/unix(s) URL with a
// host:port and no path; sorted.
absl::StatusOr<std::vector<std::string>> MemberUrls(const google::protobuf::RepeatedPtrField<std::string>& raw) {
  if (raw.empty()) return MemberBadUrlsError();
  std::vector<std::string> out;
  for (const auto& r : raw) {
    std::string u(absl::StripAsciiWhitespace(r));
    if (!ParseUrl(u).ok()) return MemberBadUrlsError();
    out.push_back(std::move(u));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<etcdserverpb::Member> ClusterService::ListMembers() const {
  std::map<uint64_t, etcdserverpb::Member> members;
  // The raft membership as applied; before the first conf change is
  // applied (a member's first moments), the bootstrap list.
  for (const auto& [id, r] : LoadRaftMembers(*store_)) {
    auto& m = members[id];
    m.set_id(id);
    m.set_name(r.name());
    for (const auto& u : r.peer_urls()) m.add_peerurls(u);
    m.set_islearner(r.is_learner());
  }
  if (members.empty()) {
    for (const auto& m : bootstrap_) members[m.id()] = m;
  }
  for (const auto& [key, value] : store_->ListMeta(storage::kMemberMetaPrefix)) {
    serverpb::MemberAttributes a;
    if (!a.ParseFromString(value)) continue;
    // A removed member's attributes are not listed.
    auto it = members.find(a.member_id());
    if (it == members.end()) continue;
    auto& m = it->second;
    m.set_name(a.name());
    m.clear_clienturls();
    for (const auto& u : a.client_urls()) m.add_clienturls(u);
  }
  // This member always knows its own name and client URLs, published or
  // not (its peer URLs are the cluster's record: MemberUpdate changes them).
  if (auto it = members.find(self_.ids.member_id); it != members.end()) {
    it->second.set_name(self_.name);
    it->second.clear_clienturls();
    for (const auto& u : self_.client_urls) it->second.add_clienturls(u);
  }
  std::vector<etcdserverpb::Member> out;
  for (auto& [id, m] : members) out.push_back(std::move(m));
  return out;
}

template <typename Resp>
void ClusterService::Answer(grpc::ServerUnaryReactor* reactor, Resp* resp, const absl::Status& s) const {
  if (!s.ok()) return reactor->Finish(ToGrpcStatus(s));
  // etcd's cluster server answers with no revision in the header.
  FillHeader(headers_, HeaderRevision::kKeep, resp->mutable_header());
  for (auto& m : ListMembers()) *resp->add_members() = std::move(m);
  reactor->Finish(grpc::Status::OK);
}

grpc::ServerUnaryReactor* ClusterService::MemberList(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::MemberListRequest* req,
                                                     etcdserverpb::MemberListResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  if (!req->linearizable()) {
    Answer(reactor, resp, absl::OkStatus());
    return reactor;
  }
  proposer_->ReadBarrier([this, reactor, resp](absl::Status s) { Answer(reactor, resp, s); });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberAdd(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::MemberAddRequest* req,
                                                    etcdserverpb::MemberAddResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto urls = MemberUrls(req->peerurls());
  if (!urls.ok()) return UnaryCalls::Fail(ctx, urls.status());
  if (auto s = AdmitAdmin(*ctx); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  changes_->Add(*urls, req->islearner(),
                [this, reactor, resp](absl::StatusOr<serverpb::MemberAttributes> added) {
                  if (added.ok()) {
                    auto* m = resp->mutable_member();
                    m->set_id(added->member_id());
                    for (const auto& u : added->peer_urls()) m->add_peerurls(u);
                    m->set_islearner(added->is_learner());
                  }
                  Answer(reactor, resp, added.status());
                });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberRemove(grpc::CallbackServerContext* ctx,
                                                       const etcdserverpb::MemberRemoveRequest* req,
                                                       etcdserverpb::MemberRemoveResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = AdmitAdmin(*ctx); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  changes_->Remove(req->id(), [this, reactor, resp](absl::Status s) { Answer(reactor, resp, s); });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberUpdate(grpc::CallbackServerContext* ctx,
                                                       const etcdserverpb::MemberUpdateRequest* req,
                                                       etcdserverpb::MemberUpdateResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = AdmitAdmin(*ctx); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto urls = MemberUrls(req->peerurls());
  if (!urls.ok()) return UnaryCalls::Fail(ctx, urls.status());
  auto* reactor = ctx->DefaultReactor();
  changes_->Update(req->id(), *urls, [this, reactor, resp](absl::Status s) { Answer(reactor, resp, s); });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::MemberPromote(grpc::CallbackServerContext* ctx,
                                                        const etcdserverpb::MemberPromoteRequest* req,
                                                        etcdserverpb::MemberPromoteResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = AdmitAdmin(*ctx); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  changes_->Promote(req->id(), [this, reactor, resp](absl::Status s) {
    if (!s.ok()) return Answer(reactor, resp, s);
    // Promoted by the leader: list once this member has applied it too.
    proposer_->ReadBarrier([this, reactor, resp](absl::Status s) { Answer(reactor, resp, s); });
  });
  return reactor;
}

}  // namespace server
