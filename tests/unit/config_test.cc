// The flag parser: etcd's names, defaults and ETCD_* variables, with the
// process environment injected so that each case states its own.
#include <map>

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

TEST_CASE("config: ETCD_* variables apply, and a flag wins over its variable", "[config]") {
  auto p = Parse({"--max-txn-ops", "9"}, {{"ETCD_MAX_TXN_OPS", "3"},
                                          {"ETCD_NAME", "envname"},
                                          {"ETCD_INITIAL_CLUSTER", "envname=http://127.0.0.1:2380"},
                                          {"ETCD_HEARTBEAT_INTERVAL", "50"}});
  REQUIRE(p.cfg);
  CHECK(p.cfg->max_txn_ops == 9);
  CHECK(p.cfg->name == "envname");
  CHECK(p.cfg->data_dir == "envname.ketcd");
  CHECK(p.cfg->heartbeat_interval_ms == 50);
  auto q = Parse({"-max-txn-ops=9"}, {{"ETCD_MAX_TXN_OPS", "3"}});
  REQUIRE(q.cfg);
  CHECK(q.cfg->max_txn_ops == 9);
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
      {{"--initial-cluster-state", "old"}, "must be new or existing"},
      {{"--election-timeout", "400"}, "at least 5 times"},
      {{"--max-request-bytes", "0"}, "must be positive"},
      {{"--experimental-watch-progress-notify-interval", "5ms"}, "at least 100ms"},
      {{"--logger", "glog"}, "--logger"},
      {{"--log-level", "loud"}, "--log-level"},
  };
  for (const auto& c : cases) {
    INFO(c.args[0] << " " << (c.args.size() > 1 ? c.args[1] : ""));
    auto p = Parse(c.args);
    CHECK_FALSE(p.cfg);
    CHECK(p.exit.code == 2);
    CHECK(p.exit.err.find(c.wanted) != std::string::npos);
  }
  // A bad variable is as bad as a bad flag.
  auto p = Parse({}, {{"ETCD_MAX_TXN_OPS", "many"}});
  CHECK_FALSE(p.cfg);
  CHECK(p.exit.code == 2);
}

TEST_CASE("config: --help and --version print to stdout and exit 0", "[config]") {
  auto help = Parse({"--help"});
  CHECK(help.exit.code == 0);
  CHECK(help.exit.out.find("--initial-cluster") != std::string::npos);
  CHECK(help.exit.out.find("ETCD_INITIAL_CLUSTER") != std::string::npos);
  auto version = Parse({"--version"});
  CHECK(version.exit.code == 0);
  CHECK(version.exit.out.find("ketcd Version") != std::string::npos);
}

}  // namespace ketcd_test
