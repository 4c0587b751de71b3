#include "bench/breakdown.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

namespace ketcd::bench {
namespace {

constexpr char kStageFamily[] = "ketcd_server_write_stage_duration_seconds";
constexpr char kTotalFamily[] = "ketcd_server_proposal_duration_seconds";
constexpr char kPeerWaitFamily[] = "ketcd_server_peer_message_wait_seconds";

// The stages in the order a write passes them (write_stages.h); wal_append
// is a span inside replication, and peer_wait (per message from a peer,
// not per write) the hand-off that replication pays on each answer.
struct StageRow {
  const char* name;
  bool within;  // a span inside replication, printed "(within)"
};
const StageRow kStages[] = {{"propose_wait", false}, {"replication", false}, {"wal_append", true},
                            {"peer_wait", true},     {"apply", false},       {"respond", false}};

// The value of label `name` in a `{a="x",b="y"}` block, or "".
std::string Label(const std::string& labels, const std::string& name) {
  const std::string key = name + "=\"";
  size_t at = labels.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  const size_t end = labels.find('"', at);
  return end == std::string::npos ? "" : labels.substr(at, end - at);
}

double ParseLe(const std::string& le) {
  if (le == "+Inf") return std::numeric_limits<double>::infinity();
  return std::strtod(le.c_str(), nullptr);
}

}  // namespace

StageHistograms ParseStageHistograms(const std::string& exposition) {
  StageHistograms out;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    const double value = std::strtod(line.c_str() + sp + 1, nullptr);
    std::string series = line.substr(0, sp);
    std::string labels;
    if (const size_t brace = series.find('{'); brace != std::string::npos) {
      labels = series.substr(brace);
      series.resize(brace);
    }
    std::string stage, suffix;
    for (const char* family : {kStageFamily, kTotalFamily, kPeerWaitFamily}) {
      const std::string f = family;
      if (series.compare(0, f.size(), f) != 0) continue;
      suffix = series.substr(f.size());
      stage = f == kTotalFamily ? "total" : f == kPeerWaitFamily ? "peer_wait" : Label(labels, "stage");
    }
    if (stage.empty()) continue;
    ScrapedHistogram& h = out[stage];
    if (suffix == "_bucket") h.buckets.emplace_back(ParseLe(Label(labels, "le")), value);
    else if (suffix == "_sum") h.sum = value;
    else if (suffix == "_count") h.count = value;
  }
  return out;
}

bool HttpGet(const std::string& url, std::string* body, std::string* error) {
  constexpr char kScheme[] = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    *error = "only http:// metrics URLs: " + url;
    return false;
  }
  std::string rest = url.substr(sizeof(kScheme) - 1);
  const size_t slash = rest.find('/');
  const std::string path = slash == std::string::npos ? "/metrics" : rest.substr(slash);
  const std::string hostport = rest.substr(0, slash);
  const size_t colon = hostport.rfind(':');
  const std::string host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* ai = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &ai) != 0 || ai == nullptr) {
    *error = "cannot resolve " + hostport;
    return false;
  }
  // Every address the name gives (localhost: ::1 first, the member on 127.0.0.1).
  int fd = -1;
  int connect_errno = 0;
  for (const addrinfo* a = ai; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) {
      connect_errno = errno;
      continue;
    }
    const timeval limit{10, 0};  // a server that never answers is an error, not a hang
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      connect_errno = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(ai);
  if (fd < 0) {
    *error = "cannot connect to " + hostport + ": " + std::strerror(connect_errno);
    return false;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + hostport + "\r\nConnection: close\r\n\r\n";
  bool ok = write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size());
  std::string resp;
  char buf[16384];
  for (ssize_t n; ok && (n = read(fd, buf, sizeof(buf))) != 0;) {
    if (n < 0) ok = false;
    else resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t header_end = resp.find("\r\n\r\n");
  const bool http = resp.compare(0, 9, "HTTP/1.1 ") == 0 || resp.compare(0, 9, "HTTP/1.0 ") == 0;
  if (!ok || header_end == std::string::npos || !http) {
    *error = "no HTTP response from " + url;
    return false;
  }
  if (resp.compare(9, 3, "200") != 0) {
    *error = url + " answered " + resp.substr(9, resp.find("\r\n") - 9);
    return false;
  }
  *body = resp.substr(header_end + 4);
  return true;
}

StageHistograms Delta(const StageHistograms& before, const StageHistograms& after) {
  StageHistograms out;
  for (const auto& [stage, a] : after) {
    ScrapedHistogram d = a;
    auto it = before.find(stage);
    if (it != before.end()) {
      const ScrapedHistogram& b = it->second;
      d.sum -= b.sum;
      d.count -= b.count;
      for (size_t i = 0; i < d.buckets.size() && i < b.buckets.size(); ++i) d.buckets[i].second -= b.buckets[i].second;
    }
    out[stage] = std::move(d);
  }
  return out;
}

double Quantile(const ScrapedHistogram& h, double q) {
  if (h.buckets.empty() || h.count <= 0) return 0;
  const double rank = q * h.buckets.back().second;
  double lower = 0, below = 0;
  for (const auto& [le, cumulative] : h.buckets) {
    if (cumulative >= rank && cumulative > below) {
      if (std::isinf(le)) return lower;  // beyond the last bound: report it
      return lower + (le - lower) * (rank - below) / (cumulative - below);
    }
    if (!std::isinf(le)) lower = le;
    below = cumulative;
  }
  return lower;
}

void ReportBreakdown(const std::string& url, const StageHistograms& delta, const Recorder& client, RunInfo* info) {
  const auto& c = client.latency();
  std::printf("Breakdown (server stages from %s; percentiles from histogram deltas, per write; peer_wait per message):\n", url.c_str());
  std::printf("  %-26s %9s %9s %9s %9s\n", "stage", "p50 ms", "p99 ms", "mean ms", "count");
  std::printf("  %-26s %9.3f %9.3f %9.3f %9llu\n", "client observed", c.Percentile(0.5) / 1000.0,
              c.Percentile(0.99) / 1000.0, c.MeanMicros() / 1000.0, static_cast<unsigned long long>(c.Count()));
  auto row = [&](const std::string& stage, const std::string& label) {
    auto it = delta.find(stage);
    if (it == delta.end()) {
      std::printf("  %-26s %9s %9s %9s %9s\n", label.c_str(), "-", "-", "-", "absent");
      return;
    }
    const ScrapedHistogram& h = it->second;
    const double p50 = Quantile(h, 0.5) * 1000, p99 = Quantile(h, 0.99) * 1000;
    const double mean = h.count > 0 ? h.sum / h.count * 1000 : 0;
    std::printf("  %-26s %9.3f %9.3f %9.3f %9.0f\n", label.c_str(), p50, p99, mean, h.count);
    info->extra.emplace_back("breakdown_" + stage + "_p50_ms", p50);
    info->extra.emplace_back("breakdown_" + stage + "_p99_ms", p99);
    info->extra.emplace_back("breakdown_" + stage + "_mean_ms", mean);
    info->extra.emplace_back("breakdown_" + stage + "_count", h.count);
  };
  row("total", "server total");
  for (const StageRow& stage : kStages) row(stage.name, std::string(stage.within ? "  (within) " : "  ") + stage.name);
  auto total = delta.find("total");
  if (total != delta.end() && total->second.count > 0 && c.Count() > 0) {
    const double outside = c.MeanMicros() / 1000.0 - total->second.sum / total->second.count * 1000;
    std::printf("  %-26s %9s %9s %9.3f\n", "outside the raft loop", "", "", outside);
    info->extra.emplace_back("breakdown_outside_mean_ms", outside);
  }
  std::printf("  (wal_append runs inside replication on a leader; peer_wait is over every message from a peer,\n"
              "   answers to appends, commit news and heartbeats, until the raft loop takes it; 'outside' =\n"
              "   client mean - server total mean: gRPC, the network and the client)\n");
  std::fflush(stdout);
}

}  // namespace ketcd::bench
