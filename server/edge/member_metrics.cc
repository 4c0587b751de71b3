#include "server/edge/member_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"
#include "server/edge/versions.h"

namespace server {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily One(const char* name, const char* help, MetricType type, double value,
                 std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  return MetricFamily{name, help, type, {m}};
}

ClientMetric HistogramSample(const base::LatencyHistogram& h, std::vector<ClientMetric::Label> labels = {}) {
  const base::LatencyHistogram::Snapshot s = h.Read();
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = s.count;
  m.histogram.sample_sum = s.sum_seconds;
  for (size_t i = 0; i < s.cumulative_counts.size(); ++i) {
    const double bound =
        i < s.upper_bounds.size() ? s.upper_bounds[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({s.cumulative_counts[i], bound});
  }
  return m;
}

MetricFamily Histogram(const char* name, const char* help, const base::LatencyHistogram& h) {
  return MetricFamily{name, help, MetricType::Histogram, {HistogramSample(h)}};
}

double Count(uint64_t n) { return static_cast<double>(n); }
double Count(const std::atomic<uint64_t>& n) { return static_cast<double>(n.load(std::memory_order_relaxed)); }

// Fields of /proc/self/stat after the command name (which may hold spaces).
std::vector<std::string> ProcStat() {
  std::ifstream f("/proc/self/stat");
  std::string line;
  std::getline(f, line);
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(line.substr(close + 2), ' ');
}

double BootTimeSeconds() {
  std::ifstream f("/proc/stat");
  std::string key;
  double value = 0;
  while (f >> key) {
    if (key == "btime" && f >> value) return value;
    f.ignore(1 << 20, '\n');
  }
  return 0;
}

int OpenFds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
    --n;  // the directory stream's own descriptor
  }
  return n;
}

// Go's process collector: the same names and meanings.
void AddProcess(std::vector<MetricFamily>& out) {
  const std::vector<std::string> st = ProcStat();
  // After the name: state is field 0; utime 11, stime 12, starttime 19,
  // vsize 20, rss 21 (proc(5), counted from the field after the name).
  if (st.size() < 22) return;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  out.push_back(One("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                    MetricType::Counter, (std::stod(st[11]) + std::stod(st[12])) / ticks));
  out.push_back(One("process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
                    BootTimeSeconds() + std::stod(st[19]) / ticks));
  out.push_back(One("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
                    std::stod(st[20])));
  out.push_back(One("process_resident_memory_bytes", "Resident memory size in bytes.",
                    MetricType::Gauge, std::stod(st[21]) * page));
  out.push_back(One("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, OpenFds()));
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    out.push_back(One("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
                      static_cast<double>(lim.rlim_cur)));
  }
}

void AddServer(const MetricSources& s, std::vector<MetricFamily>& out) {
  const RaftStatus rs = s.proposer->Status();
  out.push_back(One("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.",
                    MetricType::Gauge, rs.leader != 0));
  out.push_back(One("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.",
                    MetricType::Gauge, rs.leader != 0 && rs.leader == s.member_id));
  out.push_back(One("etcd_server_is_learner", "Whether or not this member is a learner. 1 if is, 0 otherwise.",
                    MetricType::Gauge, rs.is_learner));
  out.push_back(One("etcd_server_leader_changes_seen_total", "The number of leader changes seen.",
                    MetricType::Counter, static_cast<double>(rs.leader_changes)));
  out.push_back(One("etcd_server_proposals_committed_total", "The total number of consensus proposals committed.",
                    MetricType::Gauge, static_cast<double>(rs.commit_index)));
  out.push_back(One("etcd_server_proposals_applied_total", "The total number of consensus proposals applied.",
                    MetricType::Gauge, static_cast<double>(rs.applied_index)));
  out.push_back(One("etcd_server_id", "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
                    MetricType::Gauge, 1, {{"server_id", absl::StrCat(absl::Hex(s.member_id))}}));
  out.push_back(One("etcd_server_version", "Which version is running. 1 for 'server_version' label with current version.",
                    MetricType::Gauge, 1, {{"server_version", kEtcdServerVersion}}));
  const std::string cluster(kEtcdClusterVersion);
  out.push_back(One("etcd_cluster_version", "Which version is running. 1 for 'cluster_version' label with current cluster version",
                    MetricType::Gauge, 1, {{"cluster_version", cluster.substr(0, cluster.rfind('.'))}}));
  out.push_back(One("etcd_server_quota_backend_bytes", "Current backend storage quota size in bytes.",
                    MetricType::Gauge, static_cast<double>(s.quota_backend_bytes)));
  if (s.proposals != nullptr) {
    out.push_back(One("etcd_server_proposals_pending", "The current number of pending proposals to commit.",
                      MetricType::Gauge, static_cast<double>(s.proposals->pending())));
    out.push_back(One("etcd_server_proposals_failed_total", "The total number of failed proposals seen.",
                      MetricType::Counter, Count(s.proposals->failed())));
  }
  if (s.slow_applies) {
    out.push_back(One("etcd_server_slow_apply_total",
                      "The total number of slow apply requests (likely overloaded from slow disk).",
                      MetricType::Counter, Count(s.slow_applies())));
  }
  if (s.peers != nullptr) {
    out.push_back(One("etcd_server_heartbeat_send_failures_total",
                      "The total number of leader heartbeat send failures (likely overloaded from slow disk).",
                      MetricType::Counter, Count(s.peers->heartbeat_send_failures)));
  }
  if (s.health != nullptr) {
    out.push_back(One("etcd_server_health_success", "The total number of successful health checks",
                      MetricType::Counter, static_cast<double>(s.health->success.load())));
    out.push_back(One("etcd_server_health_failures", "The total number of failed health checks",
                      MetricType::Counter, static_cast<double>(s.health->failures.load())));
  }
}

void AddStore(const MetricSources& s, std::vector<MetricFamily>& out) {
  out.push_back(One("etcd_mvcc_db_total_size_in_bytes",
                    "Total size of the underlying database physically allocated in bytes.", MetricType::Gauge,
                    static_cast<double>(s.store->DbSize())));
  out.push_back(One("etcd_debugging_mvcc_db_total_size_in_bytes",
                    "Total size of the underlying database physically allocated in bytes.", MetricType::Gauge,
                    static_cast<double>(s.store->DbSize())));
  out.push_back(One("etcd_mvcc_db_total_size_in_use_in_bytes",
                    "Total size of the underlying database logically in use in bytes.", MetricType::Gauge,
                    static_cast<double>(s.store->LiveDataSize())));
  out.push_back(One("etcd_debugging_mvcc_current_revision", "The current revision of store.",
                    MetricType::Gauge, static_cast<double>(s.store->Rev())));
  out.push_back(One("etcd_debugging_mvcc_compact_revision", "The revision of the last compaction in store.",
                    MetricType::Gauge, static_cast<double>(s.store->CompactRev())));
  out.push_back(One("etcd_debugging_mvcc_keys_total", "Total number of keys.", MetricType::Gauge,
                    static_cast<double>(s.store->LiveKeys())));
}

// etcd 3.4's lessor, backend and auth store metrics.
void AddLeasesAndBackend(const MetricSources& s, std::vector<MetricFamily>& out) {
  if (s.leases != nullptr) {
    out.push_back(One("etcd_debugging_lease_granted_total", "The total number of granted leases.",
                      MetricType::Counter, Count(s.leases->granted)));
    out.push_back(One("etcd_debugging_lease_revoked_total", "The total number of revoked leases.",
                      MetricType::Counter, Count(s.leases->revoked)));
    out.push_back(One("etcd_debugging_lease_renewed_total", "The number of renewed leases seen by the leader.",
                      MetricType::Counter, Count(s.leases->renewed)));
    out.push_back(Histogram("etcd_debugging_lease_ttl_total", "Bucketed histogram of lease TTLs.", s.leases->ttls));
  }
  if (s.maintenance != nullptr) {
    out.push_back(Histogram("etcd_disk_backend_defrag_duration_seconds",
                            "The latency distribution of backend defragmentation.", s.maintenance->defrag));
    out.push_back(Histogram("etcd_disk_backend_snapshot_duration_seconds",
                            "The latency distribution of backend snapshots.", s.maintenance->snapshot));
    out.push_back(Histogram("etcd_mvcc_hash_duration_seconds", "The latency distribution of storage hash operation.",
                            s.maintenance->hash));
    out.push_back(Histogram("etcd_mvcc_hash_rev_duration_seconds",
                            "The latency distribution of storage hash by revision operation.", s.maintenance->hash_rev));
    out.push_back(One("etcd_disk_defrag_inflight",
                      "Whether or not defrag is active on the member. 1 means active, 0 means not.",
                      MetricType::Gauge, s.maintenance->defrag_inflight.load(std::memory_order_relaxed) > 0));
  }
  if (s.auth_revision) {
    out.push_back(One("etcd_debugging_auth_revision", "The current revision of auth store.", MetricType::Gauge,
                      Count(s.auth_revision())));
  }
}

// etcd 3.5's etcd_mvcc_*_total and 3.4's etcd_debugging_mvcc_*_total (the
// same counts), the watchers and watch streams.
void AddKv(const MetricSources& s, std::vector<MetricFamily>& out) {
  if (s.kv_ops != nullptr) {
    const std::pair<const char*, const std::atomic<uint64_t>*> ops[] = {
        {"put", &s.kv_ops->put}, {"range", &s.kv_ops->range}, {"txn", &s.kv_ops->txn}, {"delete", &s.kv_ops->del}};
    for (const auto& [op, n] : ops) {
      const std::string help = absl::StrCat("Total number of ", op, "s seen by this member.");
      for (const char* prefix : {"etcd_mvcc_", "etcd_debugging_mvcc_"}) {
        MetricFamily f = One("", "", MetricType::Counter, Count(*n));
        f.name = absl::StrCat(prefix, op, "_total");
        f.help = help;
        out.push_back(std::move(f));
      }
    }
  }
  if (s.watch_hub != nullptr) {
    out.push_back(One("etcd_debugging_mvcc_watcher_total", "Total number of watchers.", MetricType::Gauge,
                      static_cast<double>(s.watch_hub->Watchers())));
  }
  if (s.grpc != nullptr) {
    out.push_back(One("etcd_debugging_mvcc_watch_stream_total", "Total number of watch streams.",
                      MetricType::Gauge, static_cast<double>(s.grpc->OpenWatchStreams())));
  }
}

// etcd's rafthttp metrics, labelled with the peer's id.
void AddPeers(const PeerMetrics& peers, std::vector<MetricFamily>& out) {
  MetricFamily sent{"etcd_network_peer_sent_bytes_total", "The total number of bytes sent to peers.",
                    MetricType::Counter, {}};
  MetricFamily received{"etcd_network_peer_received_bytes_total", "The total number of bytes received from peers.",
                        MetricType::Counter, {}};
  MetricFamily sent_failures{"etcd_network_peer_sent_failures_total", "The total number of send failures from peers.",
                             MetricType::Counter, {}};
  MetricFamily rtt{"etcd_network_peer_round_trip_time_seconds", "Round-Trip-Time histogram between peers",
                   MetricType::Histogram, {}};
  auto counter = [](const char* label, const std::string& id, double v) {
    ClientMetric m;
    m.label = {{label, id}};
    m.counter.value = v;
    return m;
  };
  peers.ForEach([&](uint64_t id, const PeerCounters& c) {
    const std::string hex = absl::StrCat(absl::Hex(id));
    sent.metric.push_back(counter("To", hex, Count(c.sent_bytes)));
    received.metric.push_back(counter("From", hex, Count(c.received_bytes)));
    sent_failures.metric.push_back(counter("To", hex, Count(c.sent_failures)));
    rtt.metric.push_back(HistogramSample(c.round_trip, {{"To", hex}}));
  });
  for (MetricFamily* f : {&received, &sent, &sent_failures, &rtt}) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
}

void AddDisk(const MetricSources& s, std::vector<MetricFamily>& out) {
  if (s.wal_fsync != nullptr) {
    out.push_back(Histogram("etcd_disk_wal_fsync_duration_seconds",
                            "The latency distributions of fsync called by WAL.", *s.wal_fsync));
  }
  if (s.backend_commit != nullptr) {
    out.push_back(Histogram("etcd_disk_backend_commit_duration_seconds",
                            "The latency distributions of commit called by backend.", *s.backend_commit));
  }
}

// ketcd's own: where this member's writes spend their time.
void AddWriteStages(const WriteStages& w, std::vector<MetricFamily>& out) {
  MetricFamily stages{"ketcd_server_write_stage_duration_seconds",
                      "Time a write proposed on this member spends in each stage: propose_wait (until the raft "
                      "loop takes it), wal_append (raft log write and fdatasync), replication (leader: appended "
                      "until committed by a quorum), apply (committed until in the store), respond (until the "
                      "RPC is answered).",
                      MetricType::Histogram, {}};
  for (const auto& [name, h] : {std::pair{"propose_wait", &w.propose_wait}, std::pair{"wal_append", &w.wal_append},
                                std::pair{"replication", &w.replication}, std::pair{"apply", &w.apply},
                                std::pair{"respond", &w.respond}}) {
    stages.metric.push_back(HistogramSample(*h, {{"stage", name}}));
  }
  out.push_back(std::move(stages));
  out.push_back(Histogram("ketcd_server_proposal_duration_seconds",
                          "Time from a write's proposal on this member until its RPC is answered.", w.total));
  out.push_back(Histogram("ketcd_server_peer_message_wait_seconds",
                          "Time a raft message from a peer waits between its arrival and the raft loop taking it.",
                          w.peer_wait));
}

}  // namespace

std::string RenderMetrics(const MetricSources& s) {
  std::vector<MetricFamily> families;
  AddServer(s, families);
  AddStore(s, families);
  AddKv(s, families);
  AddLeasesAndBackend(s, families);
  AddDisk(s, families);
  if (s.write_stages != nullptr) AddWriteStages(*s.write_stages, families);
  if (s.peers != nullptr) AddPeers(*s.peers, families);
  if (s.grpc != nullptr) s.grpc->Render(families);
  AddProcess(families);
  return prometheus::TextSerializer().Serialize(families);
}

void AddMetricsEndpoint(HttpRoutes& routes, MetricSources sources) {
  routes.Add("/metrics", [sources](const HttpRequest& req) {
    if (req.method != "GET") {
      HttpResponse r = HttpError(405, "Method Not Allowed");
      r.headers.emplace_back("Allow", "GET");
      return r;
    }
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = RenderMetrics(sources);
    return r;
  });
}

}  // namespace server
