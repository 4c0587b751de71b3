// Command-line and environment configuration of a ketcd member, with etcd's
// flag names, defaults and ETCD_* environment variables. Go-style
// single-dash long flags (-name x) are accepted too, because scripts written
// for etcd use them. As etcd: a flag given twice takes its last value, and a
// flag given while its ETCD_* variable is set is refused (exit 1). Every flag
// of etcd 3.5 is known: those whose feature ketcd lacks are accepted with a
// warning or refused by name (server/boot/etcd_flags.h).
//
// ParseConfig is pure: the arguments and the environment come in, a Config
// or what to print and the exit code come out, so the parser is tested
// without a process; main() prints and exits.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/logger.h"
#include "server/net/transport_security.h"
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
  // --listen-metrics-urls: HTTP only (/metrics, /health, /livez, /readyz).
  std::vector<Url> listen_metrics_urls;
  std::vector<Url> advertise_client_urls;
  std::vector<Url> listen_peer_urls;
  std::vector<Url> initial_advertise_peer_urls;
  std::vector<ClusterMember> initial_cluster;
  std::string initial_cluster_state = "new";
  std::string initial_cluster_token = "etcd-cluster";
  int64_t max_request_bytes = 1572864;  // 1.5 MiB, etcd's default
  int max_txn_ops = 128;
  // --bcrypt-cost (etcd: a cost outside [4, 31] falls back to 10 with a
  // warning) and --auth-token-ttl (seconds a simple token lives unused).
  int bcrypt_cost = 10;
  uint64_t auth_token_ttl_s = 300;
  // --auth-token: "simple", "jwt,pub-key=...,priv-key=...,sign-method=...,
  // ttl=..." or "" (no tokens); checked, and the key files read, when the
  // member starts (server/state/token_provider.h).
  std::string auth_token = "simple";
  int heartbeat_interval_ms = 100;
  int election_timeout_ms = 1000;
  uint64_t snapshot_count = 100000;
  uint64_t snapshot_catchup_entries = 5000;  // etcd 3.5's default
  absl::Duration watch_progress_notify_interval = absl::Minutes(10);
  // --grpc-keepalive-min-time, --grpc-keepalive-interval and
  // --grpc-keepalive-timeout, as etcd's client gRPC server reads them: while
  // a call is open a client may ping every min-time (more often, more than
  // twice, and the connection is closed: GOAWAY "too_many_pings"; with no
  // call open, every 2 hours); the member pings a quiet client every
  // interval and drops it when no answer comes within the timeout. Zero or
  // less, as in etcd: gRPC's own defaults (pings every 5 minutes; 2 h, 20 s).
  absl::Duration grpc_keepalive_min_time = absl::Seconds(5);
  absl::Duration grpc_keepalive_interval = absl::Hours(2);
  absl::Duration grpc_keepalive_timeout = absl::Seconds(20);
  // --auto-compaction-mode and --auto-compaction-retention, read as etcd
  // reads them: a bare number is hours (periodic) or a count of revisions
  // (revision); a duration ("30m") is the period (in revision mode etcd
  // takes its nanoseconds as the count). Zero, etcd's default: no
  // auto-compaction.
  enum class AutoCompactionMode { kPeriodic, kRevision };
  AutoCompactionMode auto_compaction_mode = AutoCompactionMode::kPeriodic;
  absl::Duration auto_compaction_period = absl::ZeroDuration();  // periodic
  int64_t auto_compaction_revisions = 0;                          // revision
  // The time between the revision mode's rounds: etcd's fixed 5 minutes;
  // only a test failpoint (server/boot/main.cc) shortens it.
  absl::Duration auto_compaction_revision_interval = absl::Minutes(5);
  // --logger: "zap" prints etcd 3.5's JSON lines; "capnslog" (ketcd's
  // default for now) one line of text per event. --log-level: etcd's names.
  base::LogFormat log_format = base::LogFormat::kText;
  base::LogLevel log_level = base::LogLevel::kInfo;
  // --cert-file, --key-file, --trusted-ca-file, --client-cert-auth.
  TlsFiles client_tls;
  // --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth.
  TlsFiles peer_tls;
  // --client-crl-file and --peer-crl-file are in the TlsFiles;
  // --peer-cert-allowed-cn, --peer-cert-allowed-hostname.
  std::string peer_allowed_cn;
  std::string peer_allowed_hostname;
  // --auto-tls, --peer-auto-tls: without --cert-file/--key-file (or their
  // --peer-* twins), that side uses a self-signed pair kept in
  // <data-dir>/fixtures/{client,peer} (server/net/self_signed.h), and the
  // side's other TLS flags are dropped, as etcd drops them.
  bool client_auto_tls = false;
  bool peer_auto_tls = false;
  // Refuse membership changes that could lose quorum (etcd's default).
  bool strict_reconfig_check = true;
  // --enable-grpc-gateway: the JSON gateway (/v3/...) on the client ports.
  bool enable_grpc_gateway = true;
  // --metrics extensive: grpc_server_handling_seconds histograms too.
  bool metrics_extensive = false;
  int max_learners = 1;  // --experimental-max-learners
  // --quota-backend-bytes: the store size past which writes that add data
  // are refused and NOSPACE is raised; 0 = etcd's default (2 GiB), a
  // negative value = no quota.
  int64_t quota_backend_bytes = 0;
  // --experimental-initial-corrupt-check: compare HashKV with the peers
  // before serving, refuse to start on a mismatch.
  bool initial_corrupt_check = false;
  // --experimental-corrupt-check-time: how often the leader compares every
  // member's HashKV (raising CORRUPT on a mismatch); zero = never.
  absl::Duration corrupt_check_time = absl::ZeroDuration();
  // Not a flag: a test-only failpoint main() sets from KETCD_TEST_FAILPOINTS=1
  // and KETCD_TEST_CORRUPT_PUTS=1 (server/boot/corrupt_failpoint.h).
  bool corrupt_puts_for_test = false;
  // --self-signed-cert-validity: the years those certificates are valid.
  unsigned self_signed_cert_validity = 1;
  // --cipher-suites (comma-separated, etcd's names), --tls-min-version,
  // --tls-max-version: checked by server/net/tls_protocol.h at start.
  std::string cipher_suites;
  std::string tls_min_version;
  std::string tls_max_version;
  // --log-outputs: "stderr" (etcd's "default"), "stdout" or the path of a
  // file, which main() opens for appending.
  std::string log_output = "stderr";
  // --config-file (or ETCD_CONFIG_FILE): the YAML file this Config was read
  // from, which then was its only source (server/boot/config_file.h); "" when
  // it came from flags and ETCD_* variables.
  std::string config_file;
  // One line per etcd flag given that ketcd accepts but does not use, for
  // main() to log as warnings at start.
  std::vector<std::string> warnings;
};

// What to do instead of starting: print `out` (to stdout: --help,
// --version) or `err` (to stderr: a usage error) and exit with `code`, as
// etcd: 0 after --help/--version, 2 when the command line does not parse
// (an unknown flag, a malformed value), 1 when it parses but cannot be
// honoured (a flag ketcd does not support, a flag shadowing its variable).
struct ConfigExit {
  int code = 0;
  std::string out;
  std::string err;
};

// Looks up an environment variable (ETCD_NAME, ...): nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// `args` are the arguments after the program name.
std::variant<Config, ConfigExit> ParseConfig(const std::vector<std::string>& args,
                                             const EnvLookup& env);

// The process's own environment, for main().
EnvLookup ProcessEnvironment();

// How ketcd treats a flag of etcd 3.5 ("--max-wals"): its own feature
// (kUsed); accepted, checked and warned about when not etcd's default
// (kNotUsed); refused when not etcd's default (kRefused). nullopt for a
// name that is not an etcd flag.
enum class FlagTreatment { kUsed, kNotUsed, kRefused };
std::optional<FlagTreatment> EtcdFlagTreatment(const std::string& flag);

// What --version prints: etcd's four lines (etcd Version, Git SHA, the
// compiler and OS/Arch in place of Go's), then ketcd's own version.
std::string VersionText();

}  // namespace server
