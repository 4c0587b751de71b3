// etcd's HTTP endpoints, served next to gRPC on the client ports and alone
// on the --listen-metrics-urls ports, as etcd 3.5 answers them:
//   GET /version  {"etcdserver":"3.5.24","etcdcluster":"3.5.0"}
//                 (kubeadm's ExternalEtcdVersion preflight reads this)
//   GET /health   200 {"health":"true","reason":""}, or 503 with
//                 "false" and a reason: an active alarm ("ALARM NOSPACE",
//                 "ALARM CORRUPT"; ?exclude=NOSPACE ignores that one), no
//                 leader ("RAFT NO LEADER"), or a linearizable read that
//                 fails within a second ("RANGE ERROR:...");
//                 ?serializable=true skips the read.
//   GET /livez    checks serializable_read;
//   GET /readyz   checks data_corruption (no CORRUPT alarm: "alarm
//                 activated: CORRUPT"), serializable_read, linearizable_read,
//                 non_learner
//                 (kubeadm's static-pod probes since 1.30): "ok", with
//                 ?verbose one "[+]check ok" line each; 503 with the
//                 "[-]check failed: why" lines; ?exclude=check skips one;
//                 /livez/<check> and /readyz/<check> run one.
//   GET /metrics  Prometheus text (member_metrics.h).
// Any other method gets 405 with "Allow: GET", as in etcd.
// Ownership: borrows the proposer, store and alarm store, which must
// outlive the routes.
#pragma once

#include <atomic>
#include <cstdint>

#include "server/net/http_server.h"
#include "server/replication/proposer.h"
#include "server/state/alarms.h"
#include "storage/mvcc_store.h"

namespace server {

// What /health counted (etcd_server_health_success / _failures).
struct HealthCounters {
  std::atomic<uint64_t> success{0};
  std::atomic<uint64_t> failures{0};
};

struct HealthSources {
  Proposer* proposer = nullptr;
  storage::MvccStore* store = nullptr;
  HealthCounters* counters = nullptr;  // may be null
  const AlarmStore* alarms = nullptr;  // may be null: no alarm checks
};

// /version, /health, /livez, /readyz and their sub-paths.
void AddEtcdHealthEndpoints(HttpRoutes& routes, HealthSources sources);

// The /health answer; public for tests.
HttpResponse CheckHealth(const HealthSources& sources, const HttpRequest& req);

}  // namespace server
