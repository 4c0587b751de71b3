#include "server/boot/config.h"

#include <algorithm>
#include <cctype>

#include <cstdio>
#include <cstdlib>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#ifndef KETCD_VERSION
#define KETCD_VERSION "0.0.0"
#endif

namespace server {
namespace {

constexpr char kDefaultInitialCluster[] = "default=http://localhost:2380";

absl::StatusOr<std::vector<ClusterMember>> ParseInitialCluster(const std::string& csv) {
  std::vector<ClusterMember> members;
  for (absl::string_view part : absl::StrSplit(csv, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("expected name=url, got \"", part, "\""));
    }
    auto url = ParseUrl(kv.second);
    if (!url.ok()) return url.status();
    ClusterMember* m = nullptr;
    for (auto& existing : members) {
      if (existing.name == kv.first) m = &existing;
    }
    if (!m) {
      members.push_back({kv.first, {}});
      m = &members.back();
    }
    m->peer_urls.push_back(url->raw);
  }
  if (members.empty()) return absl::InvalidArgumentError("no members given");
  return members;
}

// Go's flag package accepts -flag as well as --flag.
std::vector<std::string> NormalizeArgs(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a[0] == '-' && a[1] != '-') a = "-" + a;
    out.push_back(a);
  }
  return out;
}

int UsageError(const std::string& msg) {
  std::fprintf(stderr, "ketcd: %s\nRun 'ketcd --help' for the list of flags.\n", msg.c_str());
  return 2;
}

}  // namespace

std::variant<Config, int> ParseConfig(int argc, char** argv) {
  Config cfg;
  std::string listen_client = "http://127.0.0.1:2379";
  std::string advertise_client = "http://localhost:2379";
  // Bind addresses are 127.0.0.1, not "localhost" (which may also be ::1,
  // or not resolve at all without /etc/hosts); advertised names are etcd's.
  std::string listen_peer = "http://127.0.0.1:2380";
  std::string advertise_peer = "http://localhost:2380";
  std::string initial_cluster = kDefaultInitialCluster;

  CLI::App app{"ketcd: an etcd-compatible, raft-replicated key-value store", "ketcd"};
  app.set_version_flag("--version", "ketcd Version: " KETCD_VERSION "\nAPI version: 3.5");
  auto add = [&](const char* flag, auto& var, const char* help) {
    std::string env = "ETCD_";
    for (const char* p = flag + 2; *p; ++p) env.push_back(*p == '-' ? '_' : static_cast<char>(std::toupper(*p)));
    return app.add_option(flag, var, help)->envname(env)->capture_default_str();
  };
  add("--name", cfg.name, "Human-readable name for this member.");
  add("--data-dir", cfg.data_dir, "Path to the data directory (default: ${name}.ketcd).");
  add("--listen-client-urls", listen_client, "List of URLs to listen on for client traffic.");
  add("--advertise-client-urls", advertise_client, "List of this member's client URLs to advertise.");
  add("--listen-peer-urls", listen_peer, "List of URLs to listen on for peer traffic.");
  add("--initial-advertise-peer-urls", advertise_peer, "List of this member's peer URLs to advertise.");
  add("--initial-cluster", initial_cluster, "Initial cluster configuration for bootstrapping.");
  add("--initial-cluster-state", cfg.initial_cluster_state, "Initial cluster state ('new' or 'existing').");
  add("--initial-cluster-token", cfg.initial_cluster_token, "Initial cluster token for bootstrapping.");
  add("--max-request-bytes", cfg.max_request_bytes, "Maximum client request size in bytes the server will accept.");
  add("--max-txn-ops", cfg.max_txn_ops, "Maximum number of operations permitted in a transaction.");
  add("--heartbeat-interval", cfg.heartbeat_interval_ms, "Time (in milliseconds) of a heartbeat interval.");
  add("--election-timeout", cfg.election_timeout_ms, "Time (in milliseconds) for an election to timeout.");
  add("--snapshot-count", cfg.snapshot_count, "Number of committed transactions to trigger a snapshot to disk.");
  std::string progress_interval = "10m0s";
  add("--experimental-watch-progress-notify-interval", progress_interval,
      "Duration of periodic watch progress notifications.");
  add("--experimental-snapshot-catchup-entries", cfg.snapshot_catchup_entries,
      "Number of entries for a slow follower to catch-up after compacting the raft storage entries.");

  std::vector<std::string> args = NormalizeArgs(argc, argv);
  std::reverse(args.begin(), args.end());  // CLI11 takes them reversed
  try {
    app.parse(args);
  } catch (const CLI::Success& e) {
    app.exit(e);
    return 0;
  } catch (const CLI::ParseError& e) {
    return UsageError(e.what());
  }

  auto urls = [&](const char* flag, const std::string& value, std::vector<Url>* out) -> bool {
    auto parsed = ParseUrlList(value);
    if (!parsed.ok()) {
      UsageError(absl::StrCat("invalid value \"", value, "\" for flag ", flag, ": ", parsed.status().message()));
      return false;
    }
    *out = std::move(*parsed);
    return true;
  };
  if (!urls("--listen-client-urls", listen_client, &cfg.listen_client_urls) ||
      !urls("--advertise-client-urls", advertise_client, &cfg.advertise_client_urls) ||
      !urls("--listen-peer-urls", listen_peer, &cfg.listen_peer_urls) ||
      !urls("--initial-advertise-peer-urls", advertise_peer, &cfg.initial_advertise_peer_urls)) {
    return 2;
  }
  if (initial_cluster == kDefaultInitialCluster && cfg.name != "default") {
    // As etcd: a named member with no explicit cluster is a cluster of itself.
    initial_cluster.clear();
    for (const auto& u : cfg.initial_advertise_peer_urls) {
      initial_cluster += absl::StrCat(initial_cluster.empty() ? "" : ",", cfg.name, "=", u.raw);
    }
  }
  auto members = ParseInitialCluster(initial_cluster);
  if (!members.ok()) {
    return UsageError(absl::StrCat("invalid value \"", initial_cluster,
                                   "\" for flag --initial-cluster: ", members.status().message()));
  }
  cfg.initial_cluster = std::move(*members);
  bool found = false;
  for (const auto& m : cfg.initial_cluster) found |= m.name == cfg.name;
  if (!found) {
    return UsageError(absl::StrCat("couldn't find local name \"", cfg.name,
                                   "\" in the initial cluster configuration"));
  }
  if (cfg.initial_cluster_state != "new" && cfg.initial_cluster_state != "existing") {
    return UsageError(absl::StrCat("invalid value \"", cfg.initial_cluster_state,
                                   "\" for flag --initial-cluster-state: must be new or existing"));
  }
  if (cfg.max_request_bytes <= 0) return UsageError("--max-request-bytes must be positive");
  if (cfg.max_txn_ops <= 0) return UsageError("--max-txn-ops must be positive");
  if (cfg.heartbeat_interval_ms <= 0) return UsageError("--heartbeat-interval must be positive");
  if (cfg.election_timeout_ms < 5 * cfg.heartbeat_interval_ms) {
    // etcd's own rule, so that a few lost heartbeats do not start elections.
    return UsageError("--election-timeout should be at least 5 times --heartbeat-interval");
  }
  if (cfg.snapshot_count == 0) return UsageError("--snapshot-count must be positive");
  if (!absl::ParseDuration(progress_interval, &cfg.watch_progress_notify_interval) ||
      cfg.watch_progress_notify_interval < absl::Milliseconds(100)) {
    return UsageError(absl::StrCat("invalid value \"", progress_interval,
                                   "\" for flag --experimental-watch-progress-notify-interval: "
                                   "want a duration of at least 100ms"));
  }
  if (cfg.snapshot_catchup_entries == 0) {
    return UsageError("--experimental-snapshot-catchup-entries must be positive");
  }
  if (cfg.data_dir.empty()) cfg.data_dir = cfg.name + ".ketcd";
  return cfg;
}

}  // namespace server
