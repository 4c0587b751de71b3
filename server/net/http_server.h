// The HTTP/1.1 side of a client port: requests parsed with http-parser
// (Debian's libhttp-parser, the parser Node.js used for years), routed by
// exact path as Go's ServeMux does for etcd's handlers (/version, /health,
// /metrics), or by path prefix (a "subtree", the JSON gateway's /v3/),
// answered with Content-Length, or in chunks for a stream (a watch), on a
// kept-alive connection. One connection is served by one thread, blocking:
// this side carries probes, scrapes and the JSON gateway, not the data
// path, which is gRPC. Bad input gets 400 and the connection is closed; a
// request over the limits gets 413/431 (or the limits' own answer) and is
// closed, its body refused before it is read whole; nothing a client sends
// can crash the member.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace server {

struct HttpRequest {
  std::string method;  // "GET"
  std::string path;    // "/health"
  std::string query;   // "exclude=NOSPACE", without '?'
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Whether the request came over TLS, and the common name of the client
  // certificate the handshake verified (--client-cert-auth), if any.
  bool tls = false;
  std::string verified_client_cn;
  // All values of the query parameter `name` (no percent-decoding needed
  // by the handlers served here).
  std::vector<std::string> QueryValues(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Go's http.Error: the text, a newline, text/plain, nosniff.
HttpResponse HttpError(int status, std::string text);

// How a handler answers one request: either Send() once, or StartChunked()
// once and then WriteChunk() for each part (the connection writes the last,
// empty chunk when the handler returns).
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void Send(HttpResponse resp) = 0;
  // `head`'s status, type and headers start a Transfer-Encoding: chunked
  // answer; its body is ignored. False once the client is gone.
  virtual bool StartChunked(const HttpResponse& head) = 0;
  virtual bool WriteChunk(std::string_view data) = 0;
  // True once the client closed the connection (or it broke): a handler
  // that waits polls this to stop the work it waits for.
  virtual bool ClientGone() = 0;
};

class HttpRoutes {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  using StreamHandler = std::function<void(const HttpRequest&, ResponseWriter&)>;
  // `path` is matched exactly.
  void Add(std::string path, Handler handler);
  // Every path that starts with `prefix` (which ends in '/') and has no
  // exact route, as Go's ServeMux subtree patterns; the longest prefix wins.
  void AddSubtree(std::string prefix, StreamHandler handler);
  // A copy with the exact routes only (a metrics port's: no gateway).
  HttpRoutes WithoutSubtrees() const;
  // The exact route's answer, or Go's "404 page not found" (for tests and
  // simple callers; subtrees are not consulted).
  HttpResponse Serve(const HttpRequest& req) const;
  // Routes `req` to its exact route or subtree and answers through `w`.
  void Dispatch(const HttpRequest& req, ResponseWriter& w) const;

 private:
  std::map<std::string, Handler, std::less<>> handlers_;
  std::map<std::string, StreamHandler, std::greater<>> subtrees_;  // longest first among equal prefixes
};

// Where the bytes of one connection come from and go to (a socket, or a
// TLS session over one).
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // > 0 bytes read; 0 at end of stream or on error (timeout included).
  virtual size_t Read(char* buf, size_t len) = 0;
  virtual bool Write(std::string_view data) = 0;
  // True when the peer has closed its side or the connection broke; never
  // blocks. The default knows nothing and says false.
  virtual bool PeerClosed() { return false; }
  // Fills what the connection knows of its client into each request
  // (HttpRequest::tls, verified_client_cn). The default: a plain connection.
  virtual void DescribeClient(HttpRequest& /*req*/) const {}
};

struct HttpLimits {
  size_t max_body_bytes = 4 << 20;
  // The answer to a body over max_body_bytes (its announced or counted
  // size given); null: 413 "request body too large".
  std::function<HttpResponse(uint64_t body_bytes)> too_large;
};

// Serves requests from `stream` until the client closes, asks to close,
// errs, or the stream times out. `initial` holds bytes already read from it.
void ServeHttpConnection(ByteStream& stream, const HttpRoutes& routes, const HttpLimits& limits);

// The whole response as it goes on the wire. Public for tests.
std::string SerializeResponse(const HttpResponse& resp, bool keep_alive, bool head_only);

}  // namespace server
