#include "server/boot/config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

#ifndef KETCD_VERSION
#define KETCD_VERSION "0.0.0"
#endif

namespace server {
namespace {

constexpr char kDefaultInitialCluster[] = "default=http://localhost:2380";

// Flag values that need a second parse once every flag is known.
struct RawFlags {
  std::string listen_client = "http://127.0.0.1:2379";
  std::string advertise_client = "http://localhost:2379";
  // Bind addresses are 127.0.0.1, not "localhost" (which may also be ::1,
  // or not resolve at all without /etc/hosts); advertised names are etcd's.
  std::string listen_peer = "http://127.0.0.1:2380";
  std::string advertise_peer = "http://localhost:2380";
  std::string initial_cluster = kDefaultInitialCluster;
  std::string progress_interval = "10m0s";
  std::string logger = "capnslog";
  std::string log_level = "info";
};

ConfigExit Usage(const std::string& msg) {
  return ConfigExit{2, "", absl::StrCat("ketcd: ", msg, "\nRun 'ketcd --help' for the list of flags.\n")};
}

// ETCD_ plus the flag's name in capitals with '_' for '-'.
std::string EnvName(const std::string& flag) {
  std::string env = "ETCD_";
  for (char c : flag.substr(2)) env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  return env;
}

// Registers every flag; returns their names for the environment pass.
std::vector<std::string> DefineFlags(CLI::App& app, Config& cfg, RawFlags& raw) {
  std::vector<std::string> names;
  auto add = [&](const char* flag, auto& var, const char* help) {
    names.push_back(flag);
    app.add_option(flag, var, absl::StrCat(help, " [", EnvName(flag), "]"))->capture_default_str();
  };
  add("--name", cfg.name, "Human-readable name for this member.");
  add("--data-dir", cfg.data_dir, "Path to the data directory (default: ${name}.ketcd).");
  add("--listen-client-urls", raw.listen_client, "List of URLs to listen on for client traffic.");
  add("--advertise-client-urls", raw.advertise_client, "List of this member's client URLs to advertise.");
  add("--listen-peer-urls", raw.listen_peer, "List of URLs to listen on for peer traffic.");
  add("--initial-advertise-peer-urls", raw.advertise_peer, "List of this member's peer URLs to advertise.");
  add("--initial-cluster", raw.initial_cluster, "Initial cluster configuration for bootstrapping.");
  add("--initial-cluster-state", cfg.initial_cluster_state, "Initial cluster state ('new' or 'existing').");
  add("--initial-cluster-token", cfg.initial_cluster_token, "Initial cluster token for bootstrapping.");
  add("--max-request-bytes", cfg.max_request_bytes, "Maximum client request size in bytes the server will accept.");
  add("--max-txn-ops", cfg.max_txn_ops, "Maximum number of operations permitted in a transaction.");
  add("--heartbeat-interval", cfg.heartbeat_interval_ms, "Time (in milliseconds) of a heartbeat interval.");
  add("--election-timeout", cfg.election_timeout_ms, "Time (in milliseconds) for an election to timeout.");
  add("--snapshot-count", cfg.snapshot_count, "Number of committed transactions to trigger a snapshot to disk.");
  add("--experimental-watch-progress-notify-interval", raw.progress_interval,
      "Duration of periodic watch progress notifications.");
  add("--experimental-snapshot-catchup-entries", cfg.snapshot_catchup_entries,
      "Number of entries for a slow follower to catch-up after compacting the raft storage entries.");
  add("--logger", raw.logger, "'zap' for structured JSON logging or 'capnslog' for one line of text.");
  add("--log-level", raw.log_level, "Log level: debug, info, warn, error, panic, or fatal.");
  add("--cert-file", cfg.client_tls.cert_file, "Path to the client server TLS cert file.");
  add("--key-file", cfg.client_tls.key_file, "Path to the client server TLS key file.");
  add("--trusted-ca-file", cfg.client_tls.trusted_ca_file, "Path to the client server TLS trusted CA cert file.");
  add("--peer-cert-file", cfg.peer_tls.cert_file, "Path to the peer server TLS cert file.");
  add("--peer-key-file", cfg.peer_tls.key_file, "Path to the peer server TLS key file.");
  add("--peer-trusted-ca-file", cfg.peer_tls.trusted_ca_file, "Path to the peer server TLS trusted CA file.");
  add("--client-crl-file", cfg.client_tls.crl_file, "Path to the client certificate revocation list file.");
  add("--peer-crl-file", cfg.peer_tls.crl_file, "Path to the peer certificate revocation list file.");
  add("--peer-cert-allowed-cn", cfg.peer_allowed_cn, "Allowed CN for inter peer authentication.");
  add("--peer-cert-allowed-hostname", cfg.peer_allowed_hostname,
      "Allowed TLS hostname for inter peer authentication.");
  add("--cipher-suites", cfg.cipher_suites,
      "Comma-separated list of supported TLS cipher suites between client/server and peers "
      "(empty: the TLS library's defaults).");
  add("--tls-min-version", cfg.tls_min_version,
      "Minimum TLS version supported by ketcd: TLS1.2 (default) or TLS1.3.");
  add("--tls-max-version", cfg.tls_max_version,
      "Maximum TLS version supported by ketcd: TLS1.3 (default: the highest).");
  add("--self-signed-cert-validity", cfg.self_signed_cert_validity,
      "Years the certificates made by --auto-tls and --peer-auto-tls stay valid.");
  auto add_bool = [&](const char* flag, bool& var, const char* help) {
    names.push_back(flag);
    app.add_flag(flag, var, absl::StrCat(help, " [", EnvName(flag), "]"));
  };
  add_bool("--client-cert-auth", cfg.client_tls.client_cert_auth, "Enable client cert authentication.");
  add_bool("--peer-client-cert-auth", cfg.peer_tls.client_cert_auth, "Enable peer client cert authentication.");
  add_bool("--auto-tls", cfg.client_auto_tls, "Client TLS with a generated self-signed certificate.");
  add_bool("--peer-auto-tls", cfg.peer_auto_tls, "Peer TLS with generated self-signed certificates.");
  return names;
}

// Go's flag package accepts -flag as well as --flag.
std::vector<std::string> NormalizeArgs(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (std::string a : args) {
    if (a.size() > 2 && a[0] == '-' && a[1] != '-') a = "-" + a;
    out.push_back(std::move(a));
  }
  return out;
}

bool GivenOnCommandLine(const std::vector<std::string>& args, const std::string& flag) {
  for (const auto& a : args) {
    if (a == flag || absl::StartsWith(a, flag + "=")) return true;
  }
  return false;
}

// A flag's ETCD_* variable applies only when the flag itself is absent:
// given as a leading --flag=value, it is parsed like one.
std::vector<std::string> WithEnvironment(const std::vector<std::string>& args,
                                         const std::vector<std::string>& flags, const EnvLookup& env) {
  std::vector<std::string> out;
  for (const auto& flag : flags) {
    if (GivenOnCommandLine(args, flag)) continue;
    // An empty variable counts as unset, as etcd reads them.
    auto value = env(EnvName(flag));
    if (value && !value->empty()) out.push_back(absl::StrCat(flag, "=", *value));
  }
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

absl::StatusOr<std::vector<ClusterMember>> ParseInitialCluster(const std::string& csv) {
  std::vector<ClusterMember> members;
  for (absl::string_view part : absl::StrSplit(csv, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("expected name=url, got \"", part, "\""));
    }
    auto url = ParseUrl(kv.second);
    if (!url.ok()) return url.status();
    auto it = std::find_if(members.begin(), members.end(),
                           [&](const ClusterMember& m) { return m.name == kv.first; });
    if (it == members.end()) it = members.insert(members.end(), ClusterMember{kv.first, {}});
    it->peer_urls.push_back(url->raw);
  }
  if (members.empty()) return absl::InvalidArgumentError("no members given");
  return members;
}

std::optional<ConfigExit> ResolveUrls(const RawFlags& raw, Config& cfg) {
  const std::pair<const char*, std::pair<const std::string*, std::vector<Url>*>> lists[] = {
      {"--listen-client-urls", {&raw.listen_client, &cfg.listen_client_urls}},
      {"--advertise-client-urls", {&raw.advertise_client, &cfg.advertise_client_urls}},
      {"--listen-peer-urls", {&raw.listen_peer, &cfg.listen_peer_urls}},
      {"--initial-advertise-peer-urls", {&raw.advertise_peer, &cfg.initial_advertise_peer_urls}},
  };
  for (const auto& [flag, target] : lists) {
    auto parsed = ParseUrlList(*target.first);
    if (!parsed.ok()) {
      return Usage(absl::StrCat("invalid value \"", *target.first, "\" for flag ", flag, ": ",
                                parsed.status().message()));
    }
    *target.second = std::move(*parsed);
  }
  return std::nullopt;
}

std::optional<ConfigExit> ResolveCluster(RawFlags& raw, Config& cfg) {
  if (raw.initial_cluster == kDefaultInitialCluster && cfg.name != "default") {
    // As etcd: a named member with no explicit cluster is a cluster of itself.
    raw.initial_cluster.clear();
    for (const auto& u : cfg.initial_advertise_peer_urls) {
      raw.initial_cluster += absl::StrCat(raw.initial_cluster.empty() ? "" : ",", cfg.name, "=", u.raw);
    }
  }
  auto members = ParseInitialCluster(raw.initial_cluster);
  if (!members.ok()) {
    return Usage(absl::StrCat("invalid value \"", raw.initial_cluster,
                              "\" for flag --initial-cluster: ", members.status().message()));
  }
  cfg.initial_cluster = std::move(*members);
  const bool found = std::any_of(cfg.initial_cluster.begin(), cfg.initial_cluster.end(),
                                 [&](const ClusterMember& m) { return m.name == cfg.name; });
  if (!found) {
    return Usage(absl::StrCat("couldn't find local name \"", cfg.name,
                              "\" in the initial cluster configuration"));
  }
  if (cfg.initial_cluster_state != "new" && cfg.initial_cluster_state != "existing") {
    return Usage(absl::StrCat("invalid value \"", cfg.initial_cluster_state,
                              "\" for flag --initial-cluster-state: must be new or existing"));
  }
  return std::nullopt;
}

std::optional<ConfigExit> ResolveLogging(const RawFlags& raw, Config& cfg) {
  if (raw.logger == "zap") {
    cfg.log_format = base::LogFormat::kJson;
  } else if (raw.logger == "capnslog") {
    cfg.log_format = base::LogFormat::kText;
  } else {
    return Usage(absl::StrCat("invalid value \"", raw.logger, "\" for flag --logger: must be zap or capnslog"));
  }
  auto level = base::ParseLogLevel(raw.log_level);
  if (!level.ok()) {
    return Usage(absl::StrCat("invalid value \"", raw.log_level, "\" for flag --log-level: ",
                              level.status().message()));
  }
  cfg.log_level = *level;
  return std::nullopt;
}

std::optional<ConfigExit> Validate(const RawFlags& raw, Config& cfg) {
  if (cfg.max_request_bytes <= 0) return Usage("--max-request-bytes must be positive");
  if (cfg.max_txn_ops <= 0) return Usage("--max-txn-ops must be positive");
  if (cfg.heartbeat_interval_ms <= 0) return Usage("--heartbeat-interval must be positive");
  if (cfg.election_timeout_ms < 5 * cfg.heartbeat_interval_ms) {
    // etcd's own rule, so that a few lost heartbeats do not start elections.
    return Usage("--election-timeout should be at least 5 times --heartbeat-interval");
  }
  if (cfg.snapshot_count == 0) return Usage("--snapshot-count must be positive");
  if (!absl::ParseDuration(raw.progress_interval, &cfg.watch_progress_notify_interval) ||
      cfg.watch_progress_notify_interval < absl::Milliseconds(100)) {
    return Usage(absl::StrCat("invalid value \"", raw.progress_interval,
                              "\" for flag --experimental-watch-progress-notify-interval: "
                              "want a duration of at least 100ms"));
  }
  if (cfg.snapshot_catchup_entries == 0) {
    return Usage("--experimental-snapshot-catchup-entries must be positive");
  }
  return std::nullopt;
}

}  // namespace

std::variant<Config, ConfigExit> ParseConfig(const std::vector<std::string>& args,
                                             const EnvLookup& env) {
  Config cfg;
  RawFlags raw;
  CLI::App app{"ketcd: an etcd-compatible, raft-replicated key-value store", "ketcd"};
  app.set_version_flag("--version", "ketcd Version: " KETCD_VERSION "\nAPI version: 3.5");
  const std::vector<std::string> flags = DefineFlags(app, cfg, raw);
  std::vector<std::string> all = WithEnvironment(NormalizeArgs(args), flags, env);
  std::reverse(all.begin(), all.end());  // CLI11 takes them reversed
  try {
    app.parse(all);
  } catch (const CLI::CallForHelp&) {
    return ConfigExit{0, app.help(), ""};
  } catch (const CLI::CallForVersion& e) {
    return ConfigExit{0, absl::StrCat(e.what(), "\n"), ""};
  } catch (const CLI::ParseError& e) {
    return Usage(e.what());
  }
  if (auto exit = ResolveUrls(raw, cfg)) return *exit;
  if (auto exit = ResolveCluster(raw, cfg)) return *exit;
  if (auto exit = ResolveLogging(raw, cfg)) return *exit;
  if (auto exit = Validate(raw, cfg)) return *exit;
  if (cfg.data_dir.empty()) cfg.data_dir = cfg.name + ".ketcd";
  return cfg;
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace server
