// The flag parser: etcd's names, defaults and ETCD_* variables, with the
// process environment injected so that each case states its own.
#include <algorithm>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "catch2/catch.hpp"
#include "server/boot/config.h"

namespace ketcd_test {
namespace {

struct Parsed {
  std::optional<server::Config> cfg;
  server::ConfigExit exit;
};

Parsed Parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  auto lookup = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto r = server::ParseConfig(args, lookup);
  Parsed p;
  if (auto* cfg = std::get_if<server::Config>(&r)) {
    p.cfg = *cfg;
  } else {
    p.exit = std::get<server::ConfigExit>(r);
  }
  return p;
}

}  // namespace

TEST_CASE("config: no flags gives etcd's single-member defaults", "[config]") {
  auto p = Parse({});
  REQUIRE(p.cfg);
  CHECK(p.cfg->name == "default");
  CHECK(p.cfg->data_dir == "default.ketcd");
  REQUIRE(p.cfg->listen_client_urls.size() == 1);
  CHECK(p.cfg->listen_client_urls[0].HostPort() == "127.0.0.1:2379");
  CHECK(p.cfg->advertise_client_urls[0].raw == "http://localhost:2379");
  CHECK(p.cfg->listen_peer_urls[0].HostPort() == "127.0.0.1:2380");
  REQUIRE(p.cfg->initial_cluster.size() == 1);
  CHECK(p.cfg->initial_cluster[0].name == "default");
  CHECK(p.cfg->initial_cluster[0].peer_urls == std::vector<std::string>{"http://localhost:2380"});
  CHECK(p.cfg->initial_cluster_state == "new");
  CHECK(p.cfg->initial_cluster_token == "etcd-cluster");
  CHECK(p.cfg->max_request_bytes == 1572864);
  CHECK(p.cfg->max_txn_ops == 128);
  CHECK(p.cfg->heartbeat_interval_ms == 100);
  CHECK(p.cfg->election_timeout_ms == 1000);
  CHECK(p.cfg->watch_progress_notify_interval == absl::Minutes(10));
  CHECK(p.cfg->log_format == base::LogFormat::kText);
  CHECK(p.cfg->log_level == base::LogLevel::kInfo);
}

TEST_CASE("config: flags in every spelling, and a named member is a cluster of itself", "[config]") {
  auto p = Parse({"--name", "m1", "-data-dir", "/tmp/x", "--max-txn-ops=7",
                  "--initial-advertise-peer-urls", "http://127.0.0.1:12380,http://127.0.0.1:12381",
                  "--experimental-watch-progress-notify-interval", "250ms", "--logger", "zap",
                  "--log-level", "warn"});
  REQUIRE(p.cfg);
  CHECK(p.cfg->name == "m1");
  CHECK(p.cfg->data_dir == "/tmp/x");
  CHECK(p.cfg->max_txn_ops == 7);
  REQUIRE(p.cfg->initial_cluster.size() == 1);
  CHECK(p.cfg->initial_cluster[0].name == "m1");
  CHECK(p.cfg->initial_cluster[0].peer_urls.size() == 2);
  CHECK(p.cfg->watch_progress_notify_interval == absl::Milliseconds(250));
  CHECK(p.cfg->log_format == base::LogFormat::kJson);
  CHECK(p.cfg->log_level == base::LogLevel::kWarn);
}

TEST_CASE("config: ETCD_* variables apply where the flag is absent", "[config]") {
  auto p = Parse({"--max-txn-ops", "9"}, {{"ETCD_NAME", "envname"},
                                          {"ETCD_INITIAL_CLUSTER", "envname=http://127.0.0.1:2380"},
                                          {"ETCD_HEARTBEAT_INTERVAL", "50"}});
  REQUIRE(p.cfg);
  CHECK(p.cfg->max_txn_ops == 9);
  CHECK(p.cfg->name == "envname");
  CHECK(p.cfg->data_dir == "envname.ketcd");
  CHECK(p.cfg->heartbeat_interval_ms == 50);
  // An empty variable is no setting at all.
  auto e = Parse({}, {{"ETCD_NAME", ""}, {"ETCD_MAX_TXN_OPS", ""}});
  REQUIRE(e.cfg);
  CHECK(e.cfg->name == "default");
  CHECK(e.cfg->max_txn_ops == 128);
  // Boolean flags take their variable's true/false, as Go's flag package.
  auto b = Parse({}, {{"ETCD_CLIENT_CERT_AUTH", "true"}});
  REQUIRE(b.cfg);
  CHECK(b.cfg->client_tls.client_cert_auth);
}

TEST_CASE("config: a flag given with its ETCD_* variable set is refused, as etcd refuses it", "[config]") {
  const std::string wanted =
      "conflicting environment variable \"ETCD_MAX_TXN_OPS\" is shadowed by corresponding command-line flag "
      "(either unset environment variable or disable flag)";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--max-txn-ops", "9"}, {"-max-txn-ops=9"}, {"--max-txn-ops=3"}}) {
    INFO(args[0]);
    auto p = Parse(args, {{"ETCD_MAX_TXN_OPS", "3"}});
    CHECK_FALSE(p.cfg);
    CHECK(p.exit.code == 1);
    CHECK(p.exit.err.find(wanted) != std::string::npos);
  }
  // Set but empty counts too (etcd looks at the environment, not the value),
  // and so do boolean flags and the etcd flags ketcd does not use.
  CHECK(Parse({"--name", "m1"}, {{"ETCD_NAME", ""}}).exit.code == 1);
  CHECK(Parse({"--client-cert-auth"}, {{"ETCD_CLIENT_CERT_AUTH", "true"}}).exit.code == 1);
  auto q = Parse({"--max-wals=9"}, {{"ETCD_MAX_WALS", "9"}});
  CHECK(q.exit.code == 1);
  CHECK(q.exit.err.find("\"ETCD_MAX_WALS\" is shadowed") != std::string::npos);
  // Another flag's variable is no conflict.
  CHECK(Parse({"--max-txn-ops", "9"}, {{"ETCD_MAX_WALS", "9"}}).cfg);
}

TEST_CASE("config: a flag given twice takes its last value, as Go's flag package", "[config]") {
  auto p = Parse({"--max-txn-ops", "9", "--max-txn-ops=10", "--max-wals", "7", "-max-wals", "5"});
  REQUIRE(p.cfg);
  CHECK(p.cfg->max_txn_ops == 10);
  CHECK(p.cfg->warnings.empty());  // --max-wals ends at etcd's default
}

TEST_CASE("config: a bad flag or value is a usage error that names it", "[config]") {
  struct Case {
    std::vector<std::string> args;
    std::string wanted;
  };
  const Case cases[] = {
      {{"--no-such-flag", "1"}, "no-such-flag"},
      {{"--listen-client-urls", "127.0.0.1:2379"}, "--listen-client-urls"},
      {{"--listen-peer-urls", "ftp://127.0.0.1:2380"}, "scheme"},
      {{"--initial-cluster", "a=http://x:1", "--name", "b"}, "couldn't find local name \"b\""},
      {{"--initial-cluster", "nourl"}, "expected name=url"},
      {{"--initial-cluster-state", "old"}, "invalid value \"old\" for flag --initial-cluster-state: invalid value"},
      // Go's flag package reads etcd's unsigned flags: no sign, in words.
      {{"--snapshot-count", "-1"}, "ketcd: invalid value \"-1\" for flag --snapshot-count: parse error"},
      {{"--heartbeat-interval", "-5"}, "ketcd: invalid value \"-5\" for flag --heartbeat-interval: parse error"},
      {{"--max-txn-ops", "many"}, "ketcd: invalid value \"many\" for flag --max-txn-ops: parse error"},
      {{"--quota-backend-bytes", "99999999999999999999"},
       "invalid value \"99999999999999999999\" for flag --quota-backend-bytes: value out of range"},
      {{"--election-timeout", "400"}, "at least 5 times"},
      {{"--max-request-bytes", "0"}, "must be positive"},
      {{"--experimental-watch-progress-notify-interval", "5ms"}, "at least 100ms"},
      {{"--log-level", "loud"}, "--log-level"},
  };
  for (const auto& c : cases) {
    INFO(c.args[0] << " " << (c.args.size() > 1 ? c.args[1] : ""));
    auto p = Parse(c.args);
    CHECK_FALSE(p.cfg);
    CHECK(p.exit.code == 2);
    CHECK(p.exit.err.find(c.wanted) != std::string::npos);
  }
  // etcd verifies the logger after the parse (exit 1).
  auto logger = Parse({"--logger", "glog"});
  CHECK(logger.exit.code == 1);
  CHECK(logger.exit.err == "ketcd: error verifying flags, unknown logger option \"glog\". See 'ketcd --help'.\n");
  // The same refusals from ETCD_* variables name the variable (etcd 3.4's output).
  const std::pair<std::pair<std::string, std::string>, std::string> vars[] = {
      {{"ETCD_SNAPSHOT_COUNT", "-1"}, "invalid value \"-1\" for ETCD_SNAPSHOT_COUNT: parse error"},
      {{"ETCD_INITIAL_CLUSTER_STATE", "bogus"}, "invalid value \"bogus\" for ETCD_INITIAL_CLUSTER_STATE: invalid value"},
  };
  for (const auto& [var, want] : vars) {
    INFO(var.first);
    auto p = Parse({}, {var});
    CHECK(p.exit.code == 1);
    CHECK(p.exit.err == "ketcd: error verifying flags, " + want + ". See 'ketcd --help'.\n");
  }
}

TEST_CASE("config: an ETCD_* value that does not parse is refused by its variable's name, as etcd refuses it", "[config]") {
  // etcd sets the variables after parsing the command line and exits 1:
  // "error verifying flags, invalid value "many" for ETCD_MAX_TXN_OPS: parse error".
  const std::pair<std::string, std::string> bad[] = {
      {"ETCD_MAX_TXN_OPS", "many"},                   // a CLI11 integer
      {"ETCD_CLIENT_CERT_AUTH", "maybe"},             // a bool
      {"ETCD_MAX_WALS", "many"},                      // typed by EtcdOnlyFlags
      {"ETCD_GRPC_KEEPALIVE_MIN_TIME", "abc"},        // a Go duration, typed after the parse
      {"ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME", "x"},  // likewise
  };
  for (const auto& [var, value] : bad) {
    INFO(var);
    auto p = Parse({"--name", "m1"}, {{var, value}});
    CHECK_FALSE(p.cfg);
    CHECK(p.exit.code == 1);
    CHECK(p.exit.err.find(absl::StrCat("error verifying flags, invalid value \"", value, "\" for ", var,
                                       ": parse error")) != std::string::npos);
  }
  // The command line's own error comes first (exit 2, naming the flag),
  // whichever of the two fails to convert first.
  const std::pair<std::string, std::pair<std::string, std::string>> both[] = {
      {"--max-wals=x", {"ETCD_MAX_TXN_OPS", "many"}},
      {"--max-txn-ops=x", {"ETCD_MAX_WALS", "many"}},
      {"--max-txn-ops=x", {"ETCD_MAX_WALS", "5"}},
      {"--grpc-keepalive-timeout=y", {"ETCD_MAX_TXN_OPS", "many"}},
      {"--grpc-keepalive-timeout=y", {"ETCD_GRPC_KEEPALIVE_MIN_TIME", "abc"}},
      {"--max-txn-ops=x", {"ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME", "x"}},
      {"--listen-peer-urls=ftp://127.0.0.1:2380", {"ETCD_LISTEN_CLIENT_URLS", "ftp://127.0.0.1:2379"}},
      {"--max-wals=x", {"ETCD_MAX_SNAPSHOTS", "y"}},  // both etcd's own flags, typed in one pass
  };
  for (const auto& [arg, env] : both) {
    INFO(arg << " with " << env.first);
    auto p = Parse({arg}, {env});
    CHECK_FALSE(p.cfg);
    CHECK(p.exit.code == 2);
    CHECK(p.exit.err.find(arg.substr(0, arg.find('='))) != std::string::npos);
    CHECK(p.exit.err.find(env.first) == std::string::npos);
  }
  // Of two bad variables, the last by name: etcd sets them all in its flag
  // set's order and reports the last failure.
  auto two = Parse({}, {{"ETCD_MAX_TXN_OPS", "x"}, {"ETCD_ELECTION_TIMEOUT", "y"}});
  CHECK(two.exit.code == 1);
  CHECK(two.exit.err.find("ETCD_MAX_TXN_OPS") != std::string::npos);
  // A URL list's own error follows, as in etcd.
  auto u = Parse({}, {{"ETCD_LISTEN_PEER_URLS", "ftp://127.0.0.1:2380"}});
  CHECK(u.exit.code == 1);
  CHECK(u.exit.err.find("error verifying flags, invalid value \"ftp://127.0.0.1:2380\" for ETCD_LISTEN_PEER_URLS: "
                        "URL scheme must be http, https, unix, or unixs: ftp://127.0.0.1:2380. See") !=
        std::string::npos);
  // ... also beside another bad variable, and of two bad URL variables the
  // last by name, whichever check met it first (etcd 3.4's own output).
  const std::pair<std::vector<std::pair<std::string, std::string>>, std::string> urls[] = {
      {{{"ETCD_LISTEN_CLIENT_URLS", "127.0.0.1:2379"}, {"ETCD_HEARTBEAT_INTERVAL", "abc"}},
       "invalid value \"127.0.0.1:2379\" for ETCD_LISTEN_CLIENT_URLS: parse \"127.0.0.1:2379\": first path "
       "segment in URL cannot contain colon. See 'ketcd --help'.\n"},
      {{{"ETCD_LISTEN_PEER_URLS", "ftp://x:1"}, {"ETCD_LISTEN_CLIENT_URLS", "127.0.0.1:2379"}},
       "invalid value \"ftp://x:1\" for ETCD_LISTEN_PEER_URLS: URL scheme must be http, https, unix, or unixs: "
       "ftp://x:1. See 'ketcd --help'.\n"},
      {{{"ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:2379/"}, {"ETCD_MAX_WALS", "x"}},
       "invalid value \"x\" for ETCD_MAX_WALS: parse error. See 'ketcd --help'.\n"},
  };
  for (const auto& [vars, want] : urls) {
    INFO(vars[0].first << " with " << vars[1].first);
    auto p = Parse({}, {vars[0], vars[1]});
    CHECK(p.exit.code == 1);
    CHECK(p.exit.err == "ketcd: error verifying flags, " + want);
  }
}

TEST_CASE("config: --help and --version print to stdout and exit 0", "[config]") {
  auto help = Parse({"--help"});
  CHECK(help.exit.code == 0);
  CHECK(help.exit.out.find("--initial-cluster") != std::string::npos);
  CHECK(help.exit.out.find("ETCD_INITIAL_CLUSTER") != std::string::npos);
  CHECK(help.exit.out.find("--enable-v2") != std::string::npos);
  for (const char* flag : {"--version", "-version"}) {
    auto version = Parse({flag});
    CHECK(version.exit.code == 0);
    CHECK(version.exit.out == server::VersionText() + "\n");
  }
  // etcd's lines, in etcd's order, with the C++ compiler for Go's.
  const std::vector<std::string> lines = absl::StrSplit(server::VersionText(), '\n');
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] == "etcd Version: 3.5.24");
  CHECK(absl::StartsWith(lines[1], "Git SHA: "));
  CHECK(lines[1].size() > std::string("Git SHA: ").size());
  CHECK(absl::StartsWith(lines[2], "C++ Version: "));
  CHECK(absl::StrContains(lines[2], "C++20"));
  CHECK(absl::StartsWith(lines[3], "C++ OS/Arch: linux/"));
  CHECK(absl::StartsWith(lines[4], "ketcd Version: "));
}

TEST_CASE("config: --log-outputs takes one output, as etcd names them", "[config]") {
  CHECK(Parse({}).cfg->log_output == "stderr");
  CHECK(Parse({"--log-outputs", "default"}).cfg->log_output == "stderr");
  CHECK(Parse({"--log-outputs", "stdout"}).cfg->log_output == "stdout");
  CHECK(Parse({"--log-outputs=/var/log/ketcd.log"}).cfg->log_output == "/var/log/ketcd.log");
  CHECK(Parse({"--log-outputs=stderr,stderr"}).cfg->log_output == "stderr");
  for (const char* refused : {"stderr,stdout", "systemd/journal"}) {
    auto p = Parse({"--log-outputs", refused});
    CHECK(p.exit.code == 1);
    CHECK(p.exit.err.find("--log-outputs") != std::string::npos);
    CHECK(p.exit.err.find("not supported") != std::string::npos);
  }
}

TEST_CASE("config: an etcd flag ketcd does not use is checked, then named in a warning", "[config]") {
  auto p = Parse({"--max-wals", "10", "--enable-pprof", "--backend-batch-limit=100",
                  "--experimental-compact-hash-check-enabled=true", "--raft-read-timeout", "1s"},
                 {{"ETCD_MAX_CONCURRENT_STREAMS", "100"}});
  REQUIRE(p.cfg);
  const std::vector<std::string> wanted = {
      "--max-wals=10 is accepted but not used by ketcd: ",
      "--enable-pprof=true is accepted but not used by ketcd: ",
      "--backend-batch-limit=100 is accepted but not used by ketcd: ",
      "--experimental-compact-hash-check-enabled=true is accepted but not used by ketcd: ",
      "--raft-read-timeout=1s is accepted but not used by ketcd: ",
      "ETCD_MAX_CONCURRENT_STREAMS=100 is accepted but not used by ketcd: "};
  CHECK(p.cfg->warnings.size() == wanted.size());
  for (const auto& w : wanted) {
    INFO(w);
    CHECK(std::any_of(p.cfg->warnings.begin(), p.cfg->warnings.end(),
                      [&](const std::string& line) { return absl::StartsWith(line, w); }));
  }
  // etcd's defaults, in any spelling etcd reads, say nothing.
  auto d = Parse({"--max-wals", "5", "--enable-pprof=false", "--raft-read-timeout", "5000ms",
                  "--pre-vote=T", "--strict-reconfig-check", "--cors=*", "--backend-batch-interval", "0"});
  REQUIRE(d.cfg);
  CHECK(d.cfg->warnings.empty());
  // Values are checked as etcd's Go flag types check them: exit 2, naming the flag.
  const std::pair<std::vector<std::string>, std::string> bad[] = {
      {{"--max-wals", "-1"}, "--max-wals"},
      {{"--max-concurrent-streams", "4294967296"}, "--max-concurrent-streams"},
      {{"--raft-read-timeout", "5"}, "--raft-read-timeout"},
      {{"--enable-pprof=maybe"}, "--enable-pprof"},
      {{"--metrics", "full"}, "--metrics"},
      {{"--backend-batch-limit", "8G"}, "--backend-batch-limit"},
  };
  for (const auto& [args, flag] : bad) {
    INFO(args[0]);
    auto q = Parse(args);
    CHECK_FALSE(q.cfg);
    CHECK(q.exit.code == 2);
    CHECK(q.exit.err.find(absl::StrCat("for ", flag, ": ")) != std::string::npos);
  }
  auto v = Parse({}, {{"ETCD_MAX_WALS", "many"}});
  CHECK(v.exit.code == 1);
  CHECK(v.exit.err.find("invalid value \"many\" for ETCD_MAX_WALS") != std::string::npos);
}

TEST_CASE("config: an etcd flag whose feature ketcd lacks is refused by name, unless etcd's default", "[config]") {
  const std::vector<std::string> refused[] = {
      {"--enable-v2"},
      {"--experimental-enable-v2v3", "/v2/"},
      {"--proxy", "on"},
      {"--proxy-dial-timeout", "10"},
      {"--discovery", "https://discovery.etcd.io/x"},
      {"--discovery-srv=example.com"},
      {"--force-new-cluster"},
      {"--wal-dir", "/wal"},
      {"--listen-client-http-urls", "http://127.0.0.1:2378"},
      {"--host-whitelist", "example.com"},
  };
  for (const auto& args : refused) {
    INFO(args[0]);
    auto p = Parse(args);
    CHECK_FALSE(p.cfg);
    CHECK(p.exit.code == 1);
    CHECK(absl::StartsWith(p.exit.err, absl::StrCat("ketcd: ", args[0])));
    CHECK(p.exit.err.find(" is not supported: ") != std::string::npos);
  }
  // From its variable, the message names the variable.
  auto e = Parse({}, {{"ETCD_ENABLE_V2", "true"}});
  CHECK(e.exit.code == 1);
  CHECK(absl::StartsWith(e.exit.err, "ketcd: ETCD_ENABLE_V2=true is not supported: "));
  // etcd's defaults start ketcd, with nothing to say.
  auto d = Parse({"--enable-v2=false", "--proxy", "off", "--auth-token", "simple", "--auto-compaction-retention",
                  "0", "--discovery-fallback", "proxy", "--host-whitelist", "", "--force-new-cluster=false"});
  REQUIRE(d.cfg);
  CHECK(d.cfg->warnings.empty());
}

TEST_CASE("config: kubeadm's etcd command line starts ketcd", "[config]") {
  // kubeadm's static pod (v1.31) for a stacked control plane.
  auto p = Parse({"--advertise-client-urls=https://10.0.0.5:2379", "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
                  "--client-cert-auth=true", "--data-dir=/var/lib/etcd",
                  "--experimental-initial-corrupt-check=true",
                  "--experimental-watch-progress-notify-interval=5s",
                  "--initial-advertise-peer-urls=https://10.0.0.5:2380",
                  "--initial-cluster=cp1=https://10.0.0.5:2380", "--key-file=/etc/kubernetes/pki/etcd/server.key",
                  "--listen-client-urls=https://127.0.0.1:2379,https://10.0.0.5:2379",
                  "--listen-metrics-urls=http://127.0.0.1:2381", "--listen-peer-urls=https://10.0.0.5:2380",
                  "--name=cp1", "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
                  "--peer-client-cert-auth=true", "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
                  "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt", "--snapshot-count=10000",
                  "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt"});
  REQUIRE(p.cfg);
  CHECK(p.cfg->snapshot_count == 10000);
  CHECK(p.cfg->watch_progress_notify_interval == absl::Seconds(5));
  CHECK(p.cfg->initial_corrupt_check);
  CHECK(p.cfg->warnings.empty());
}

TEST_CASE("config: the backend quota and the corruption checks", "[config]") {
  auto d = Parse({});
  REQUIRE(d.cfg);
  CHECK(d.cfg->quota_backend_bytes == 0);  // etcd's default quota (2 GiB) where it is used
  CHECK_FALSE(d.cfg->initial_corrupt_check);
  CHECK(d.cfg->corrupt_check_time == absl::ZeroDuration());
  auto p = Parse({"--quota-backend-bytes=16777216", "--experimental-initial-corrupt-check",
                  "--experimental-corrupt-check-time", "1m30s"});
  REQUIRE(p.cfg);
  CHECK(p.cfg->quota_backend_bytes == 16777216);
  CHECK(p.cfg->initial_corrupt_check);
  CHECK(p.cfg->corrupt_check_time == absl::Seconds(90));
  CHECK(p.cfg->warnings.empty());
  auto e = Parse({}, {{"ETCD_QUOTA_BACKEND_BYTES", "-1"}, {"ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME", "5s"}});
  REQUIRE(e.cfg);
  CHECK(e.cfg->quota_backend_bytes == -1);
  CHECK(e.cfg->corrupt_check_time == absl::Seconds(5));
  for (const char* bad : {"5", "-1s", "soon"}) {
    INFO(bad);
    auto q = Parse({"--experimental-corrupt-check-time", bad});
    CHECK_FALSE(q.cfg);
    CHECK(q.exit.code == 2);
  }
  CHECK(Parse({"--quota-backend-bytes", "8G"}).exit.code == 2);
  CHECK(server::EtcdFlagTreatment("--quota-backend-bytes") == server::FlagTreatment::kUsed);
  CHECK(server::EtcdFlagTreatment("--experimental-corrupt-check-time") == server::FlagTreatment::kUsed);
}

TEST_CASE("config: --grpc-keepalive-* are read as etcd reads them", "[config]") {
  auto d = Parse({});
  REQUIRE(d.cfg);
  CHECK(d.cfg->grpc_keepalive_min_time == absl::Seconds(5));
  CHECK(d.cfg->grpc_keepalive_interval == absl::Hours(2));
  CHECK(d.cfg->grpc_keepalive_timeout == absl::Seconds(20));
  auto p = Parse({"--grpc-keepalive-min-time", "1s", "--grpc-keepalive-interval=30s"},
                 {{"ETCD_GRPC_KEEPALIVE_TIMEOUT", "1m"}});
  REQUIRE(p.cfg);
  CHECK(p.cfg->grpc_keepalive_min_time == absl::Seconds(1));
  CHECK(p.cfg->grpc_keepalive_interval == absl::Seconds(30));
  CHECK(p.cfg->grpc_keepalive_timeout == absl::Minutes(1));
  CHECK(p.cfg->warnings.empty());
  // Zero or less is "not set" to etcd, not an error.
  auto z = Parse({"--grpc-keepalive-min-time", "0", "--grpc-keepalive-interval", "-1s"});
  REQUIRE(z.cfg);
  CHECK(z.cfg->grpc_keepalive_min_time == absl::ZeroDuration());
  CHECK(z.cfg->grpc_keepalive_interval == -absl::Seconds(1));
  for (const char* flag : {"--grpc-keepalive-min-time", "--grpc-keepalive-interval", "--grpc-keepalive-timeout"}) {
    INFO(flag);
    CHECK(server::EtcdFlagTreatment(flag) == server::FlagTreatment::kUsed);
    auto q = Parse({flag, "5"});  // Go wants a unit
    CHECK_FALSE(q.cfg);
    CHECK(q.exit.code == 2);
    CHECK(q.exit.err.find(absl::StrCat("for flag ", flag, ": ")) != std::string::npos);
  }
}

TEST_CASE("config: every flag ketcd defines is an etcd flag with a treatment", "[config]") {
  CHECK(server::EtcdFlagTreatment("--name") == server::FlagTreatment::kUsed);
  CHECK(server::EtcdFlagTreatment("--log-outputs") == server::FlagTreatment::kUsed);
  CHECK(server::EtcdFlagTreatment("--max-wals") == server::FlagTreatment::kNotUsed);
  CHECK(server::EtcdFlagTreatment("--enable-v2") == server::FlagTreatment::kRefused);
  CHECK_FALSE(server::EtcdFlagTreatment("--no-such-flag"));
}

TEST_CASE("config: --auto-compaction-mode and --auto-compaction-retention as etcd reads them", "[config]") {
  using Mode = server::Config::AutoCompactionMode;
  // Off by default, and with "0" (or nothing) in either mode.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {}, {"--auto-compaction-retention", "0"}, {"--auto-compaction-retention="},
           {"--auto-compaction-mode", "revision", "--auto-compaction-retention", "0"},
           {"--auto-compaction-retention", "0s"}}) {
    auto p = Parse(args);
    REQUIRE(p.cfg);
    CHECK(p.cfg->auto_compaction_period == absl::ZeroDuration());
    CHECK(p.cfg->auto_compaction_revisions == 0);
  }
  // periodic: a bare number is hours, else a Go duration.
  auto hours = Parse({"--auto-compaction-retention", "2"});
  REQUIRE(hours.cfg);
  CHECK(hours.cfg->auto_compaction_mode == Mode::kPeriodic);
  CHECK(hours.cfg->auto_compaction_period == absl::Hours(2));
  auto minutes = Parse({"--auto-compaction-mode=periodic", "--auto-compaction-retention=30m"});
  REQUIRE(minutes.cfg);
  CHECK(minutes.cfg->auto_compaction_period == absl::Minutes(30));
  auto env = Parse({}, {{"ETCD_AUTO_COMPACTION_RETENTION", "1s"}});
  REQUIRE(env.cfg);
  CHECK(env.cfg->auto_compaction_period == absl::Seconds(1));
  // revision: a count; a duration counts its nanoseconds, as etcd does.
  auto revs = Parse({"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1000"});
  REQUIRE(revs.cfg);
  CHECK(revs.cfg->auto_compaction_mode == Mode::kRevision);
  CHECK(revs.cfg->auto_compaction_revisions == 1000);
  CHECK(revs.cfg->auto_compaction_period == absl::ZeroDuration());
  CHECK(revs.cfg->auto_compaction_revision_interval == absl::Minutes(5));
  auto odd = Parse({"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1us"});
  REQUIRE(odd.cfg);
  CHECK(odd.cfg->auto_compaction_revisions == 1000);
  // etcd's refusals (exit 1) and its messages.
  const std::pair<std::vector<std::string>, std::string> refused[] = {
      {{"--auto-compaction-mode", "hourly"},
       "ketcd: error verifying flags, unknown auto-compaction-mode \"hourly\". See 'ketcd --help'.\n"},
      {{"--auto-compaction-retention", "1.5"},
       "ketcd: error parsing CompactionRetention: time: missing unit in duration \"1.5\"\n"},
      {{"--auto-compaction-retention", "-1"},
       "ketcd: error parsing CompactionRetention: time: missing unit in duration \"-1\"\n"},
      {{"--auto-compaction-retention", "abc"},
       "ketcd: error parsing CompactionRetention: time: invalid duration \"abc\"\n"},
      {{"--auto-compaction-retention", "1x"},
       "ketcd: error parsing CompactionRetention: time: unknown unit \"x\" in duration \"1x\"\n"},
      {{"--auto-compaction-mode=", "--auto-compaction-retention", "1h"}, "ketcd: unsupported compaction mode \n"},
  };
  for (const auto& [args, err] : refused) {
    INFO(absl::StrJoin(args, " "));
    auto p = Parse(args);
    CHECK_FALSE(p.cfg);
    CHECK(p.exit.code == 1);
    CHECK(p.exit.err == err);
  }
  // What etcd 3.4 panics on is refused.
  for (const char* bad : {"-1h", "5ns"}) {
    auto p = Parse({"--auto-compaction-retention", bad});
    CHECK_FALSE(p.cfg);
    CHECK(p.exit.code == 1);
    CHECK(absl::StartsWith(p.exit.err, absl::StrCat("ketcd: --auto-compaction-retention=", bad, " is not supported")));
  }
}

}  // namespace ketcd_test
