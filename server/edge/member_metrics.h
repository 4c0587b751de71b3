// MemberMetrics: the member's state in Prometheus text with etcd's metric
// names, types and labels (etcd_server_*, etcd_mvcc_*, etcd_debugging_*,
// process_*), for GET /metrics on the client and metrics ports.
//
// Everything is read when scraped, from counters and state the member keeps
// anyway (raft's status, the store's revisions and size, /health's
// counters, /proc/self): nothing is added to the request path, so metrics
// cost a request nothing. The two disk histograms are recorded once per
// raft log sync and per store commit (lock-free, base/latency_histogram.h).
// Per-RPC counters (grpc_server_*) are not here yet.
// Thread-safety: Render may run on any number of threads.
#pragma once

#include <cstdint>
#include <string>

#include "base/latency_histogram.h"
#include "server/edge/http_endpoints.h"
#include "server/net/http_server.h"
#include "server/replication/proposer.h"
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
};

// The whole exposition, as GET /metrics returns it.
std::string RenderMetrics(const MetricSources& sources);

// GET /metrics.
void AddMetricsEndpoint(HttpRoutes& routes, MetricSources sources);

}  // namespace server
