// The client port's parts without sockets: which protocol a first flight of
// bytes is (ClientHellos made by OpenSSL itself, as curl, Go and gRPC
// clients would send them), the HTTP/1.1 connection loop over a scripted
// stream, and etcd's /version and /health answers.
#include <openssl/ssl.h>

#include <deque>
#include <string>

#include "catch2/catch.hpp"
#include "server/edge/http_endpoints.h"
#include "server/state/alarms.h"
#include "server/edge/member_metrics.h"
#include "server/net/http_server.h"
#include "server/net/protocol_sniff.h"
#include "server/net/tls_protocol.h"
#include "tests/common/temp_dir.h"
#include "tests/unit/store_util.h"
#include "tests/unit/stub_proposer.h"

namespace ketcd_test {
namespace {

using server::SniffResult;

// The first bytes a TLS client offering `alpn` (wire format: length-
// prefixed names; empty: no ALPN) sends.
std::string ClientHello(const std::string& alpn, int max_version = 0) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  if (!alpn.empty()) {
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn.data()),
                        static_cast<unsigned>(alpn.size()));
  }
  SSL_set_connect_state(ssl);
  (void)SSL_do_handshake(ssl);  // wants to read the server's answer: expected
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);  // NOLINT(runtime/int)
  std::string hello(data, static_cast<size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

std::string Alpn(std::initializer_list<std::string> names) {
  std::string wire;
  for (const auto& n : names) wire += static_cast<char>(n.size()) + n;
  return wire;
}

}  // namespace

TEST_CASE("sniff: TLS clients are told apart by the protocols they offer", "[net][sniff]") {
  // grpc-go (etcdctl) and gRPC C++/Python.
  CHECK(server::SniffTls(ClientHello(Alpn({"h2"}))) == SniffResult::kGrpc);
  CHECK(server::SniffTls(ClientHello(Alpn({"grpc-exp", "h2"}))) == SniffResult::kGrpc);
  // curl and Go's net/http (kubeadm, Prometheus) offer HTTP/1.1 too.
  CHECK(server::SniffTls(ClientHello(Alpn({"h2", "http/1.1"}))) == SniffResult::kHttp);
  CHECK(server::SniffTls(ClientHello(Alpn({"http/1.1"}))) == SniffResult::kHttp);
  CHECK(server::SniffTls(ClientHello("")) == SniffResult::kHttp);
}

TEST_CASE("sniff: whether a ClientHello offers TLS 1.3", "[net][sniff]") {
  CHECK(server::SniffTlsHello(ClientHello(Alpn({"h2"}))).offers_tls13);
  const auto tls12 = server::SniffTlsHello(ClientHello(Alpn({"h2"}), TLS1_2_VERSION));
  CHECK(tls12.result == SniffResult::kGrpc);
  CHECK_FALSE(tls12.offers_tls13);
}

TEST_CASE("tls protocol: etcd's cipher suite names and TLS versions", "[net][sniff]") {
  auto ok = server::ParseTlsProtocol(
      {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}, "", "");
  REQUIRE(ok.ok());
  CHECK(ok->openssl_cipher_list == "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384");
  CHECK_FALSE(ok->tls13_only);
  auto unknown = server::ParseTlsProtocol({"TLS_NOT_A_SUITE"}, "", "");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message() == R"(--cipher-suites: unexpected TLS cipher suite "TLS_NOT_A_SUITE")");
  auto tls13 = server::ParseTlsProtocol({}, "TLS1.3", "");
  REQUIRE(tls13.ok());
  CHECK(tls13->tls13_only);
  CHECK_FALSE(server::ParseTlsProtocol({"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}, "TLS1.3", "").ok());
  CHECK_FALSE(server::ParseTlsProtocol({}, "TLS9", "").ok());
  CHECK_FALSE(server::ParseTlsProtocol({}, "TLS1.1", "").ok());
  CHECK_FALSE(server::ParseTlsProtocol({}, "", "TLS1.2").ok());
  CHECK(server::ParseTlsProtocol({}, "TLS1.2", "TLS1.3").ok());
  // TLS 1.3 suites are accepted and, as in Go, leave the TLS 1.2 list alone.
  auto only13 = server::ParseTlsProtocol({"TLS_AES_128_GCM_SHA256"}, "", "");
  REQUIRE(only13.ok());
  CHECK(only13->openssl_cipher_list.empty());
}

TEST_CASE("sniff: a partial ClientHello waits; bytes that are not TLS say so", "[net][sniff]") {
  const std::string hello = ClientHello(Alpn({"h2"}));
  REQUIRE(hello.size() > 40);
  for (size_t n : {size_t{0}, size_t{1}, size_t{4}, size_t{5}, size_t{40}, hello.size() - 1}) {
    INFO("first " << n << " bytes");
    CHECK(server::SniffTls(hello.substr(0, n)) == SniffResult::kNeedMore);
  }
  CHECK(server::SniffTls("GET /health HTTP/1.1\r\n") == SniffResult::kNotTls);
  CHECK(server::SniffTls(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")) == SniffResult::kNotTls);
  // A handshake record that is not a ClientHello, or garbage inside one:
  // gRPC's TLS refuses it; nothing here reads past the bytes given.
  std::string bogus = hello;
  bogus[5] = 2;  // ServerHello
  CHECK(server::SniffTls(bogus) == SniffResult::kGrpc);
  for (size_t i = 9; i < hello.size(); i += 7) {
    std::string damaged = hello;
    damaged[i] = static_cast<char>(0xff);
    const SniffResult r = server::SniffTls(damaged);
    CHECK((r == SniffResult::kGrpc || r == SniffResult::kHttp));
  }
}

TEST_CASE("sniff: plain ports: the HTTP/2 preface is gRPC, anything else HTTP", "[net][sniff]") {
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  CHECK(server::SniffPlain(preface) == SniffResult::kGrpc);
  CHECK(server::SniffPlain(preface + "\x00\x00\x12\x04") == SniffResult::kGrpc);
  CHECK(server::SniffPlain(preface.substr(0, 10)) == SniffResult::kNeedMore);
  CHECK(server::SniffPlain("") == SniffResult::kNeedMore);
  CHECK(server::SniffPlain("GET /version HTTP/1.1\r\n") == SniffResult::kHttp);
  CHECK(server::SniffPlain("P") == SniffResult::kNeedMore);
  CHECK(server::SniffPlain("POST /v3/kv/range HTTP/1.1\r\n") == SniffResult::kHttp);
}

namespace {

// A client that sends `chunks` one Read at a time and records the replies.
class ScriptedStream final : public server::ByteStream {
 public:
  explicit ScriptedStream(std::deque<std::string> chunks) : chunks_(std::move(chunks)) {}
  size_t Read(char* buf, size_t len) override {
    if (chunks_.empty()) return 0;
    std::string& c = chunks_.front();
    const size_t n = std::min(len, c.size());
    c.copy(buf, n);
    c.erase(0, n);
    if (c.empty()) chunks_.pop_front();
    return n;
  }
  bool Write(std::string_view data) override {
    written += data;
    return true;
  }
  std::string written;

 private:
  std::deque<std::string> chunks_;
};

server::HttpRoutes EchoRoutes() {
  server::HttpRoutes routes;
  routes.Add("/echo", [](const server::HttpRequest& req) {
    server::HttpResponse r;
    r.body = req.method + " " + req.query + " " + req.body;
    return r;
  });
  return routes;
}

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("http: pipelined and split requests are answered in order", "[net][http]") {
  const auto routes = EchoRoutes();
  ScriptedStream s({"GET /echo?a=1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Le",
                    "ngth: 5\r\n\r\nhel", "lo", "GET /missing HTTP/1.1\r\n\r\n"});
  server::ServeHttpConnection(s, routes, {});
  CHECK(Count(s.written, "HTTP/1.1 200 OK") == 2);
  CHECK(s.written.find("GET a=1 ") < s.written.find("POST  hello"));
  CHECK(s.written.find("HTTP/1.1 404 Not Found") != std::string::npos);
  CHECK(s.written.find("404 page not found\n") != std::string::npos);
}

TEST_CASE("http: Connection: close and HTTP/1.0 end the connection after one answer",
          "[net][http]") {
  const auto routes = EchoRoutes();
  ScriptedStream s({"GET /echo HTTP/1.1\r\nConnection: close\r\n\r\nGET /echo HTTP/1.1\r\n\r\n"});
  server::ServeHttpConnection(s, routes, {});
  CHECK(Count(s.written, "HTTP/1.1 200 OK") == 1);
  CHECK(s.written.find("Connection: close") != std::string::npos);
  ScriptedStream old({"GET /echo HTTP/1.0\r\n\r\nGET /echo HTTP/1.0\r\n\r\n"});
  server::ServeHttpConnection(old, routes, {});
  CHECK(Count(old.written, "200 OK") == 1);
}

TEST_CASE("http: malformed and oversized requests get an error and a closed connection",
          "[net][http]") {
  const auto routes = EchoRoutes();
  ScriptedStream garbage({"\x16\x03\x01 not http at all\r\n\r\n", "GET /echo HTTP/1.1\r\n\r\n"});
  server::ServeHttpConnection(garbage, routes, {});
  CHECK(garbage.written.rfind("HTTP/1.1 400 Bad Request", 0) == 0);
  CHECK(Count(garbage.written, "HTTP/1.1") == 1);
  ScriptedStream big({"POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x')});
  server::ServeHttpConnection(big, routes, server::HttpLimits{10});
  CHECK(big.written.rfind("HTTP/1.1 413", 0) == 0);
  ScriptedStream head({"HEAD /echo HTTP/1.1\r\n\r\n"});
  server::ServeHttpConnection(head, routes, {});
  CHECK(head.written.find("Content-Length: 6\r\n\r\n") != std::string::npos);
  CHECK(head.written.substr(head.written.size() - 4) == "\r\n\r\n");
}

namespace {

// A proposer whose leader and read barrier the test sets.
class FakeProposer final : public StubProposer {
 public:
  FakeProposer() { leader = 7; }
  void ReadBarrier(std::function<void(absl::Status)> done) override {
    ++barriers;
    if (answer_barrier) done(barrier);
    else pending.push_back(std::move(done));
  }
  absl::Status barrier;
  bool answer_barrier = true;
  int barriers = 0;
  std::vector<std::function<void(absl::Status)>> pending;
};

server::HttpRequest Get(std::string path, std::string query = "") {
  server::HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.query = std::move(query);
  return r;
}

struct Endpoints {
  Endpoints() {
    server::AddEtcdHealthEndpoints(routes, server::HealthSources{&p, store.get(), &counters, &alarms});
    server::AddMetricsEndpoint(routes, server::MetricSources{0x8e9e05c52164694d, &p, store.get(), &counters,
                                                             &fsync, &commit, 16777216});
  }
  // Applies one Alarm request, as the apply loop would.
  void Alarm(etcdserverpb::AlarmRequest::AlarmAction action, etcdserverpb::AlarmType type) {
    etcdserverpb::AlarmRequest r;
    r.set_action(action);
    r.set_memberid(0x8e9e05c52164694d);
    r.set_alarm(type);
    auto wb = store->Write();
    REQUIRE(alarms.Apply(*wb, r).ok());
    REQUIRE(wb->Commit(store->AppliedIndex() + 1, false).ok());
  }
  FakeProposer p;
  TempDir dir;
  std::unique_ptr<storage::MvccStore> store = OpenStore(dir.Sub("store"));
  server::HealthCounters counters;
  base::LatencyHistogram fsync;
  base::LatencyHistogram commit;
  server::AlarmStore alarms;
  server::HttpRoutes routes;
};

}  // namespace

TEST_CASE_METHOD(Endpoints, "http endpoints: /health as etcd 3.5 answers it", "[net][http]") {
  auto ok = routes.Serve(Get("/health"));
  CHECK(ok.status == 200);
  CHECK(ok.body == R"({"health":"true","reason":""})");
  CHECK(p.barriers == 1);  // a linearizable read, not just a leader check

  p.barrier = absl::UnavailableError("etcdserver: request timed out");
  auto failed = routes.Serve(Get("/health"));
  CHECK(failed.status == 503);
  CHECK(failed.body ==
        R"({"health":"false","reason":"RANGE ERROR:etcdserver: request timed out"})"
        "\n");
  CHECK(routes.Serve(Get("/health", "serializable=true")).status == 200);

  p.answer_barrier = false;  // a read that never completes: one second, then 503
  auto slow = routes.Serve(Get("/health"));
  CHECK(slow.status == 503);
  CHECK(slow.body.find("RANGE ERROR:context deadline exceeded") != std::string::npos);
  for (auto& done : p.pending) done(absl::OkStatus());  // late answers are harmless

  p.leader = 0;
  auto leaderless = routes.Serve(Get("/health", "serializable=true"));
  CHECK(leaderless.status == 503);
  CHECK(leaderless.body == "{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}\n");

  server::HttpRequest post = Get("/health");
  post.method = "POST";
  auto refused = routes.Serve(post);
  CHECK(refused.status == 405);
  CHECK(counters.success.load() == 2);
  CHECK(counters.failures.load() == 3);
}

TEST_CASE_METHOD(Endpoints, "http endpoints: /livez and /readyz as etcd's check registry", "[net][http]") {
  CHECK(routes.Serve(Get("/livez")).body == "ok\n");
  auto verbose = routes.Serve(Get("/readyz", "verbose"));
  CHECK(verbose.status == 200);
  CHECK(verbose.body ==
        "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok\n");
  p.barrier = absl::UnavailableError("etcdserver: no leader");
  auto failed = routes.Serve(Get("/readyz"));
  CHECK(failed.status == 503);
  CHECK(failed.body ==
        "[+]data_corruption ok\n[+]serializable_read ok\n[-]linearizable_read failed: etcdserver: no leader\n"
        "[+]non_learner ok\n\n");
  CHECK(routes.Serve(Get("/readyz", "exclude=linearizable_read")).status == 200);
  CHECK(routes.Serve(Get("/readyz/linearizable_read")).status == 503);
  CHECK(routes.Serve(Get("/readyz/serializable_read", "verbose")).body == "[+]serializable_read ok\nok\n");
  CHECK(routes.Serve(Get("/livez")).status == 200);  // a member without quorum is alive
}

TEST_CASE_METHOD(Endpoints, "http endpoints: alarms in /health and /readyz as etcd 3.5", "[net][http][alarm]") {
  Alarm(etcdserverpb::AlarmRequest::ACTIVATE, etcdserverpb::NOSPACE);
  auto nospace = routes.Serve(Get("/health"));
  CHECK(nospace.status == 503);
  CHECK(nospace.body == "{\"health\":\"false\",\"reason\":\"ALARM NOSPACE\"}\n");
  CHECK(routes.Serve(Get("/health", "exclude=NOSPACE")).status == 200);
  CHECK(routes.Serve(Get("/readyz/data_corruption")).status == 200);  // only CORRUPT counts there
  Alarm(etcdserverpb::AlarmRequest::ACTIVATE, etcdserverpb::CORRUPT);
  auto corrupt = routes.Serve(Get("/health", "exclude=NOSPACE"));
  CHECK(corrupt.body == "{\"health\":\"false\",\"reason\":\"ALARM CORRUPT\"}\n");
  CHECK(routes.Serve(Get("/health", "exclude=NOSPACE&exclude=CORRUPT")).status == 200);
  auto readyz = routes.Serve(Get("/readyz"));
  CHECK(readyz.status == 503);
  CHECK(readyz.body.rfind("[-]data_corruption failed: alarm activated: CORRUPT\n", 0) == 0);
  CHECK(routes.Serve(Get("/readyz", "exclude=data_corruption")).status == 200);
  Alarm(etcdserverpb::AlarmRequest::DEACTIVATE, etcdserverpb::CORRUPT);
  Alarm(etcdserverpb::AlarmRequest::DEACTIVATE, etcdserverpb::NOSPACE);
  CHECK(routes.Serve(Get("/health")).status == 200);
  CHECK(routes.Serve(Get("/readyz")).status == 200);
  const std::string metrics = routes.Serve(Get("/metrics")).body;
  const std::string name = "\netcd_server_quota_backend_bytes ";
  const size_t at = metrics.find(name);
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(metrics.substr(at + name.size())) == 16777216.0);
}

TEST_CASE_METHOD(Endpoints, "http endpoints: /metrics in Prometheus text with etcd's names", "[net][http]") {
  auto m = routes.Serve(Get("/metrics"));
  CHECK(m.status == 200);
  CHECK(m.content_type.rfind("text/plain; version=0.0.4", 0) == 0);
  for (const char* line : {"# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n",
                           "# TYPE etcd_server_is_leader gauge\netcd_server_is_leader 0\n",
                           "etcd_server_id{server_id=\"8e9e05c52164694d\"} 1\n",
                           "etcd_server_version{server_version=\"3.5.24\"} 1\n",
                           "etcd_cluster_version{cluster_version=\"3.5\"} 1\n",
                           "# TYPE etcd_server_leader_changes_seen_total counter\n",
                           "# TYPE process_resident_memory_bytes gauge\n",
                           "# TYPE process_cpu_seconds_total counter\n"}) {
    INFO(line);
    CHECK(m.body.find(line) != std::string::npos);
  }
  p.leader = 0x8e9e05c52164694d;
  CHECK(routes.Serve(Get("/metrics")).body.find("etcd_server_is_leader 1\n") != std::string::npos);
  fsync.Observe(absl::Milliseconds(3));
  fsync.Observe(absl::Seconds(20));
  const std::string h = routes.Serve(Get("/metrics")).body;
  for (const char* line : {"# TYPE etcd_disk_wal_fsync_duration_seconds histogram\n",
                           "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"} 0\n",
                           "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.004\"} 1\n",
                           "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"8.192\"} 1\n",
                           "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} 2\n",
                           "etcd_disk_wal_fsync_duration_seconds_count 2\n",
                           "etcd_disk_backend_commit_duration_seconds_count 0\n"}) {
    INFO(line);
    CHECK(h.find(line) != std::string::npos);
  }
}

TEST_CASE_METHOD(Endpoints, "http endpoints: /version names a server kubeadm accepts", "[net][http]") {
  auto v = routes.Serve(Get("/version"));
  CHECK(v.status == 200);
  CHECK(v.content_type == "application/json");
  CHECK(v.body == R"({"etcdserver":"3.5.24","etcdcluster":"3.5.0"})");
}

}  // namespace ketcd_test
