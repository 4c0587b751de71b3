// MaintenanceService: etcd's Maintenance service: Status (`etcdctl
// endpoint status`), HashKV (`endpoint hashkv`), Hash, Snapshot (`etcdctl
// snapshot save`: an etcd 3.4 backup, see snapshot_stream.h), MoveLeader
// (`move-leader`: raft's leader transfer, on the leader only) and
// Defragment (`defrag`: RocksDB's manual compaction of every column
// family, online) and Alarm (`alarm list`, `alarm disarm`). Status lists
// the active alarms in `errors`, as etcd does.
// With auth on, as etcd 3.4 (etcdserver/api/v3rpc/maintenance.go):
// Defragment, Snapshot, Hash and HashKV need the root role, refused with
// the auth package's unconverted error (UnconvertedAuthStatus); Status,
// MoveLeader and Alarm need nobody (an Alarm with a bad token is refused,
// as etcd resolves the caller before proposing it). etcd 3.5.x+ also
// checks Status and MoveLeader and converts the errors; not done here.
// Ownership: borrows the proposer, store and alarm store, which must
// outlive it.
// Thread-safety: gRPC calls it from any thread.
#pragma once

#include <atomic>

#include "base/clock.h"
#include "base/latency_histogram.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/edge/auth_gate.h"
#include "server/edge/response_header.h"
#include "server/edge/unary_call.h"
#include "server/edge/versions.h"
#include "server/replication/proposer.h"
#include "server/state/alarms.h"
#include "server/state/member_info.h"
#include "storage/mvcc_store.h"

namespace server {

// etcd's backend metrics for the calls served here, with etcd 3.4's buckets.
struct MaintenanceMetrics {
  base::LatencyHistogram defrag{0.1, 2, 13};     // etcd_disk_backend_defrag_duration_seconds
  base::LatencyHistogram snapshot{0.01, 2, 17};  // etcd_disk_backend_snapshot_duration_seconds
  std::atomic<int64_t> defrag_inflight{0};       // etcd_disk_defrag_inflight
  base::LatencyHistogram hash{0.01, 2, 15};      // etcd_mvcc_hash_duration_seconds (Hash)
  base::LatencyHistogram hash_rev{0.01, 2, 15};  // etcd_mvcc_hash_rev_duration_seconds (HashKV)
};

class MaintenanceService final : public etcdserverpb::Maintenance::CallbackService {
 public:
  MaintenanceService(MemberInfo info, Proposer* proposer, storage::MvccStore* store,
                     const AlarmStore* alarms)
      : info_(info), proposer_(proposer), store_(store), alarms_(alarms), headers_{info, proposer, store},
        calls_(proposer, headers_) {}
  // Null: no auth checks.
  void SetAuthGate(const AuthGate* gate) { auth_ = gate; }
  // Times Defragment, Snapshot, Hash and HashKV calls into metrics();
  // null: not timed.
  void SetClock(const base::Clock* clock) { clock_ = clock; }
  const MaintenanceMetrics& metrics() const { return metrics_; }
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::StatusRequest* req,
                                   etcdserverpb::StatusResponse* resp) override;
  // ketcd's hash of the key space as of a revision (server/state/kv_hash.h).
  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* ctx,
                                   const etcdserverpb::HashKVRequest* req,
                                   etcdserverpb::HashKVResponse* resp) override;
  // The member's state as of the call, as a bbolt file in etcd's backend
  // schema followed by its SHA-256 (etcd 3.4's message sequence).
  grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* Snapshot(
      grpc::CallbackServerContext* ctx, const etcdserverpb::SnapshotRequest* req) override;

  // A CRC-32C over every revision the store keeps (what etcd's compaction
  // keeps, as a backup holds it) and the compaction revision: equal on
  // members that applied the same history. etcd's Hash covers its whole
  // bbolt file; the two are not comparable.
  grpc::ServerUnaryReactor* Hash(grpc::CallbackServerContext* ctx, const etcdserverpb::HashRequest* req,
                                 etcdserverpb::HashResponse* resp) override;
  grpc::ServerUnaryReactor* MoveLeader(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::MoveLeaderRequest* req,
                                       etcdserverpb::MoveLeaderResponse* resp) override;
  // etcd's Alarm: GET, ACTIVATE and DEACTIVATE, applied through the log
  // (server/state/alarms.h), as `etcdctl alarm list` and `alarm disarm` use it.
  grpc::ServerUnaryReactor* Alarm(grpc::CallbackServerContext* ctx, const etcdserverpb::AlarmRequest* req,
                                  etcdserverpb::AlarmResponse* resp) override;
  grpc::ServerUnaryReactor* Defragment(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::DefragmentRequest* req,
                                       etcdserverpb::DefragmentResponse* resp) override;

 private:
  // etcd 3.4's isAuthenticated: OK, or the refusal to answer with.
  grpc::Status AdmitAdmin(const grpc::ServerContextBase& ctx) const;

  const MemberInfo info_;
  Proposer* proposer_;
  storage::MvccStore* store_;
  const AlarmStore* alarms_;
  const HeaderSource headers_;
  UnaryCalls calls_;
  const AuthGate* auth_ = nullptr;
  const base::Clock* clock_ = nullptr;
  MaintenanceMetrics metrics_;
};

}  // namespace server
