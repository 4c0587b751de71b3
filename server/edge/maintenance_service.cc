#include "server/edge/maintenance_service.h"

#include <string>

#include "server/edge/grpc_errors.h"
#include "server/edge/snapshot_stream.h"
#include "storage/crc32c.h"

namespace server {

grpc::ServerUnaryReactor* MaintenanceService::Status(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::StatusRequest*,
                                                     etcdserverpb::StatusResponse* resp) {
  FillHeader(headers_, HeaderRevision::kCurrent, resp->mutable_header());
  resp->set_version(kEtcdServerVersion);
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
  FillHeader(headers_, HeaderRevision::kKeep, resp->mutable_header());
  // The revision hashed, not the store's latest.
  resp->mutable_header()->set_revision(view->rev());
  resp->set_hash(crc);
  resp->set_compact_revision(view->compact_rev());
  resp->set_hash_revision(rev);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* MaintenanceService::Snapshot(
    grpc::CallbackServerContext*, const etcdserverpb::SnapshotRequest*) {
  return new SnapshotStream(store_, kEtcdClusterVersion);
}

}  // namespace server
