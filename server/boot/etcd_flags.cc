#include "server/boot/etcd_flags.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/go_duration.h"
#include "server/net/url.h"

namespace server {
namespace {

// The Go flag type etcd declares the flag with: what its value must parse as.
enum class Kind {
  kBool,       // strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False
  kUint,       // unsigned 64-bit
  kUint32,     // unsigned 32-bit (--max-concurrent-streams)
  kInt,        // signed 64-bit
  kDuration,   // time.ParseDuration: "300ms", "1h30m", "0"
  kChoice,     // one of `choices`
  kAllowList,  // "*" (or empty: the same) or a comma-separated list
  kUrls,       // a comma-separated list of URLs
  kString,
};

struct EtcdOnlyFlag {
  const char* name;
  Kind kind;
  const char* etcd_default;
  FlagTreatment treatment;  // kNotUsed or kRefused
  const char* why;          // what ketcd does instead, or lacks
  const char* choices = "";  // kChoice: "a|b|c"
};

constexpr FlagTreatment kNotUsed = FlagTreatment::kNotUsed;
constexpr FlagTreatment kRefused = FlagTreatment::kRefused;

constexpr char kNoV2[] = "ketcd serves only etcd's v3 API";
constexpr char kNoProxy[] = "ketcd has no v2 proxy mode";
constexpr char kNoDiscovery[] = "ketcd has no discovery; list the members with --initial-cluster";
constexpr char kNoTracing[] = "ketcd has no OpenTelemetry tracing";
constexpr char kNoCorruptCheck[] =
    "ketcd compares hashes with its peers at start and periodically (--experimental-initial-corrupt-check, "
    "--experimental-corrupt-check-time), not after each compaction";
constexpr char kOwnCompaction[] = "ketcd's store compacts in its own batches";

// In the order of etcd 3.5's `etcd --help`, then the 3.5 flags it does not list.
constexpr EtcdOnlyFlag kFlags[] = {
    {"--wal-dir", Kind::kString, "", kRefused, "ketcd keeps its WAL inside --data-dir"},
    {"--initial-election-tick-advance", Kind::kBool, "true", kNotUsed,
     "ketcd does not fast-forward election ticks at boot (a sole voter campaigns at once)"},
    {"--listen-client-http-urls", Kind::kUrls, "", kRefused,
     "ketcd serves HTTP next to gRPC on --listen-client-urls, and HTTP alone only on --listen-metrics-urls"},
    {"--max-snapshots", Kind::kUint, "5", kNotUsed,
     "ketcd writes no snapshot files (a snapshot is the RocksDB store itself)"},
    {"--max-wals", Kind::kUint, "5", kNotUsed, "ketcd removes old WAL segments itself once a snapshot covers them"},
    {"--backend-bbolt-freelist-type", Kind::kString, "map", kNotUsed, "ketcd's store is RocksDB, not bbolt"},
    {"--backend-batch-interval", Kind::kDuration, "0s", kNotUsed,
     "ketcd commits each applied batch to RocksDB at once"},
    {"--backend-batch-limit", Kind::kInt, "0", kNotUsed,
     "ketcd commits each applied batch to RocksDB at once"},
    {"--max-concurrent-streams", Kind::kUint32, "4294967295", kNotUsed,
     "ketcd does not limit the streams of a client connection"},
    {"--socket-reuse-port", Kind::kBool, "false", kNotUsed,
     "ketcd sets its own socket options (a port in use fails the start)"},
    {"--socket-reuse-address", Kind::kBool, "false", kNotUsed, "ketcd sets its own socket options"},
    {"--raft-read-timeout", Kind::kDuration, "5s", kNotUsed,
     "ketcd's peer links are gRPC streams with their own keepalive"},
    {"--raft-write-timeout", Kind::kDuration, "5s", kNotUsed,
     "ketcd's peer links are gRPC streams with their own keepalive"},
    {"--discovery", Kind::kString, "", kRefused, kNoDiscovery},
    {"--discovery-fallback", Kind::kChoice, "proxy", kRefused, kNoDiscovery, "exit|proxy"},
    {"--discovery-proxy", Kind::kString, "", kRefused, kNoDiscovery},
    {"--discovery-srv", Kind::kString, "", kRefused, kNoDiscovery},
    {"--discovery-srv-name", Kind::kString, "", kRefused, kNoDiscovery},
    {"--pre-vote", Kind::kBool, "true", kNotUsed, "ketcd's raft always runs pre-vote"},
    {"--enable-v2", Kind::kBool, "false", kRefused, kNoV2},
    {"--v2-deprecation", Kind::kChoice, "not-yet", kNotUsed,
     "ketcd has no v2 store, as every stage allows", "not-yet|write-only|write-only-drop-data|gone"},
    {"--client-cert-file", Kind::kString, "", kNotUsed, "ketcd never dials its own client URLs"},
    {"--client-key-file", Kind::kString, "", kNotUsed, "ketcd never dials its own client URLs"},
    {"--client-cert-allowed-hostname", Kind::kString, "", kRefused,
     "ketcd does not check the hostnames of client certificates"},
    {"--peer-client-cert-file", Kind::kString, "", kRefused,
     "ketcd dials its peers with --peer-cert-file and --peer-key-file"},
    {"--peer-client-key-file", Kind::kString, "", kRefused,
     "ketcd dials its peers with --peer-cert-file and --peer-key-file"},
    {"--cors", Kind::kAllowList, "*", kNotUsed,
     "ketcd sends no CORS headers, so browsers refuse every cross-origin request"},
    {"--host-whitelist", Kind::kAllowList, "*", kRefused,
     "ketcd does not check the Host header of HTTP requests"},
    {"--enable-pprof", Kind::kBool, "false", kNotUsed, "ketcd is not a Go program: there is no /debug/pprof"},
    {"--enable-log-rotation", Kind::kBool, "false", kRefused,
     "ketcd does not rotate its log file (it appends to it; logrotate's copytruncate works)"},
    {"--log-rotation-config-json", Kind::kString,
     R"({"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false})", kNotUsed,
     "ketcd does not rotate its log file"},
    {"--experimental-enable-distributed-tracing", Kind::kBool, "false", kNotUsed, kNoTracing},
    {"--experimental-distributed-tracing-address", Kind::kString, "localhost:4317", kNotUsed, kNoTracing},
    {"--experimental-distributed-tracing-service-name", Kind::kString, "etcd", kNotUsed, kNoTracing},
    {"--experimental-distributed-tracing-instance-id", Kind::kString, "", kNotUsed, kNoTracing},
    {"--experimental-distributed-tracing-sampling-rate", Kind::kInt, "0", kNotUsed, kNoTracing},
    {"--proxy", Kind::kChoice, "off", kRefused, kNoProxy, "off|readonly|on"},
    {"--proxy-failure-wait", Kind::kUint, "5000", kRefused, kNoProxy},
    {"--proxy-refresh-interval", Kind::kUint, "30000", kRefused, kNoProxy},
    {"--proxy-dial-timeout", Kind::kUint, "1000", kRefused, kNoProxy},
    {"--proxy-write-timeout", Kind::kUint, "5000", kRefused, kNoProxy},
    {"--proxy-read-timeout", Kind::kUint, "0", kRefused, kNoProxy},
    {"--experimental-compact-hash-check-enabled", Kind::kBool, "false", kNotUsed, kNoCorruptCheck},
    {"--experimental-compact-hash-check-time", Kind::kDuration, "1m", kNotUsed, kNoCorruptCheck},
    {"--experimental-enable-v2v3", Kind::kString, "", kRefused, kNoV2},
    {"--experimental-enable-lease-checkpoint", Kind::kBool, "false", kNotUsed,
     "ketcd always checkpoints lease TTLs through raft"},
    {"--experimental-enable-lease-checkpoint-persist", Kind::kBool, "false", kNotUsed,
     "ketcd always keeps checkpointed lease TTLs in its store"},
    {"--experimental-compaction-batch-limit", Kind::kInt, "1000", kNotUsed, kOwnCompaction},
    {"--experimental-compaction-sleep-interval", Kind::kDuration, "10ms", kNotUsed, kOwnCompaction},
    {"--experimental-peer-skip-client-san-verification", Kind::kBool, "false", kNotUsed,
     "ketcd never checks a peer's client certificate SANs against its address"},
    {"--experimental-downgrade-check-time", Kind::kDuration, "5s", kNotUsed,
     "ketcd has no cluster downgrade"},
    {"--experimental-memory-mlock", Kind::kBool, "false", kNotUsed, "ketcd does not lock its memory"},
    {"--experimental-warning-apply-duration", Kind::kDuration, "100ms", kNotUsed,
     "ketcd does not log slow applies"},
    {"--experimental-txn-mode-write-with-shared-buffer", Kind::kBool, "true", kNotUsed,
     "ketcd's transactions read the store their own way"},
    {"--experimental-bootstrap-defrag-threshold-megabytes", Kind::kUint, "0", kNotUsed,
     "RocksDB reclaims space by its own compactions"},
    {"--experimental-stop-grpc-service-on-defrag", Kind::kBool, "false", kNotUsed,
     "ketcd has no defragmentation that stops service"},
    {"--force-new-cluster", Kind::kBool, "false", kRefused,
     "ketcd cannot restart a member as a new one-member cluster yet"},
    {"--unsafe-no-fsync", Kind::kBool, "false", kNotUsed, "ketcd always fsyncs its WAL"},
    // etcd 3.5 flags that `etcd --help` does not list.
    {"--log-format", Kind::kChoice, "json", kNotUsed,
     "ketcd's log format follows --logger (zap: JSON, capnslog: text)", "json|console"},
    {"--experimental-warning-unary-request-duration", Kind::kDuration, "0s", kNotUsed,
     "ketcd does not log slow requests"},
};

bool AllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
}

absl::StatusOr<std::string> CanonicalBool(absl::string_view v) {
  if (v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True") return "true";
  if (v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "false" || v == "False") return "false";
  return absl::InvalidArgumentError("parse error");
}

absl::StatusOr<std::string> CanonicalDuration(absl::string_view v) {
  absl::Duration d;
  if (!absl::ParseDuration(v, &d) || d == absl::InfiniteDuration() || d == -absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("parse error: want a duration such as 300ms, 5s or 1h30m");
  }
  return d == absl::ZeroDuration() ? std::string("0") : absl::FormatDuration(d);
}

absl::StatusOr<std::string> CanonicalNumber(Kind kind, absl::string_view v) {
  const bool negative = kind == Kind::kInt && !v.empty() && v[0] == '-';
  if (!AllDigits(negative ? v.substr(1) : v)) return absl::InvalidArgumentError("parse error");
  if (kind == Kind::kInt) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(v, &n)) return absl::InvalidArgumentError("value out of range");
    return absl::StrCat(n);
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(v, &n) || (kind == Kind::kUint32 && n > std::numeric_limits<uint32_t>::max())) {
    return absl::InvalidArgumentError("value out of range");
  }
  return absl::StrCat(n);
}

// The value as etcd would read it, in one spelling per meaning ("T" and
// "true" alike), or why etcd would not read it.
absl::StatusOr<std::string> Canonical(const EtcdOnlyFlag& flag, absl::string_view v) {
  switch (flag.kind) {
    case Kind::kBool:
      return CanonicalBool(v);
    case Kind::kUint:
    case Kind::kUint32:
    case Kind::kInt:
      return CanonicalNumber(flag.kind, v);
    case Kind::kDuration:
      return CanonicalDuration(v);
    case Kind::kChoice:
      for (absl::string_view c : absl::StrSplit(flag.choices, '|')) {
        if (c == v) return std::string(v);
      }
      return absl::InvalidArgumentError(
          absl::StrCat("valid values are ", absl::StrJoin(absl::StrSplit(flag.choices, '|'), ", ")));
    case Kind::kAllowList:
      return v.empty() ? std::string("*") : std::string(v);
    case Kind::kUrls:
      if (!v.empty()) {
        if (auto urls = ParseUrlList(std::string(v)); !urls.ok()) return urls.status();
      }
      return std::string(v);
    case Kind::kString:
      return std::string(v);
  }
  return std::string(v);
}

// ketcd's own numeric flags and the Go type etcd declares each with.
constexpr std::pair<const char*, Kind> kGoIntegerFlags[] = {
    {"--snapshot-count", Kind::kUint},     {"--experimental-snapshot-catchup-entries", Kind::kUint},
    {"--heartbeat-interval", Kind::kUint}, {"--election-timeout", Kind::kUint},
    {"--max-request-bytes", Kind::kUint},  {"--max-txn-ops", Kind::kUint},
    {"--bcrypt-cost", Kind::kUint},        {"--auth-token-ttl", Kind::kUint},
    {"--self-signed-cert-validity", Kind::kUint}, {"--quota-backend-bytes", Kind::kInt},
    {"--experimental-max-learners", Kind::kInt},
};
constexpr absl::string_view kGoIntegerMark = "invalid value \"";

const EtcdOnlyFlag* Find(absl::string_view name) {
  for (const auto& f : kFlags) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

}  // namespace

std::string EtcdEnvName(absl::string_view flag) {
  std::string env = "ETCD_";
  for (char c : flag.substr(flag.find_first_not_of('-'))) {
    env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return env;
}

ConfigExit UsageExit(absl::string_view msg) {
  return ConfigExit{2, "", absl::StrCat("ketcd: ", msg, "\nRun 'ketcd --help' for the list of flags.\n")};
}

ConfigExit EnvValueExit(absl::string_view var, absl::string_view value, absl::string_view why) {
  return RefusalExit(absl::StrCat("error verifying flags, invalid value \"", value, "\" for ", var, ": ", why,
                                  ". See 'ketcd --help'."));
}

ConfigExit InvalidValueExit(const std::string& flag, absl::string_view value, absl::string_view why,
                            const FromEnv& from_env) {
  if (from_env(flag)) return EnvValueExit(EtcdEnvName(flag), value, why);
  return UsageExit(absl::StrCat("invalid value \"", value, "\" for flag ", flag, ": ", why));
}

void CheckGoIntegers(CLI::App& app) {
  for (const auto& [name, kind] : kGoIntegerFlags) {
    CLI::Option* opt = app.get_option_no_throw(name);
    if (opt == nullptr) continue;
    const std::string flag = name;
    opt->check(CLI::Validator(
        [flag, kind = kind](std::string& value) -> std::string {
          auto ok = CanonicalNumber(kind, value);
          return ok.ok() ? "" : absl::StrCat(kGoIntegerMark, value, "\" for flag ", flag, ": ", ok.status().message());
        },
        "", "go-integer"));
  }
}

std::optional<std::string> GoIntegerRefusal(absl::string_view cli_error) {
  // CLI11 puts the option's name before a check's message.
  const size_t at = cli_error.find(absl::StrCat(": ", kGoIntegerMark));
  if (at == absl::string_view::npos || !absl::StartsWith(cli_error, "--")) return std::nullopt;
  return std::string(cli_error.substr(at + 2));
}

std::optional<ConfigExit> ParseDurationFlag(const std::string& flag, const std::string& value, absl::Duration& out,
                                            const FromEnv& from_env) {
  auto d = base::ParseGoDuration(value);
  if (!d.ok()) return InvalidValueExit(flag, value, from_env(flag) ? "parse error" : d.status().message(), from_env);
  out = *d;
  return std::nullopt;
}

ConfigExit RefusalExit(absl::string_view msg) { return ConfigExit{1, "", absl::StrCat("ketcd: ", msg, "\n")}; }

std::vector<std::string> EtcdOnlyFlags::Define(CLI::App& app) {
  std::vector<std::string> names;
  for (const auto& f : kFlags) {
    std::string& value = values_[f.name];
    value = f.etcd_default;
    const std::string help = absl::StrCat(f.why, " [", EtcdEnvName(f.name), "]");
    CLI::Option* opt =
        f.kind == Kind::kBool ? app.add_flag(f.name, value, help) : app.add_option(f.name, value, help);
    opt->capture_default_str()->group(f.treatment == kNotUsed ? "etcd flags ketcd accepts but does not use"
                                                              : "etcd flags ketcd refuses unless etcd's default");
    names.push_back(f.name);
  }
  return names;
}

std::optional<ConfigExit> EtcdOnlyFlags::Check(const CLI::App& app,
                                               const std::function<bool(const std::string&)>& from_env,
                                               std::vector<std::string>& warnings) const {
  for (const auto& f : kFlags) {
    if (app.count(f.name) == 0) continue;
    const std::string& value = values_.find(f.name)->second;
    // Named as it was given: --max-wals, or ETCD_MAX_WALS.
    const std::string source = from_env(f.name) ? EtcdEnvName(f.name) : std::string(f.name);
    auto given = Canonical(f, value);
    if (!given.ok() && from_env(f.name)) return EnvValueExit(source, value);
    if (!given.ok()) {
      return UsageExit(
          absl::StrCat("invalid value \"", value, "\" for ", source, ": ", given.status().message()));
    }
    if (*given == *Canonical(f, f.etcd_default)) continue;
    const std::string setting = absl::StrCat(source, "=", value);
    if (f.treatment == kRefused) {
      return RefusalExit(absl::StrCat(setting, " is not supported: ", f.why,
                                      " (refused rather than ignored; see the Flags section of ketcd's README)"));
    }
    warnings.push_back(absl::StrCat(setting, " is accepted but not used by ketcd: ", f.why));
  }
  return std::nullopt;
}

std::optional<FlagTreatment> EtcdOnlyFlags::Treatment(absl::string_view flag) {
  const EtcdOnlyFlag* f = Find(flag);
  if (f == nullptr) return std::nullopt;
  return f->treatment;
}

}  // namespace server
