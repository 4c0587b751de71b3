// The member-facing parts of etcd's Cluster and Maintenance services that a
// single member can answer truthfully: Cluster.MemberList and
// Maintenance.Status (what `etcdctl member list` and `etcdctl endpoint
// status` call). The rest answer UNIMPLEMENTED until the replicated member
// provides them.
#pragma once

#include <string>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/edge/kv_service.h"
#include "server/replication/proposer.h"
#include "storage/mvcc_store.h"

namespace server {

// What this member announces about itself.
struct MemberSelf {
  MemberInfo ids;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
};

// The etcd release whose API and behaviour ketcd implements; Status reports it.
inline constexpr char kEtcdApiVersion[] = "3.5.0";

// The members a member knows: the bootstrap list, overlaid by the
// attributes each member announced through the log (applier.h).
class ClusterService final : public etcdserverpb::Cluster::CallbackService {
 public:
  ClusterService(MemberSelf self, std::vector<etcdserverpb::Member> bootstrap,
                 const Proposer* proposer, const storage::MvccStore* store)
      : self_(std::move(self)), bootstrap_(std::move(bootstrap)), proposer_(proposer), store_(store) {}
  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MemberListRequest* req,
                                       etcdserverpb::MemberListResponse* resp) override;

 private:
  MemberSelf self_;
  std::vector<etcdserverpb::Member> bootstrap_;
  const Proposer* proposer_;
  const storage::MvccStore* store_;
};

class MaintenanceService final : public etcdserverpb::Maintenance::CallbackService {
 public:
  MaintenanceService(MemberSelf self, const Proposer* proposer, const storage::MvccStore* store)
      : self_(std::move(self)), proposer_(proposer), store_(store) {}
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::StatusRequest* req,
                                   etcdserverpb::StatusResponse* resp) override;
  // A CRC-32C of the key space as of a revision: every live key's
  // key, value, create/mod revision, version and lease, in key order, and
  // the compaction revision. It depends only on the applied history, never
  // on how far background compaction got, so members that agree hash
  // equal. (Not comparable with etcd's own hash, which covers its bbolt
  // layout.)
  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::HashKVRequest* req,
                                   etcdserverpb::HashKVResponse* resp) override;

 private:
  MemberSelf self_;
  const Proposer* proposer_;
  const storage::MvccStore* store_;
};

}  // namespace server
