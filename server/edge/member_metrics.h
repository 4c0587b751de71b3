// MemberMetrics: the member's state in Prometheus text with etcd's metric
// names, types and labels (etcd_server_*, etcd_mvcc_*, etcd_debugging_*,
// process_*), for GET /metrics on the client and metrics ports.
//
// Everything is read when scraped, from counters and state the member keeps
// anyway (raft's status, the store's revisions and size, /health's
// counters, /proc/self) and from relaxed atomic counters kept where the
// work happens: per gRPC method (grpc_metrics.h), per peer
// (peer/peer_metrics.h), per proposal (replication/counting_proposer.h),
// per key-space operation (state/kv_applier.h). The disk histograms are
// recorded once per raft log sync and per store commit (lock-free,
// base/latency_histogram.h), as are ketcd's own write-stage histograms
// (replication/write_stages.h).
// Thread-safety: Render may run on any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/latency_histogram.h"
#include "server/edge/grpc_metrics.h"
#include "server/edge/maintenance_service.h"
#include "server/peer/peer_metrics.h"
#include "server/replication/counting_proposer.h"
#include "server/state/kv_applier.h"
#include "server/state/lessor.h"
#include "server/state/watch_hub.h"
#include "server/edge/http_endpoints.h"
#include "server/net/http_server.h"
#include "server/replication/proposer.h"
#include "server/replication/write_stages.h"
#include "storage/mvcc_store.h"

namespace server {

struct MetricSources {
  uint64_t member_id = 0;
  const Proposer* proposer = nullptr;
  const storage::MvccStore* store = nullptr;
  const HealthCounters* health = nullptr;
  // etcd_disk_wal_fsync_duration_seconds, etcd_disk_backend_commit_duration_seconds
  const base::LatencyHistogram* wal_fsync = nullptr;
  const base::LatencyHistogram* backend_commit = nullptr;
  // etcd_server_quota_backend_bytes: the quota in force (etcd reports the
  // flag's negative value when the quota is disabled).
  int64_t quota_backend_bytes = 0;
  // Each of these may be null: its metrics are then left out.
  const GrpcMetrics* grpc = nullptr;
  const PeerMetrics* peers = nullptr;
  const CountingProposer* proposals = nullptr;  // pending, failed
  const KvOpCounters* kv_ops = nullptr;
  const WatchHub* watch_hub = nullptr;
  // etcd_server_slow_apply_total
  std::function<uint64_t()> slow_applies;
  // etcd_debugging_lease_*; may be null.
  const LeaseCounters* leases = nullptr;
  // etcd_disk_backend_{defrag,snapshot}_duration_seconds, etcd_mvcc_hash*,
  // etcd_disk_defrag_inflight; may be null.
  const MaintenanceMetrics* maintenance = nullptr;
  // etcd_debugging_auth_revision; may be empty.
  std::function<uint64_t()> auth_revision;
  // ketcd_server_write_stage_duration_seconds{stage},
  // ketcd_server_proposal_duration_seconds and
  // ketcd_server_peer_message_wait_seconds (ours; etcd has none).
  const WriteStages* write_stages = nullptr;
};

// The whole exposition, as GET /metrics returns it.
std::string RenderMetrics(const MetricSources& sources);

// GET /metrics.
void AddMetricsEndpoint(HttpRoutes& routes, MetricSources sources);

}  // namespace server
