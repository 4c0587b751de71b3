// The JSON gateway's codec and the HTTP side it needs: Go's json.Decoder
// reading of bodies (first value, Go's syntax messages), jsonpb's mapping
// with OrigName, grpc-gateway's error shapes, chunked answers and subtree
// routes. Expected strings are what etcd 3.4's gateway answers (checked
// with curl against Debian's etcd).
#include <catch2/catch.hpp>

#include <deque>
#include <string>

#include "etcdserverpb/rpc.pb.h"
#include "server/edge/gateway_json.h"
#include "server/edge/json_gateway.h"
#include "server/edge/json_scan.h"
#include "server/net/http_server.h"

namespace {

std::string ParseError(const std::string& body) {
  etcdserverpb::RangeRequest req;
  absl::Status s = server::ParseJsonRequest(body, &req);
  return s.ok() ? "ok" : std::string(s.message());
}

}  // namespace

namespace {

class Recorder : public server::ByteStream {
 public:
  explicit Recorder(std::string in) : in_(std::move(in)) {}
  size_t Read(char* buf, size_t len) override {
    const size_t n = std::min(len, in_.size());
    in_.copy(buf, n);
    in_.erase(0, n);
    return n;
  }
  bool Write(std::string_view data) override {
    out += data;
    return true;
  }
  std::string out;

 private:
  std::string in_;
};

}  // namespace

TEST_CASE("gateway json: bodies are read as Go's json.Decoder reads them", "[gateway]") {
  CHECK(ParseError("{\"key\":") == "unexpected EOF");
  CHECK(ParseError("{\"key\":\"Zm9v\"") == "unexpected EOF");
  CHECK(ParseError("xyz") == "invalid character 'x' looking for beginning of value");
  CHECK(ParseError("{\"key\" 1}") == "invalid character '1' after object key");
  CHECK(ParseError("{\"key\":1 2}") == "invalid character '2' after object key:value pair");
  CHECK(ParseError("{1:2}") == "invalid character '1' looking for beginning of object key string");
  CHECK(ParseError("{\"a\":[1 2]}") == "invalid character '2' after array element");
  CHECK(ParseError("{\"a\":tru}") == "invalid character '}' in literal true (expecting 'e')");
  CHECK(ParseError("{\"a\":\"\n\"}") == "invalid character '\\n' in string literal");
  CHECK(ParseError("{\"a\":-x}") == "invalid character 'x' in numeric literal");
  CHECK(ParseError("[1]") == "json: cannot unmarshal array into Go value of type map[string]json.RawMessage");
  CHECK(ParseError("\"s\"") == "json: cannot unmarshal string into Go value of type map[string]json.RawMessage");
  // Empty, whitespace and null are the empty request; what follows the
  // first value is never read.
  CHECK(ParseError("") == "ok");
  CHECK(ParseError(" \n") == "ok");
  CHECK(ParseError("null") == "ok");
  etcdserverpb::RangeRequest req;
  REQUIRE(server::ParseJsonRequest(R"({"key":"Zm9v","keysOnly":true,"limit":"5","sort_order":"DESCEND","x":1} trailing)", &req).ok());
  CHECK(req.key() == "foo");
  CHECK(req.keys_only());
  CHECK(req.limit() == 5);
  CHECK(req.sort_order() == etcdserverpb::RangeRequest::DESCEND);
}

TEST_CASE("gateway json: a stream body is a sequence of values", "[gateway]") {
  absl::Status first;
  auto reqs = server::ParseJsonRequests(R"({"create_request":{"key":"YQ=="}} {"cancel_request":{"watch_id":"3"}}{)",
                                        etcdserverpb::WatchRequest::default_instance(), &first);
  CHECK(first.ok());  // the cut third value ends the stream, it does not fail it
  REQUIRE(reqs.size() == 2);
  CHECK(static_cast<etcdserverpb::WatchRequest&>(*reqs[1]).cancel_request().watch_id() == 3);
  auto none = server::ParseJsonRequests("xx", etcdserverpb::WatchRequest::default_instance(), &first);
  CHECK(none.empty());
  CHECK(first.message() == "invalid character 'x' looking for beginning of value");
  size_t offset = 0;
  auto number = server::NextJsonValue(" 12 ", &offset);
  REQUIRE(number.ok());
  CHECK(**number == "12");
}

TEST_CASE("gateway json: responses as jsonpb with OrigName", "[gateway]") {
  etcdserverpb::RangeResponse resp;
  resp.mutable_header()->set_cluster_id(15118495548433857066ull);
  resp.mutable_header()->set_revision(2);
  auto* kv = resp.add_kvs();
  kv->set_key("foo");
  kv->set_value("bar");
  kv->set_create_revision(2);
  resp.set_count(1);
  CHECK(server::MessageJson(resp) ==
        R"({"header":{"cluster_id":"15118495548433857066","revision":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","value":"YmFy"}],"count":"1"})");
  etcdserverpb::LeaseTimeToLiveResponse ttl;
  ttl.set_id(1234);
  ttl.set_grantedttl(60);
  CHECK(server::MessageJson(ttl) == R"({"ID":"1234","grantedTTL":"60"})");
}

TEST_CASE("gateway: every route names a compiled-in method (a missing one aborts)", "[gateway]") {
  server::HttpRoutes routes;
  server::AddJsonGateway(routes, nullptr);
  Recorder s("OPTIONS /v3beta/kv/range HTTP/1.1\r\n\r\nGET /v3/kv/range HTTP/1.1\r\n\r\nPOST /v3/nope HTTP/1.1\r\n\r\n");
  server::ServeHttpConnection(s, routes, {});
  CHECK(s.out.rfind("HTTP/1.1 200 OK\r\nAccess-Control-Allow-Headers", 0) == 0);
  CHECK(s.out.find("HTTP/1.1 405 Method Not Allowed") != std::string::npos);
  CHECK(s.out.find("Not Found\n") != std::string::npos);
}

// A TLS connection whose handshake verified a certificate with `cn`.
class TlsRecorder final : public Recorder {
 public:
  TlsRecorder(std::string in, std::string cn) : Recorder(std::move(in)), cn_(std::move(cn)) {}
  void DescribeClient(server::HttpRequest& req) const override {
    req.tls = true;
    req.verified_client_cn = cn_;
  }

 private:
  std::string cn_;
};

TEST_CASE("gateway: a certificate's CN with --client-cert-auth and auth on is refused as etcd 3.4", "[gateway]") {
  bool auth = true;
  server::HttpRoutes routes;
  server::AddJsonGateway(routes, nullptr, {true, [&auth] { return auth; }});
  const std::string requests =
      "POST /v3/nope HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
      "OPTIONS /v3beta/kv/range HTTP/1.1\r\n\r\n";
  const std::string refusal = std::string("HTTP/1.1 400 Bad Request\r\n");
  const std::string text = std::string(server::kGatewayCommonNameRefusal) + "\n";
  TlsRecorder with_cn(requests, "root");
  server::ServeHttpConnection(with_cn, routes, {});
  CHECK(with_cn.out.rfind(refusal, 0) == 0);
  CHECK(with_cn.out.find(text) != std::string::npos);
  CHECK(with_cn.out.find(refusal, 1) != std::string::npos);  // the OPTIONS too
  // Served as usual: no CN, a plain connection, auth off.
  TlsRecorder no_cn(requests, "");
  server::ServeHttpConnection(no_cn, routes, {});
  CHECK(no_cn.out.find(" 400 ") == std::string::npos);
  Recorder plain(requests);
  server::ServeHttpConnection(plain, routes, {});
  CHECK(plain.out.find(" 400 ") == std::string::npos);
  auth = false;
  TlsRecorder auth_off(requests, "root");
  server::ServeHttpConnection(auth_off, routes, {});
  CHECK(auth_off.out.find(" 400 ") == std::string::npos);
  // Without --client-cert-auth there is no refusal either.
  server::HttpRoutes no_cca;
  server::AddJsonGateway(no_cca, nullptr, {false, [] { return true; }});
  TlsRecorder unchecked(requests, "root");
  server::ServeHttpConnection(unchecked, no_cca, {});
  CHECK(unchecked.out.find(" 400 ") == std::string::npos);
}

TEST_CASE("gateway json: errors in grpc-gateway's shapes", "[gateway]") {
  auto e = server::GatewayError(11, "etcdserver: mvcc: required revision has been compacted");
  CHECK(e.status == 400);
  CHECK(e.content_type == "application/json");
  CHECK(e.body ==
        R"({"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11})");
  CHECK(server::GatewayError(9, "x").status == 412);
  CHECK(server::GatewayError(16, "x").status == 401);
  CHECK(server::GoJsonString("a<b>\"c\"\n\x01") == R"("a\u003cb\u003e\"c\"\n\u0001")");
  CHECK(server::StreamErrorChunk(2, "boom") ==
        R"({"error":{"grpc_code":2,"http_code":500,"message":"boom","http_status":"Internal Server Error"}})");
  auto big = server::GatewayBodyTooLarge(5000000, 4194304);
  CHECK(big.status == 429);
  CHECK(big.body.find(R"("code":8)") != std::string::npos);
}


TEST_CASE("http: subtrees, chunked answers and the body limit's own answer", "[net][http][gateway]") {
  server::HttpRoutes routes;
  routes.Add("/v3/exact", [](const server::HttpRequest&) { return server::HttpError(418, "exact"); });
  routes.AddSubtree("/v3/", [](const server::HttpRequest& req, server::ResponseWriter& w) {
    server::HttpResponse head;
    w.StartChunked(head);
    w.WriteChunk("a" + req.path);
    w.WriteChunk("bc");
  });
  Recorder s("POST /v3/x HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /v3/exact HTTP/1.1\r\n\r\nGET /v4 HTTP/1.1\r\n\r\n");
  server::ServeHttpConnection(s, routes, {});
  CHECK(s.out.find("Transfer-Encoding: chunked\r\n\r\n6\r\na/v3/x\r\n2\r\nbc\r\n0\r\n\r\n") != std::string::npos);
  CHECK(s.out.find("HTTP/1.1 418") != std::string::npos);
  CHECK(s.out.find("404 page not found") != std::string::npos);
  server::HttpRequest exact;
  exact.method = "GET";
  exact.path = "/v3/exact";
  CHECK(routes.WithoutSubtrees().Serve(exact).status == 418);

  server::HttpLimits limits{10, [](uint64_t n) { return server::GatewayBodyTooLarge(n, 10); }};
  // Refused at the headers, before any of the body is read.
  Recorder big("POST /v3/x HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n");
  server::ServeHttpConnection(big, routes, limits);
  CHECK(big.out.rfind("HTTP/1.1 429", 0) == 0);
  CHECK(big.out.find("larger than max (1000000 vs. 10)") != std::string::npos);
  // A chunked body is counted as it comes.
  Recorder chunked("POST /v3/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n");
  server::ServeHttpConnection(chunked, routes, limits);
  CHECK(chunked.out.rfind("HTTP/1.1 429", 0) == 0);
  // A client waiting for 100 Continue gets it when its body is within the limit.
  Recorder cont("POST /v3/x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  server::ServeHttpConnection(cont, routes, limits);
  CHECK(cont.out == "HTTP/1.1 100 Continue\r\n\r\n");
}
