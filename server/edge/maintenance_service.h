// MaintenanceService: the parts of etcd's Maintenance service a member can
// answer truthfully today: Status (what `etcdctl endpoint status` calls),
// HashKV (what `etcdctl endpoint hashkv` calls) and Snapshot (`etcdctl
// snapshot save`: an etcd 3.4 backup, see snapshot_stream.h). The others
// answer UNIMPLEMENTED until defragmentation tooling lands.
// Ownership: borrows the proposer and store, which must outlive it.
// Thread-safety: gRPC calls it from any thread.
#pragma once

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/edge/response_header.h"
#include "server/edge/versions.h"
#include "server/replication/proposer.h"
#include "server/state/member_info.h"
#include "storage/mvcc_store.h"

namespace server {

class MaintenanceService final : public etcdserverpb::Maintenance::CallbackService {
 public:
  MaintenanceService(MemberInfo info, const Proposer* proposer, const storage::MvccStore* store)
      : proposer_(proposer), store_(store), headers_{info, proposer, store} {}
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
  // The member's state as of the call, as a bbolt file in etcd's backend
  // schema followed by its SHA-256 (etcd 3.4's message sequence).
  grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* Snapshot(
      grpc::CallbackServerContext* ctx, const etcdserverpb::SnapshotRequest* req) override;

 private:
  const Proposer* proposer_;
  const storage::MvccStore* store_;
  const HeaderSource headers_;
};

}  // namespace server
