#include "server/edge/maintenance_service.h"

#include <string>

#include "server/edge/grpc_errors.h"
#include "server/edge/snapshot_stream.h"
#include "server/edge/unary_call.h"
#include "server/state/errors.h"
#include "server/state/membership.h"
#include "server/state/kv_hash.h"
#include "storage/crc32c.h"

namespace server {
namespace {

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* ctx, const grpc::Status& s) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(s);
  return reactor;
}

}  // namespace

grpc::Status MaintenanceService::AdmitAdmin(const grpc::ServerContextBase& ctx) const {
  if (auth_ == nullptr) return grpc::Status::OK;
  auto s = auth_->AdmitAdmin(ctx);
  return s.ok() ? grpc::Status::OK : UnconvertedAuthStatus(s);
}

grpc::ServerUnaryReactor* MaintenanceService::Status(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::StatusRequest*,
                                                     etcdserverpb::StatusResponse* resp) {
  FillHeader(headers_, HeaderRevision::kCurrent, resp->mutable_header());
  resp->set_version(kEtcdServerVersion);
  resp->set_dbsize(store_->DbSize());
  resp->set_dbsizeinuse(store_->LiveDataSize());
  const RaftStatus rs = proposer_->Status();
  resp->set_leader(rs.leader);
  resp->set_raftindex(rs.commit_index);
  resp->set_raftappliedindex(rs.applied_index);
  resp->set_raftterm(rs.term);
  resp->set_islearner(rs.is_learner);
  if (rs.leader == 0) resp->add_errors("etcdserver: no leader");
  // etcd lists each active alarm in its compact text form.
  for (const auto& a : alarms_->Get(etcdserverpb::NONE)) resp->add_errors(AlarmText(a));
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::HashKV(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::HashKVRequest* req,
                                                     etcdserverpb::HashKVResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = AdmitAdmin(*ctx); !s.ok()) return Refuse(ctx, s);
  const absl::Time start = clock_ != nullptr ? clock_->Now() : absl::Time();
  auto got = HashKv(*store_, req->revision());
  if (!got.ok()) return UnaryCalls::Fail(ctx, got.status());
  if (clock_ != nullptr) metrics_.hash_rev.Observe(clock_->Now() - start);
  FillHeader(headers_, HeaderRevision::kKeep, resp->mutable_header());
  // The store's revision as read, not the one hashed.
  resp->mutable_header()->set_revision(got->rev);
  resp->set_hash(got->hash);
  resp->set_compact_revision(got->compact_rev);
  resp->set_hash_revision(got->hash_rev);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Alarm(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::AlarmRequest* req,
                                                    etcdserverpb::AlarmResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auth_ != nullptr) {
    // etcd resolves the caller before proposing; only a bad token fails.
    if (auto who = auth_->Identify(*ctx); !who.ok()) return Refuse(ctx, UnconvertedAuthStatus(who.status()));
  }
  auto* reactor = ctx->DefaultReactor();
  serverpb::InternalRequest ir;
  *ir.mutable_alarm() = *req;
  // Even a GET goes through the log, as in etcd: a linearizable answer.
  // etcd's AlarmResponse carries no header; neither does this one.
  calls_.Propose(std::move(ir), [reactor, resp](ProposeResult r) {
    if (!r.ok()) return reactor->Finish(ToGrpcStatus(r.status()));
    *resp = std::move(*r->mutable_alarm());
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

namespace {

// A stream refused before it starts (etcd: no stream RPC on a learner).
class RefusedSnapshot final : public grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse> {
 public:
  explicit RefusedSnapshot(const grpc::Status& s) { Finish(s); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* MaintenanceService::Snapshot(
    grpc::CallbackServerContext* ctx, const etcdserverpb::SnapshotRequest*) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return new RefusedSnapshot(ToGrpcStatus(s));
  if (auto s = AdmitAdmin(*ctx); !s.ok()) return new RefusedSnapshot(s);
  if (clock_ == nullptr) return new SnapshotStream(store_, kEtcdClusterVersion);
  return new SnapshotStream(store_, kEtcdClusterVersion, [this, start = clock_->Now()] {
    metrics_.snapshot.Observe(clock_->Now() - start);
  });
}

grpc::ServerUnaryReactor* MaintenanceService::Hash(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::HashRequest*,
                                                   etcdserverpb::HashResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = AdmitAdmin(*ctx); !s.ok()) return Refuse(ctx, s);
  const absl::Time start = clock_ != nullptr ? clock_->Now() : absl::Time();
  auto view = store_->Read();
  uint32_t crc = 0;
  auto add_int = [&crc](int64_t v) { crc = storage::Crc32cExtend(crc, &v, sizeof(v)); };
  auto add_bytes = [&crc, &add_int](const std::string& b) {
    add_int(static_cast<int64_t>(b.size()));
    crc = storage::Crc32cExtend(crc, b.data(), b.size());
  };
  auto s = view->ForEachKeptRevision([&](storage::Revision rev, bool tombstone, const mvccpb::KeyValue& kv) {
    add_int(rev.main);
    add_int(rev.sub);
    add_int(tombstone ? 1 : 0);
    add_bytes(kv.SerializeAsString());
    return absl::OkStatus();
  });
  if (!s.ok()) return UnaryCalls::Fail(ctx, s);
  add_int(view->compact_rev());
  const int64_t rev = view->rev();
  view.reset();
  if (clock_ != nullptr) metrics_.hash.Observe(clock_->Now() - start);
  FillHeader(headers_, HeaderRevision::kKeep, resp->mutable_header());
  resp->mutable_header()->set_revision(rev);
  resp->set_hash(crc);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::MoveLeader(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::MoveLeaderRequest* req,
                                                         etcdserverpb::MoveLeaderResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (proposer_->Status().leader != info_.member_id) return UnaryCalls::Fail(ctx, NotLeaderError());
  const Membership m = LoadMembership(*store_);
  auto it = m.members.find(req->targetid());
  if (it == m.members.end() || it->second.is_learner()) {
    return UnaryCalls::Fail(ctx, BadLeaderTransfereeError());
  }
  auto* reactor = ctx->DefaultReactor();
  proposer_->TransferLeadership(req->targetid(), [this, reactor, resp](absl::Status s) {
    if (!s.ok()) return reactor->Finish(ToGrpcStatus(s));
    FillHeader(headers_, HeaderRevision::kCurrent, resp->mutable_header());
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* MaintenanceService::Defragment(grpc::CallbackServerContext* ctx,
                                                         const etcdserverpb::DefragmentRequest*,
                                                         etcdserverpb::DefragmentResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = AdmitAdmin(*ctx); !s.ok()) return Refuse(ctx, s);
  // Blocks this gRPC thread for the compaction's length, as etcd's does:
  // an operator's rare call; reads and writes are served meanwhile.
  const absl::Time start = clock_ != nullptr ? clock_->Now() : absl::Time();
  metrics_.defrag_inflight.fetch_add(1, std::memory_order_relaxed);
  const absl::Status defragged = store_->Defragment();
  metrics_.defrag_inflight.fetch_sub(1, std::memory_order_relaxed);
  if (!defragged.ok()) return UnaryCalls::Fail(ctx, defragged);
  if (clock_ != nullptr) metrics_.defrag.Observe(clock_->Now() - start);  // etcd times successes only
  FillHeader(headers_, HeaderRevision::kCurrent, resp->mutable_header());
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace server
