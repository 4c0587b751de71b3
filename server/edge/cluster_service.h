// ClusterService: the part of etcd's Cluster service a member can answer
// truthfully today, MemberList (what `etcdctl member list` calls): the raft
// membership as applied (the bootstrap list before the first conf change is
// applied), overlaid by the attributes each member announced through the
// log (KvApplier::SetMemberAttributes, server/state/kv_applier.h). The other Cluster calls answer UNIMPLEMENTED until
// membership changes land.
// Ownership: borrows the proposer and store, which must outlive it.
// Thread-safety: gRPC calls it from any thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
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
  ClusterService(MemberSelf self, std::vector<etcdserverpb::Member> bootstrap,
                 const Proposer* proposer, const storage::MvccStore* store)
      : self_(std::move(self)), bootstrap_(std::move(bootstrap)), store_(store),
        headers_{self_.ids, proposer, store} {}
  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MemberListRequest* req,
                                       etcdserverpb::MemberListResponse* resp) override;

 private:
  const MemberSelf self_;
  const std::vector<etcdserverpb::Member> bootstrap_;
  const storage::MvccStore* store_;
  const HeaderSource headers_;
};

}  // namespace server
