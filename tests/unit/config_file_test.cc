// --config-file: etcd's YAML keys mapped onto the same flag definitions, so
// a file and the equivalent command line give the same Config; the file is
// then the only source (flags and ETCD_* variables ignored, as etcd); bad
// files are refused naming the file, line, column and key.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "server/boot/config.h"

namespace ketcd_test {
namespace {

// A temporary directory holding the files of one test case.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ketcd-config-file-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string file = (path_ / name).string();
    std::ofstream(file) << text;
    return file;
  }

 private:
  std::filesystem::path path_;
};

using Env = std::map<std::string, std::string>;

std::variant<server::Config, server::ConfigExit> Parse(const std::vector<std::string>& args, const Env& env = {}) {
  return server::ParseConfig(args, [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

server::Config MustParse(const std::vector<std::string>& args, const Env& env = {}) {
  auto r = Parse(args, env);
  if (auto* exit = std::get_if<server::ConfigExit>(&r)) FAIL("exit " << exit->code << ": " << exit->err);
  return std::get<server::Config>(r);
}

server::ConfigExit MustFail(const std::vector<std::string>& args, const Env& env = {}) {
  auto r = Parse(args, env);
  REQUIRE(std::holds_alternative<server::ConfigExit>(r));
  return std::get<server::ConfigExit>(r);
}

std::string Urls(const std::vector<server::Url>& urls) {
  std::vector<std::string> raw;
  for (const auto& u : urls) raw.push_back(u.raw);
  return absl::StrJoin(raw, ",");
}

std::string Tls(const server::TlsFiles& t) {
  return absl::StrCat(t.cert_file, "|", t.key_file, "|", t.trusted_ca_file, "|", t.client_cert_auth, "|",
                      t.crl_file, "|", t.self_signed);
}

// Every field of a Config but `config_file`, one per line, so that two
// Configs compare equal exactly when they would start the same member.
std::string Describe(const server::Config& c) {
  std::vector<std::string> cluster;
  for (const auto& m : c.initial_cluster) cluster.push_back(absl::StrCat(m.name, "=", absl::StrJoin(m.peer_urls, ",")));
  return absl::StrJoin(
      std::vector<std::string>{
          c.name, c.data_dir, Urls(c.listen_client_urls), Urls(c.listen_metrics_urls),
          Urls(c.advertise_client_urls), Urls(c.listen_peer_urls), Urls(c.initial_advertise_peer_urls),
          absl::StrJoin(cluster, ";"), c.initial_cluster_state, c.initial_cluster_token,
          absl::StrCat(c.max_request_bytes, " ", c.max_txn_ops, " ", c.bcrypt_cost, " ", c.auth_token_ttl_s),
          c.auth_token, absl::StrCat(c.heartbeat_interval_ms, " ", c.election_timeout_ms),
          absl::StrCat(c.snapshot_count, " ", c.snapshot_catchup_entries),
          absl::FormatDuration(c.watch_progress_notify_interval),
          absl::StrCat(static_cast<int>(c.auto_compaction_mode), " ", absl::FormatDuration(c.auto_compaction_period),
                       " ", c.auto_compaction_revisions),
          absl::StrCat(static_cast<int>(c.log_format), " ", static_cast<int>(c.log_level), " ", c.log_output),
          Tls(c.client_tls), Tls(c.peer_tls), c.peer_allowed_cn, c.peer_allowed_hostname,
          absl::StrCat(c.client_auto_tls, c.peer_auto_tls, c.strict_reconfig_check, c.enable_grpc_gateway,
                       c.metrics_extensive, c.initial_corrupt_check),
          absl::StrCat(c.max_learners, " ", c.quota_backend_bytes, " ", c.self_signed_cert_validity),
          absl::FormatDuration(c.corrupt_check_time), c.cipher_suites, c.tls_min_version, c.tls_max_version,
          absl::StrJoin(c.warnings, "\n")},
      "\n");
}

}  // namespace

TEST_CASE("config file: a file equivalent to a flag set gives the same Config", "[config_file]") {
  TempDir dir;
  const std::string file = dir.Write("ketcd.conf.yml", R"(# a member of a three-member cluster
name: infra1
data-dir: /var/lib/ketcd/infra1
listen-client-urls: https://127.0.0.1:2379,https://10.0.1.10:2379
advertise-client-urls: https://10.0.1.10:2379
listen-peer-urls: https://10.0.1.10:2380
initial-advertise-peer-urls: https://10.0.1.10:2380
listen-metrics-urls: http://127.0.0.1:2381
initial-cluster: "infra1=https://10.0.1.10:2380,infra2=https://10.0.1.11:2380,infra3=https://10.0.1.12:2380"
initial-cluster-state: existing
initial-cluster-token: tok-1
heartbeat-interval: 50
election-timeout: 500
snapshot-count: 5000
quota-backend-bytes: 8589934592
auto-compaction-mode: revision
auto-compaction-retention: "1000"
max-request-bytes: 2097152
max-txn-ops: 256
logger: zap
log-level: warn
log-outputs: [stdout]
strict-reconfig-check: false
enable-grpc-gateway: true
metrics: extensive
experimental-initial-corrupt-check: true
experimental-corrupt-check-time: 3m
experimental-watch-progress-notify-interval: 5000000000
cipher-suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
tls-min-version: TLS1.2
max-wals: 10
client-transport-security:
  cert-file: /etc/ketcd/server.crt
  key-file: /etc/ketcd/server.key
  client-cert-auth: true
  trusted-ca-file: /etc/ketcd/ca.crt
  crl-file: /etc/ketcd/client.crl
peer-transport-security:
  cert-file: /etc/ketcd/peer.crt
  key-file: /etc/ketcd/peer.key
  client-cert-auth: yes
  trusted-ca-file: /etc/ketcd/ca.crt
  allowed-cn: [etcd-peer]
)");
  const server::Config flags = MustParse(
      {"--name", "infra1", "--data-dir=/var/lib/ketcd/infra1",
       "--listen-client-urls=https://127.0.0.1:2379,https://10.0.1.10:2379",
       "--advertise-client-urls=https://10.0.1.10:2379", "--listen-peer-urls=https://10.0.1.10:2380",
       "--initial-advertise-peer-urls=https://10.0.1.10:2380", "--listen-metrics-urls=http://127.0.0.1:2381",
       "--initial-cluster=infra1=https://10.0.1.10:2380,infra2=https://10.0.1.11:2380,infra3=https://10.0.1.12:2380",
       "--initial-cluster-state=existing", "--initial-cluster-token=tok-1", "--heartbeat-interval=50",
       "--election-timeout=500", "--snapshot-count=5000", "--quota-backend-bytes=8589934592",
       "--auto-compaction-mode=revision", "--auto-compaction-retention=1000", "--max-request-bytes=2097152",
       "--max-txn-ops=256", "--logger=zap", "--log-level=warn", "--log-outputs=stdout",
       "--strict-reconfig-check=false", "--enable-grpc-gateway", "--metrics=extensive",
       "--experimental-initial-corrupt-check", "--experimental-corrupt-check-time=3m",
       "--experimental-watch-progress-notify-interval=5s",
       "--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
       "--tls-min-version=TLS1.2", "--max-wals=10", "--cert-file=/etc/ketcd/server.crt",
       "--key-file=/etc/ketcd/server.key", "--client-cert-auth", "--trusted-ca-file=/etc/ketcd/ca.crt",
       "--client-crl-file=/etc/ketcd/client.crl", "--peer-cert-file=/etc/ketcd/peer.crt",
       "--peer-key-file=/etc/ketcd/peer.key", "--peer-client-cert-auth=true",
       "--peer-trusted-ca-file=/etc/ketcd/ca.crt", "--peer-cert-allowed-cn=etcd-peer"});
  const server::Config from_file = MustParse({"--config-file", file});
  CHECK(Describe(from_file) == Describe(flags));
  CHECK(from_file.config_file == file);
  CHECK(flags.config_file.empty());
  // The values really moved away from the defaults.
  CHECK(from_file.heartbeat_interval_ms == 50);
  CHECK(from_file.client_tls.client_cert_auth);
  CHECK(from_file.peer_tls.client_cert_auth);
  CHECK(from_file.peer_tls.cert_file == "/etc/ketcd/peer.crt");
  CHECK(from_file.client_tls.crl_file == "/etc/ketcd/client.crl");
  CHECK(from_file.watch_progress_notify_interval == absl::Seconds(5));
  CHECK(from_file.log_output == "stdout");
  CHECK(from_file.warnings.size() == 1);  // --max-wals, accepted but not used
  CHECK(Describe(from_file) != Describe(MustParse({})));
}

TEST_CASE("config file: empty keys keep their defaults, as in etcd's sample file", "[config_file]") {
  TempDir dir;
  const std::string file = dir.Write("sample.yml", R"(name: 'default'
data-dir:
wal-dir:
snapshot-count: 10000
listen-peer-urls: http://127.0.0.1:2380
listen-client-urls: http://127.0.0.1:2379
max-snapshots: 5
cors:
discovery:
discovery-fallback: 'proxy'
initial-cluster:
initial-cluster-token: 'etcd-cluster'
initial-cluster-state: 'new'
proxy: 'off'
client-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  auto-tls: false
peer-transport-security:
self-signed-cert-validity: 1
log-level: debug
force-new-cluster: false
)");
  const server::Config c = MustParse({"--config-file=" + file});
  CHECK(c.name == "default");
  CHECK(c.data_dir == "default.ketcd");
  CHECK(c.snapshot_count == 10000);
  CHECK(c.log_level == base::LogLevel::kDebug);
  CHECK(c.initial_cluster.size() == 1);
  CHECK(c.warnings.empty());
  // An empty file is every default.
  CHECK(Describe(MustParse({"--config-file", dir.Write("empty.yml", "")})) == Describe(MustParse({})));
}

TEST_CASE("config file: other flags and ETCD_* variables are ignored, as etcd", "[config_file]") {
  TempDir dir;
  const std::string file = dir.Write("f.yml", "name: from-file\nheartbeat-interval: 20\nelection-timeout: 200\n");
  const Env env = {{"ETCD_NAME", "from-env"}, {"ETCD_HEARTBEAT_INTERVAL", "not-a-number"},
                   {"ETCD_ENABLE_V2", "true"}};
  const server::Config c =
      MustParse({"--name", "from-flag", "--config-file", file, "--heartbeat-interval=30", "--enable-v2"}, env);
  CHECK(c.name == "from-file");
  CHECK(c.heartbeat_interval_ms == 20);
  // ETCD_CONFIG_FILE names the file when the flag is absent...
  const server::Config e = MustParse({"--name=x"}, {{"ETCD_CONFIG_FILE", file}, {"ETCD_SNAPSHOT_COUNT", "7"}});
  CHECK(e.name == "from-file");
  CHECK(e.snapshot_count == 100000);
  // ...and the flag wins over it, with no "shadowed" refusal.
  const std::string other = dir.Write("g.yml", "name: other\n");
  CHECK(MustParse({"--config-file", other}, {{"ETCD_CONFIG_FILE", file}}).name == "other");
  // A command line that does not parse still stops, as etcd's flag parse does.
  CHECK(MustFail({"--config-file", file, "--no-such-flag"}).code == 2);
}

TEST_CASE("config file: an unknown key is refused, naming the key and the file", "[config_file]") {
  TempDir dir;
  const std::string file = dir.Write("u.yml", "name: a\nheartbeat-intervall: 100\n");
  const server::ConfigExit e = MustFail({"--config-file", file});
  CHECK(e.code == 1);
  CHECK(absl::StartsWith(e.err, absl::StrCat("ketcd: ", file, ":2:1: unknown key \"heartbeat-intervall\"")));
  // In a transport security block, the message names the block.
  const server::ConfigExit b =
      MustFail({"--config-file", dir.Write("b.yml", "peer-transport-security:\n  cert-fil: x\n")});
  CHECK(b.code == 1);
  CHECK(b.err.find(":2:3: unknown key \"cert-fil\" in peer-transport-security") != std::string::npos);
  // Keys that are no setting of the member.
  for (const char* key : {"config-file", "help", "version"}) {
    INFO(key);
    const server::ConfigExit k = MustFail({"--config-file", dir.Write("k.yml", absl::StrCat(key, ": x\n"))});
    CHECK(k.err.find(absl::StrCat("unknown key \"", key, "\"")) != std::string::npos);
  }
  // The same setting twice (a flag's name and its block key).
  const server::ConfigExit twice = MustFail(
      {"--config-file", dir.Write("t.yml", "cert-file: a\nclient-transport-security:\n  cert-file: b\n")});
  CHECK(twice.err.find(":3:3: key \"client-transport-security.cert-file\" sets --cert-file, already set by key "
                       "\"cert-file\"") != std::string::npos);
}

TEST_CASE("config file: malformed YAML is refused with its line and column", "[config_file]") {
  TempDir dir;
  const std::string file = dir.Write("m.yml", "name: a\nlisten-client-urls: [http://127.0.0.1:2379\n");
  const server::ConfigExit e = MustFail({"--config-file", file});
  CHECK(e.code == 1);
  CHECK(absl::StartsWith(e.err, absl::StrCat("ketcd: ", file, ":")));
  CHECK(e.err.find("malformed YAML") != std::string::npos);
  const server::ConfigExit top = MustFail({"--config-file", dir.Write("l.yml", "- a\n- b\n")});
  CHECK(top.err.find(":1:1: expected a mapping") != std::string::npos);
  const server::ConfigExit missing = MustFail({"--config-file", "/nonexistent/ketcd.yml"});
  CHECK(missing.code == 1);
  CHECK(missing.err.find("cannot read the config file /nonexistent/ketcd.yml") != std::string::npos);
}

TEST_CASE("config file: a value its flag refuses gives the flag's error, naming the key", "[config_file]") {
  TempDir dir;
  struct Case {
    std::string yaml;
    std::string where;  // line:column of the key
    std::string key;
    std::string flag_message;
  };
  const Case cases[] = {
      {"name: a\nheartbeat-interval: soon\n", ":2:1", "heartbeat-interval", "--heartbeat-interval"},
      {"listen-client-urls: ftp://127.0.0.1:2379\n", ":1:1", "listen-client-urls",
       "for flag --listen-client-urls"},
      {"initial-cluster-state: maybe\n", ":1:1", "initial-cluster-state", "for flag --initial-cluster-state: invalid value"},
      {"log-outputs: [stderr, /tmp/x.log]\n", ":1:1", "log-outputs", "ketcd writes its log to one output"},
      {"client-transport-security:\n  client-cert-auth: maybe\n", ":2:3", "client-transport-security.client-cert-auth",
       "--client-cert-auth"},
      {"enable-v2: on\n", ":1:1", "enable-v2", "--enable-v2=true is not supported"},
      {"experimental-corrupt-check-time: 1 hour\n", ":1:1", "experimental-corrupt-check-time",
       "corrupt-check-time"},
      {"heartbeat-interval: [1, 2]\n", ":1:21", "heartbeat-interval", "expects a single value, not a list"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    const std::string file = dir.Write("v.yml", c.yaml);
    const server::ConfigExit e = MustFail({"--config-file", file});
    CHECK(e.code == 1);
    CHECK(absl::StartsWith(e.err, absl::StrCat("ketcd: ", file, c.where, ": ")));
    CHECK(e.err.find(c.key) != std::string::npos);
    CHECK(e.err.find(c.flag_message) != std::string::npos);
    CHECK(e.err.find("Run 'ketcd --help'") == std::string::npos);
  }
}

TEST_CASE("config file: transport security blocks, lists and YAML's scalars", "[config_file]") {
  TempDir dir;
  const std::string file = dir.Write("tls.yml", R"(name: a
log-outputs:
  - stderr
client-transport-security:
  auto-tls: true
peer-transport-security:
  auto-tls: Yes
  crl-file: /p.crl
  allowed-hostname: [peer.example.com]
experimental-watch-progress-notify-interval: 250ms
auto-compaction-retention: 2
)");
  const server::Config c = MustParse({"--config-file", file});
  CHECK(c.client_auto_tls);
  CHECK(c.peer_auto_tls);
  CHECK(c.peer_tls.crl_file == "/p.crl");
  CHECK(c.peer_allowed_hostname == "peer.example.com");
  CHECK(c.log_output == "stderr");
  CHECK(c.watch_progress_notify_interval == absl::Milliseconds(250));
  CHECK(c.auto_compaction_period == absl::Hours(2));
  // Switches spelled as YAML 1.1 allows (etcd reads them with go-yaml v2).
  for (const char* off : {"false", "no", "off", "N", "False"}) {
    INFO(off);
    const std::string f = dir.Write("s.yml", absl::StrCat("strict-reconfig-check: ", off, "\n"));
    CHECK_FALSE(MustParse({"--config-file", f}).strict_reconfig_check);
  }
}

}  // namespace ketcd_test
