// ClusterService: etcd's Cluster service. MemberList (with 3.5's
// `linearizable`) lists the raft membership as applied (the bootstrap list
// before the first conf change is applied), overlaid by the attributes
// each member announced through the log (KvApplier::SetMemberAttributes,
// server/state/kv_applier.h); an added member has no name and no client
// URLs until it starts, as in etcd. MemberAdd, MemberRemove, MemberUpdate
// and MemberPromote go through MemberChanges (member_changes.h) and answer
// with the membership once the change is applied here.
// With auth on, the four changes need the root role, checked at the API
// layer before any other check but MemberAdd's URLs, with etcd's errors
// (etcd 3.4's checkMembershipOperationPermission); MemberList needs nobody.
// Ownership: borrows the proposer, store and changes, which must outlive it.
// Thread-safety: gRPC calls it from any thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/edge/auth_gate.h"
#include "server/edge/member_changes.h"
#include "server/edge/response_header.h"
#include "server/replication/proposer.h"
#include "server/state/member_info.h"
#include "storage/mvcc_store.h"

namespace server {

// What this member announces about itself.
struct MemberSelf {
  MemberInfo ids;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
};

class ClusterService final : public etcdserverpb::Cluster::CallbackService {
 public:
  ClusterService(MemberSelf self, std::vector<etcdserverpb::Member> bootstrap, Proposer* proposer,
                 const storage::MvccStore* store, MemberChanges* changes)
      : self_(std::move(self)), bootstrap_(std::move(bootstrap)), proposer_(proposer), store_(store),
        changes_(changes), headers_{self_.ids, proposer, store} {}
  // Null: no auth checks.
  void SetAuthGate(const AuthGate* gate) { auth_ = gate; }
  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MemberListRequest* req,
                                       etcdserverpb::MemberListResponse* resp) override;
  grpc::ServerUnaryReactor* MemberAdd(grpc::CallbackServerContext* ctx,
                                      const etcdserverpb::MemberAddRequest* req,
                                      etcdserverpb::MemberAddResponse* resp) override;
  grpc::ServerUnaryReactor* MemberRemove(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::MemberRemoveRequest* req,
                                         etcdserverpb::MemberRemoveResponse* resp) override;
  grpc::ServerUnaryReactor* MemberUpdate(grpc::CallbackServerContext* ctx,
                                         const etcdserverpb::MemberUpdateRequest* req,
                                         etcdserverpb::MemberUpdateResponse* resp) override;
  grpc::ServerUnaryReactor* MemberPromote(grpc::CallbackServerContext* ctx,
                                          const etcdserverpb::MemberPromoteRequest* req,
                                          etcdserverpb::MemberPromoteResponse* resp) override;

 private:
  absl::Status AdmitAdmin(const grpc::ServerContextBase& ctx) const {
    return auth_ == nullptr ? absl::OkStatus() : auth_->AdmitAdmin(ctx);
  }
  // The membership as applied on this member, in id order.
  std::vector<etcdserverpb::Member> ListMembers() const;
  // Finishes a membership call: the error, or the header and the members.
  template <typename Resp>
  void Answer(grpc::ServerUnaryReactor* reactor, Resp* resp, const absl::Status& s) const;

  const MemberSelf self_;
  const std::vector<etcdserverpb::Member> bootstrap_;
  Proposer* proposer_;
  const storage::MvccStore* store_;
  MemberChanges* changes_;
  const HeaderSource headers_;
  const AuthGate* auth_ = nullptr;
};

}  // namespace server
