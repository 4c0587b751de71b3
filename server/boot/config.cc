#include "server/boot/config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <optional>

#include "CLI/CLI.hpp"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/go_duration.h"
#include "server/boot/config_file.h"
#include "server/boot/etcd_flags.h"
#include "server/boot/flag_environment.h"
#include "server/boot/keepalive_flags.h"
#include "server/edge/versions.h"

#ifndef KETCD_VERSION
#define KETCD_VERSION "0.0.0"
#endif
// The commit built, when server/boot/CMakeLists.txt could ask git.
#ifndef KETCD_GIT_SHA
#define KETCD_GIT_SHA "Not provided"
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
  std::string listen_metrics;  // none by default
  std::string log_outputs = "default";
  std::string corrupt_check_time = "0s";
  std::string auto_compaction_mode = "periodic";
  std::string auto_compaction_retention = "0";
  std::string metrics = "basic";
  KeepaliveFlagValues keepalive;
};

// --metrics and --grpc-keepalive-*: more flags for DefineFlags, which is at its size limit.
std::vector<std::string> WithMetricsAndKeepaliveFlags(CLI::App& app, RawFlags& raw, std::vector<std::string> names) {
  names.push_back("--metrics");
  app.add_option("--metrics", raw.metrics,
                 absl::StrCat("'basic', or 'extensive' to add the grpc_server_handling_seconds histograms. [",
                              EtcdEnvName("--metrics"), "]"))
      ->capture_default_str();
  DefineKeepaliveFlags(app, raw.keepalive, names);
  CheckGoIntegers(app);  // the last of DefineFlags: every numeric flag is defined
  return names;
}

// Registers every flag; returns their names for the environment pass.
std::vector<std::string> DefineFlags(CLI::App& app, Config& cfg, RawFlags& raw) {
  std::vector<std::string> names;
  auto add = [&](const char* flag, auto& var, const char* help) {
    names.push_back(flag);
    app.add_option(flag, var, absl::StrCat(help, " [", EtcdEnvName(flag), "]"))->capture_default_str();
  };
  add("--name", cfg.name, "Human-readable name for this member.");
  add("--data-dir", cfg.data_dir, "Path to the data directory (default: ${name}.ketcd).");
  add("--listen-client-urls", raw.listen_client, "List of URLs to listen on for client traffic.");
  add("--listen-metrics-urls", raw.listen_metrics,
      "List of URLs to listen on for the /metrics and health endpoints (https ones use the client "
      "certificate).");
  add("--advertise-client-urls", raw.advertise_client, "List of this member's client URLs to advertise.");
  add("--listen-peer-urls", raw.listen_peer, "List of URLs to listen on for peer traffic.");
  add("--initial-advertise-peer-urls", raw.advertise_peer, "List of this member's peer URLs to advertise.");
  add("--initial-cluster", raw.initial_cluster, "Initial cluster configuration for bootstrapping.");
  add("--initial-cluster-state", cfg.initial_cluster_state, "Initial cluster state ('new' or 'existing').");
  add("--initial-cluster-token", cfg.initial_cluster_token, "Initial cluster token for bootstrapping.");
  add("--max-request-bytes", cfg.max_request_bytes, "Maximum client request size in bytes the server will accept.");
  add("--max-txn-ops", cfg.max_txn_ops, "Maximum number of operations permitted in a transaction.");
  add("--bcrypt-cost", cfg.bcrypt_cost, "Specify bcrypt algorithm cost factor for auth password hashing.");
  add("--auth-token-ttl", cfg.auth_token_ttl_s, "The lifetime in seconds of the auth token.");
  add("--auth-token", cfg.auth_token,
      "Specify auth token specific options: 'simple', or 'jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...'.");
  add("--heartbeat-interval", cfg.heartbeat_interval_ms, "Time (in milliseconds) of a heartbeat interval.");
  add("--election-timeout", cfg.election_timeout_ms, "Time (in milliseconds) for an election to timeout.");
  add("--snapshot-count", cfg.snapshot_count, "Number of committed transactions to trigger a snapshot to disk.");
  add("--experimental-watch-progress-notify-interval", raw.progress_interval,
      "Duration of periodic watch progress notifications.");
  add("--experimental-snapshot-catchup-entries", cfg.snapshot_catchup_entries,
      "Number of entries for a slow follower to catch-up after compacting the raft storage entries.");
  add("--logger", raw.logger, "'zap' for structured JSON logging or 'capnslog' for one line of text.");
  add("--log-level", raw.log_level, "Log level: debug, info, warn, error, panic, or fatal.");
  add("--log-outputs", raw.log_outputs, "'default' or 'stderr', 'stdout', or the path of a file to append to.");
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
    app.add_flag(flag, var, absl::StrCat(help, " [", EtcdEnvName(flag), "]"));
  };
  add_bool("--client-cert-auth", cfg.client_tls.client_cert_auth, "Enable client cert authentication.");
  add_bool("--peer-client-cert-auth", cfg.peer_tls.client_cert_auth, "Enable peer client cert authentication.");
  add_bool("--auto-tls", cfg.client_auto_tls, "Client TLS with a generated self-signed certificate.");
  add_bool("--peer-auto-tls", cfg.peer_auto_tls, "Peer TLS with generated self-signed certificates.");
  add_bool("--strict-reconfig-check", cfg.strict_reconfig_check,
           "Reject reconfiguration requests that would cause quorum loss.");
  add_bool("--enable-grpc-gateway", cfg.enable_grpc_gateway, "Enable GRPC gateway.");
  add("--experimental-max-learners", cfg.max_learners,
      "Sets the maximum number of learners that can be available in the cluster membership.");
  add("--quota-backend-bytes", cfg.quota_backend_bytes,
      "Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).");
  add_bool("--experimental-initial-corrupt-check", cfg.initial_corrupt_check,
           "Enable to check data corruption before serving any client/peer traffic.");
  add("--experimental-corrupt-check-time", raw.corrupt_check_time,
      "Duration of time between cluster corruption check passes.");
  add("--auto-compaction-retention", raw.auto_compaction_retention,
      "Auto compaction retention for mvcc key value store. 0 means disable auto compaction.");
  add("--auto-compaction-mode", raw.auto_compaction_mode,
      "Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration based "
      "retention, defaulting to hours if no time unit is provided (e.g. '5m'). 'revision' for revision "
      "number based retention.");
  return WithMetricsAndKeepaliveFlags(app, raw, std::move(names));
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

std::optional<ConfigExit> ResolveUrls(const RawFlags& raw, const FromEnv& from_env, Config& cfg) {
  const std::pair<const char*, std::pair<const std::string*, std::vector<Url>*>> lists[] = {
      {"--listen-client-urls", {&raw.listen_client, &cfg.listen_client_urls}},
      {"--advertise-client-urls", {&raw.advertise_client, &cfg.advertise_client_urls}},
      {"--listen-peer-urls", {&raw.listen_peer, &cfg.listen_peer_urls}},
      {"--initial-advertise-peer-urls", {&raw.advertise_peer, &cfg.initial_advertise_peer_urls}},
  };
  for (const auto& [flag, target] : lists) {
    auto parsed = ParseUrlList(*target.first);
    if (!parsed.ok()) return InvalidValueExit(flag, *target.first, parsed.status().message(), from_env);
    *target.second = std::move(*parsed);
  }
  if (!raw.listen_metrics.empty()) {
    auto parsed = ParseUrlList(raw.listen_metrics);
    if (!parsed.ok()) {
      return InvalidValueExit("--listen-metrics-urls", raw.listen_metrics, parsed.status().message(), from_env);
    }
    cfg.listen_metrics_urls = std::move(*parsed);
  }
  return std::nullopt;
}

std::optional<ConfigExit> ResolveCluster(RawFlags& raw, const FromEnv& from_env, Config& cfg) {
  if (raw.initial_cluster == kDefaultInitialCluster && cfg.name != "default") {
    // As etcd: a named member with no explicit cluster is a cluster of itself.
    raw.initial_cluster.clear();
    for (const auto& u : cfg.initial_advertise_peer_urls) {
      raw.initial_cluster += absl::StrCat(raw.initial_cluster.empty() ? "" : ",", cfg.name, "=", u.raw);
    }
  }
  auto members = ParseInitialCluster(raw.initial_cluster);
  if (!members.ok()) {
    return UsageExit(absl::StrCat("invalid value \"", raw.initial_cluster,
                                  "\" for flag --initial-cluster: ", members.status().message()));
  }
  cfg.initial_cluster = std::move(*members);
  const bool found = std::any_of(cfg.initial_cluster.begin(), cfg.initial_cluster.end(),
                                 [&](const ClusterMember& m) { return m.name == cfg.name; });
  if (!found) {
    return UsageExit(absl::StrCat("couldn't find local name \"", cfg.name,
                                  "\" in the initial cluster configuration"));
  }
  if (cfg.initial_cluster_state != "new" && cfg.initial_cluster_state != "existing") {
    // etcd's words (its choice flag's), though "new" or "existing" would say more.
    return InvalidValueExit("--initial-cluster-state", cfg.initial_cluster_state, "invalid value", from_env);
  }
  return std::nullopt;
}

// --log-outputs: one output, as etcd names them ("default" is stderr).
std::optional<ConfigExit> ResolveLogOutput(const std::string& outputs, Config& cfg) {
  std::vector<std::string> list = absl::StrSplit(outputs, ',', absl::SkipEmpty());
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
  if (list.empty()) return UsageExit("--log-outputs must name an output");
  if (list.size() > 1) {
    return RefusalExit(absl::StrCat("--log-outputs=", outputs,
                                    " is not supported: ketcd writes its log to one output"));
  }
  if (list[0] == "systemd/journal") {
    return RefusalExit("--log-outputs=systemd/journal is not supported: ketcd does not write to journald "
                       "(under systemd, stderr goes to the journal)");
  }
  cfg.log_output = list[0] == "default" ? "stderr" : list[0];
  return std::nullopt;
}

std::optional<ConfigExit> ResolveLogging(const RawFlags& raw, Config& cfg) {
  if (raw.logger == "zap") {
    cfg.log_format = base::LogFormat::kJson;
  } else if (raw.logger == "capnslog") {
    cfg.log_format = base::LogFormat::kText;
  } else {
    return RefusalExit(absl::StrCat("error verifying flags, unknown logger option \"", raw.logger,
                                    "\". See 'ketcd --help'."));
  }
  auto level = base::ParseLogLevel(raw.log_level);
  if (!level.ok()) {
    return UsageExit(absl::StrCat("invalid value \"", raw.log_level, "\" for flag --log-level: ",
                                  level.status().message()));
  }
  cfg.log_level = *level;
  return ResolveLogOutput(raw.log_outputs, cfg);
}

// etcd's reading of the two flags (embed: Config.Validate, then
// parseCompactionRetention), with its messages; what etcd would crash on
// (a negative or sub-10ns period) is refused instead.
std::optional<ConfigExit> ResolveAutoCompaction(const RawFlags& raw, Config& cfg) {
  const std::string& mode = raw.auto_compaction_mode;
  if (mode != "" && mode != "periodic" && mode != "revision") {
    return RefusalExit(absl::StrCat("error verifying flags, unknown auto-compaction-mode \"", mode,
                                    "\". See 'ketcd --help'."));
  }
  cfg.auto_compaction_mode =
      mode == "revision" ? Config::AutoCompactionMode::kRevision : Config::AutoCompactionMode::kPeriodic;
  const std::string retention = raw.auto_compaction_retention.empty() ? "0" : raw.auto_compaction_retention;
  int64_t n = 0;
  absl::Duration d;
  // strconv.Atoi: an optional sign, then digits only.
  const size_t digits = retention.find_first_not_of("+-") == 1 ? 1 : 0;
  const bool whole = retention.size() > digits &&
                     retention.find_first_not_of("0123456789", digits) == std::string::npos;
  if (whole && absl::SimpleAtoi(retention, &n) && n >= 0) {
    // A bare number: hours, or revisions; no mode ("") reads it as zero.
    if (mode == "periodic" && n > absl::ToInt64Hours(absl::Nanoseconds(INT64_MAX))) {
      return RefusalExit(absl::StrCat("error parsing CompactionRetention: ", retention, " hours is out of range"));
    }
    d = mode == "periodic" ? absl::Hours(n) : absl::ZeroDuration();
    if (mode == "revision") cfg.auto_compaction_revisions = n;
  } else {
    auto parsed = base::ParseGoDuration(retention);
    if (!parsed.ok()) {
      return RefusalExit(absl::StrCat("error parsing CompactionRetention: ", parsed.status().message()));
    }
    d = *parsed;
    if (mode == "revision") cfg.auto_compaction_revisions = absl::ToInt64Nanoseconds(d);
  }
  if (mode == "" && d != absl::ZeroDuration()) return RefusalExit("unsupported compaction mode ");
  if (d < absl::ZeroDuration() || (mode == "periodic" && d > absl::ZeroDuration() && d < absl::Nanoseconds(10))) {
    return RefusalExit(absl::StrCat("--auto-compaction-retention=", retention,
                                    " is not supported: a periodic retention is at least 10ns, a revision "
                                    "retention at least 1"));
  }
  if (mode == "periodic") cfg.auto_compaction_period = d;
  return std::nullopt;
}

// --experimental-corrupt-check-time: a Go duration, zero or more.
std::optional<ConfigExit> ResolveCorruptCheck(const RawFlags& raw, const FromEnv& from_env, Config& cfg) {
  absl::Duration d;
  if (auto exit = ParseDurationFlag("--experimental-corrupt-check-time", raw.corrupt_check_time, d, from_env)) {
    return exit;
  }
  if (d < absl::ZeroDuration()) return UsageExit("--experimental-corrupt-check-time must not be negative");
  cfg.corrupt_check_time = d;
  return std::nullopt;
}

std::optional<ConfigExit> Validate(const RawFlags& raw, Config& cfg) {
  if (raw.metrics != "basic" && raw.metrics != "extensive") {
    return UsageExit(absl::StrCat("invalid value \"", raw.metrics,
                                  "\" for --metrics: valid values are basic, extensive"));
  }
  cfg.metrics_extensive = raw.metrics == "extensive";
  if (cfg.max_request_bytes <= 0) return UsageExit("--max-request-bytes must be positive");
  if (cfg.max_txn_ops <= 0) return UsageExit("--max-txn-ops must be positive");
  if (cfg.max_learners < 1) return UsageExit("--experimental-max-learners must be positive");
  if (cfg.heartbeat_interval_ms <= 0) return UsageExit("--heartbeat-interval must be positive");
  if (cfg.election_timeout_ms < 5 * cfg.heartbeat_interval_ms) {
    // etcd's own rule, so that a few lost heartbeats do not start elections.
    return UsageExit("--election-timeout should be at least 5 times --heartbeat-interval");
  }
  if (cfg.snapshot_count == 0) return UsageExit("--snapshot-count must be positive");
  if (!absl::ParseDuration(raw.progress_interval, &cfg.watch_progress_notify_interval) ||
      cfg.watch_progress_notify_interval < absl::Milliseconds(100)) {
    return UsageExit(absl::StrCat("invalid value \"", raw.progress_interval,
                                  "\" for flag --experimental-watch-progress-notify-interval: "
                                  "want a duration of at least 100ms"));
  }
  if (cfg.snapshot_catchup_entries == 0) {
    return UsageExit("--experimental-snapshot-catchup-entries must be positive");
  }
  return std::nullopt;
}

// How `reversed_args` (CLI11's order) fail to parse alone, on a fresh
// parser with values typed as etcd types them; nullopt when they parse.
std::optional<ConfigExit> ParseAlone(std::vector<std::string> reversed_args) {
  Config scratch;
  RawFlags raw;
  EtcdOnlyFlags etcd_only;
  std::string config_file;
  CLI::App app;
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  (void)DefineFlags(app, scratch, raw);
  (void)etcd_only.Define(app);
  (void)DefineConfigFileFlag(app, config_file);
  try {
    app.parse(reversed_args);
  } catch (const CLI::ParseError& e) {
    return UsageExit(GoIntegerRefusal(e.what()).value_or(e.what()));
  }
  // A refused setting (exit 1) parses; only a value of the wrong type fails.
  std::vector<std::string> warnings;
  auto none = [](const std::string&) { return false; };
  auto exit = etcd_only.Check(app, none, warnings);
  if (exit && exit->code == 2) return exit;
  // So do the Go durations and the URL lists, typed after the parse.
  if (auto bad = ResolveCorruptCheck(raw, none, scratch)) return bad;
  if (auto bad = ResolveKeepalive(raw.keepalive, none, scratch)) return bad;
  return ResolveUrls(raw, none, scratch);
}

// The error to report when the command line and the ETCD_* variables
// together do not parse. etcd parses the command line first (its errors
// exit 2), then sets the variables one by one (theirs exit 1, naming the
// variable): the command line's own error, else the variables' (as etcd
// words them), else `combined`.
ConfigExit ParseFailure(const std::vector<std::string>& given, const std::vector<std::string>& flags,
                        const absl::flat_hash_set<std::string>& from_env, const EnvLookup& env,
                        ConfigExit combined) {
  if (from_env.empty()) return combined;
  if (auto cli = ParseAlone({given.rbegin(), given.rend()})) return *cli;
  // etcd sets every variable in its flag set's order (by name) and reports
  // the last that failed.
  std::vector<std::string> sorted(flags);
  std::sort(sorted.begin(), sorted.end());
  std::optional<ConfigExit> last;
  for (const auto& flag : sorted) {
    if (!from_env.contains(flag)) continue;
    const std::string var = EtcdEnvName(flag);
    const std::string value = env(var).value_or("");
    if (!ParseAlone({absl::StrCat(flag, "=", value)})) continue;
    // Go's flag types refuse with "parse error"; etcd's URL lists with the
    // URL's own reason.
    absl::Status urls = absl::OkStatus();
    if (absl::EndsWith(flag, "-urls")) urls = ParseUrlList(value).status();
    last = urls.ok() ? EnvValueExit(var, value) : EnvValueExit(var, value, urls.message());
  }
  return last.value_or(combined);
}

}  // namespace

std::variant<Config, ConfigExit> ParseConfig(const std::vector<std::string>& args,
                                             const EnvLookup& env) {
  Config cfg;
  RawFlags raw;
  EtcdOnlyFlags etcd_only;
  CLI::App app{"ketcd: an etcd-compatible, raft-replicated key-value store", "ketcd"};
  // As Go's flag package: a flag given twice takes its last value.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", VersionText());
  std::vector<std::string> flags = DefineFlags(app, cfg, raw);
  const std::vector<std::string> more = etcd_only.Define(app);
  flags.insert(flags.end(), more.begin(), more.end());
  std::string config_file;
  flags.push_back(DefineConfigFileFlag(app, config_file));
  const std::vector<std::string> given = NormalizeArgs(args);
  absl::flat_hash_set<std::string> from_env;
  // As etcd: with a config file, no ETCD_* variable but ETCD_CONFIG_FILE is read.
  const bool file_mode = !ConfigFilePath(given, env).empty();
  std::vector<std::string> all = WithEnvironment(given, file_mode ? std::vector<std::string>{flags.back()} : flags,
                                                 env, from_env);
  std::reverse(all.begin(), all.end());  // CLI11 takes them reversed
  try {
    app.parse(all);
  } catch (const CLI::CallForHelp&) {
    return ConfigExit{0, app.help(), ""};
  } catch (const CLI::CallForVersion& e) {
    return ConfigExit{0, absl::StrCat(e.what(), "\n"), ""};
  } catch (const CLI::ParseError& e) {
    return ParseFailure(given, flags, from_env, env, UsageExit(GoIntegerRefusal(e.what()).value_or(e.what())));
  }
  // The file is then the only source: the other flags are ignored.
  if (!config_file.empty()) return ParseConfigFile(config_file, app);
  // As etcd: the variables are looked at once the command line parses.
  if (auto exit = EnvConflict(given, flags, env)) return *exit;
  auto set_by_env = [&](const std::string& flag) { return from_env.contains(flag); };
  // A value that does not parse: the command line's error first, then the
  // variables' in etcd's order (ParseFailure), whichever check found it.
  auto failure = [&](const ConfigExit& exit) { return ParseFailure(given, flags, from_env, env, exit); };
  if (auto exit = etcd_only.Check(app, set_by_env, cfg.warnings)) return failure(*exit);
  if (auto exit = ResolveUrls(raw, set_by_env, cfg)) return failure(*exit);
  if (auto exit = ResolveCluster(raw, set_by_env, cfg)) return failure(*exit);
  if (auto exit = ResolveLogging(raw, cfg)) return *exit;
  if (auto exit = ResolveCorruptCheck(raw, set_by_env, cfg)) return failure(*exit);
  if (auto exit = ResolveKeepalive(raw.keepalive, set_by_env, cfg)) return failure(*exit);
  if (auto exit = ResolveAutoCompaction(raw, cfg)) return *exit;
  if (auto exit = Validate(raw, cfg)) return *exit;
  if (cfg.data_dir.empty()) cfg.data_dir = cfg.name + ".ketcd";
  return cfg;
}

std::optional<FlagTreatment> EtcdFlagTreatment(const std::string& flag) {
  if (auto treatment = EtcdOnlyFlags::Treatment(flag)) return treatment;
  Config cfg;
  RawFlags raw;
  CLI::App app;
  std::vector<std::string> used = DefineFlags(app, cfg, raw);
  std::string config_file;
  used.push_back(DefineConfigFileFlag(app, config_file));
  if (std::find(used.begin(), used.end(), flag) != used.end()) return FlagTreatment::kUsed;
  return std::nullopt;
}

std::string VersionText() {
#if defined(__clang__)
  constexpr char kCompiler[] = "clang " __clang_version__;
#elif defined(__GNUC__)
  constexpr char kCompiler[] = "g++ " __VERSION__;
#else
  constexpr char kCompiler[] = "unknown compiler";
#endif
#if defined(__x86_64__)
  constexpr char kArch[] = "amd64";
#elif defined(__aarch64__)
  constexpr char kArch[] = "arm64";
#else
  constexpr char kArch[] = "unknown";
#endif
  // etcd's lines and order, so that scripts reading `etcd Version:` work.
  return absl::StrCat("etcd Version: ", kEtcdServerVersion, "\nGit SHA: ", KETCD_GIT_SHA,
                      "\nC++ Version: ", kCompiler, ", C++", (__cplusplus / 100) % 100,
                      "\nC++ OS/Arch: linux/", kArch, "\nketcd Version: ", KETCD_VERSION);
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace server
