// Command-line and environment configuration of a ketcd member, with etcd's
// flag names, defaults and ETCD_* environment variables (a flag wins over its
// variable). Go-style single-dash long flags (-name x) are accepted too,
// because scripts written for etcd use them.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/net/url.h"

namespace server {

struct ClusterMember {
  std::string name;
  std::vector<std::string> peer_urls;
};

struct Config {
  std::string name = "default";
  std::string data_dir;  // default: <name>.ketcd
  std::vector<Url> listen_client_urls;
  std::vector<Url> advertise_client_urls;
  std::vector<Url> listen_peer_urls;
  std::vector<Url> initial_advertise_peer_urls;
  std::vector<ClusterMember> initial_cluster;
  std::string initial_cluster_state = "new";
  std::string initial_cluster_token = "etcd-cluster";
  int64_t max_request_bytes = 1572864;  // 1.5 MiB, etcd's default
  int max_txn_ops = 128;
  int heartbeat_interval_ms = 100;
  int election_timeout_ms = 1000;
  uint64_t snapshot_count = 100000;
  uint64_t snapshot_catchup_entries = 5000;  // etcd 3.5's default
  absl::Duration watch_progress_notify_interval = absl::Minutes(10);
};

// Either a Config, or the exit code to stop with after --help/--version (0)
// or a usage error (2; the message is already printed to stderr).
std::variant<Config, int> ParseConfig(int argc, char** argv);

}  // namespace server
