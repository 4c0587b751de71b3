// ElectionService: etcd's v3election service (`etcdctl elect`, clientv3's
// v3election client), with etcd 3.4's semantics (etcdserver/api/v3election):
//  - Campaign puts <name>/<lease in hex> with the value on the caller's
//    lease (a new 60 s lease when 0), or proclaims the value if the key
//    exists with another, and answers once every key created before it is
//    gone: the caller leads. The answer's LeaderKey (name, key, create
//    revision, lease) identifies this leadership; its header is the
//    campaign write's. Cancelled while waiting, it resigns.
//  - Proclaim rewrites the leader's value if the key's create revision is
//    still the LeaderKey's, else "election: not leader".
//  - Resign deletes the key if its create revision is still the
//    LeaderKey's (otherwise nothing, and no error).
//  - Leader answers the oldest key under <name>/, or "election: no leader".
//  - Observe streams the leader's key-value, each change of it, and each
//    next leader, until the client goes away.
// A request without its LeaderKey gets etcd's `"leader" field must be
// provided`. Every call runs on the member's own API as the caller (its
// token or certificate identity: a caller without read and write on
// <name>/ gets "etcdserver: permission denied"). Errors reach the client as
// etcd sends them (gRPC UNKNOWN with etcd's text; concurrency_recipes.h).
//
// Ownership: borrows the client, which must outlive it. Thread-safety: gRPC
// calls it from any thread; no call holds a thread while it waits.
#pragma once

#include "server/edge/auth_gate.h"
#include "server/edge/self_client.h"
#include "v3electionpb/v3election.grpc.pb.h"

namespace server {

class ElectionService final : public v3electionpb::Election::CallbackService {
 public:
  // `auth` null: no auth.
  ElectionService(SelfClient* client, const AuthGate* auth) : client_(client), auth_(auth) {}

  grpc::ServerUnaryReactor* Campaign(grpc::CallbackServerContext* ctx,
                                     const v3electionpb::CampaignRequest* req,
                                     v3electionpb::CampaignResponse* resp) override;
  grpc::ServerUnaryReactor* Proclaim(grpc::CallbackServerContext* ctx,
                                     const v3electionpb::ProclaimRequest* req,
                                     v3electionpb::ProclaimResponse* resp) override;
  grpc::ServerUnaryReactor* Leader(grpc::CallbackServerContext* ctx,
                                   const v3electionpb::LeaderRequest* req,
                                   v3electionpb::LeaderResponse* resp) override;
  grpc::ServerWriteReactor<v3electionpb::LeaderResponse>* Observe(
      grpc::CallbackServerContext* ctx, const v3electionpb::LeaderRequest* req) override;
  grpc::ServerUnaryReactor* Resign(grpc::CallbackServerContext* ctx,
                                   const v3electionpb::ResignRequest* req,
                                   v3electionpb::ResignResponse* resp) override;

 private:
  SelfClient ClientFor(const grpc::ServerContextBase& ctx) const;

  SelfClient* const client_;
  const AuthGate* const auth_;
};

}  // namespace server
