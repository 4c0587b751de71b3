// The HTTP/1.1 side of a client port: requests parsed with http-parser
// (Debian's libhttp-parser, the parser Node.js used for years), routed by
// exact path as Go's ServeMux does for etcd's handlers (/version, /health;
// /metrics and the JSON gateway later), answered with Content-Length on a
// kept-alive connection. One connection is served by one thread, blocking:
// this side carries probes and scrapes, not the data path, which is gRPC.
// Bad input gets 400 and the connection is closed; a request over the
// limits gets 413/431 and is closed; nothing a client sends can crash the
// member.
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

class HttpRoutes {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // `path` is matched exactly.
  void Add(std::string path, Handler handler);
  // The handler's answer, or Go's "404 page not found".
  HttpResponse Serve(const HttpRequest& req) const;

 private:
  std::map<std::string, Handler, std::less<>> handlers_;
};

// Where the bytes of one connection come from and go to (a socket, or a
// TLS session over one).
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // > 0 bytes read; 0 at end of stream or on error (timeout included).
  virtual size_t Read(char* buf, size_t len) = 0;
  virtual bool Write(std::string_view data) = 0;
};

struct HttpLimits {
  size_t max_body_bytes = 4 << 20;
};

// Serves requests from `stream` until the client closes, asks to close,
// errs, or the stream times out. `initial` holds bytes already read from it.
void ServeHttpConnection(ByteStream& stream, const HttpRoutes& routes, const HttpLimits& limits);

// The whole response as it goes on the wire. Public for tests.
std::string SerializeResponse(const HttpResponse& resp, bool keep_alive, bool head_only);

}  // namespace server
