#include "server/net/http_server.h"

#include <http_parser.h>

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace server {
namespace {

const char* StatusText(int status) {
  const char* s = http_status_str(static_cast<http_status>(status));
  return s != nullptr ? s : "Unknown";
}

// Parser state of one connection: the request being read, and whether a
// whole one is ready.
struct Parse {
  HttpRequest req;
  std::string url;
  std::string field;
  bool in_value = false;
  bool complete = false;
  bool too_large = false;
  bool expect_continue = false;  // the client waits for "100 Continue" before its body
  uint64_t body_bytes = 0;       // announced (Content-Length) or counted so far
  size_t max_body = 0;
};

Parse& StateOf(http_parser* p) { return *static_cast<Parse*>(p->data); }

int OnUrl(http_parser* p, const char* at, size_t len) {
  StateOf(p).url.append(at, len);
  return 0;
}
int OnHeaderField(http_parser* p, const char* at, size_t len) {
  Parse& s = StateOf(p);
  if (s.in_value || s.req.headers.empty()) {
    s.req.headers.emplace_back();
    s.in_value = false;
  }
  s.req.headers.back().first.append(at, len);
  return 0;
}
int OnHeaderValue(http_parser* p, const char* at, size_t len) {
  Parse& s = StateOf(p);
  if (s.req.headers.empty()) return 1;
  s.in_value = true;
  s.req.headers.back().second.append(at, len);
  return 0;
}
// A body announced over the limit is refused before any of it is read.
int OnHeadersComplete(http_parser* p) {
  Parse& s = StateOf(p);
  if ((p->flags & F_CONTENTLENGTH) != 0 && p->content_length > s.max_body) {
    s.too_large = true;
    s.body_bytes = p->content_length;
    return -1;  // http_parser's "error" from on_headers_complete
  }
  for (const auto& [k, v] : s.req.headers) {
    if (absl::EqualsIgnoreCase(k, "Expect") && absl::EqualsIgnoreCase(v, "100-continue")) s.expect_continue = true;
  }
  return 0;
}
int OnBody(http_parser* p, const char* at, size_t len) {
  Parse& s = StateOf(p);
  if (s.req.body.size() + len > s.max_body) {
    s.too_large = true;
    s.body_bytes = s.req.body.size() + len;
    return 1;
  }
  s.req.body.append(at, len);
  return 0;
}
int OnMessageComplete(http_parser* p) {
  Parse& s = StateOf(p);
  s.complete = true;
  s.req.method = http_method_str(static_cast<http_method>(p->method));
  const size_t q = s.url.find('?');
  s.req.path = s.url.substr(0, q);
  s.req.query = q == std::string::npos ? "" : s.url.substr(q + 1);
  // One request at a time: the next one's bytes wait in the buffer.
  http_parser_pause(p, 1);
  return 0;
}

http_parser_settings Settings() {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_url = OnUrl;
  s.on_header_field = OnHeaderField;
  s.on_header_value = OnHeaderValue;
  s.on_headers_complete = OnHeadersComplete;
  s.on_body = OnBody;
  s.on_message_complete = OnMessageComplete;
  return s;
}

}  // namespace

std::vector<std::string> HttpRequest::QueryValues(std::string_view name) const {
  std::vector<std::string> out;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.first == absl::string_view(name.data(), name.size())) out.emplace_back(kv.second);
  }
  return out;
}

HttpResponse HttpError(int status, std::string text) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(text) + "\n";
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

void HttpRoutes::Add(std::string path, Handler handler) { handlers_[std::move(path)] = std::move(handler); }

void HttpRoutes::AddSubtree(std::string prefix, StreamHandler handler) {
  subtrees_[std::move(prefix)] = std::move(handler);
}

HttpRoutes HttpRoutes::WithoutSubtrees() const {
  HttpRoutes copy;
  copy.handlers_ = handlers_;
  return copy;
}

HttpResponse HttpRoutes::Serve(const HttpRequest& req) const {
  auto it = handlers_.find(req.path);
  if (it == handlers_.end()) return HttpError(404, "404 page not found");
  return it->second(req);
}

void HttpRoutes::Dispatch(const HttpRequest& req, ResponseWriter& w) const {
  if (auto it = handlers_.find(req.path); it != handlers_.end()) return w.Send(it->second(req));
  for (const auto& [prefix, handler] : subtrees_) {  // longest matching prefix first
    if (absl::StartsWith(req.path, prefix)) return handler(req, w);
  }
  w.Send(HttpError(404, "404 page not found"));
}

std::string SerializeResponse(const HttpResponse& resp, bool keep_alive, bool head_only) {
  std::string out = absl::StrCat("HTTP/1.1 ", resp.status, " ", StatusText(resp.status), "\r\n");
  if (!resp.content_type.empty()) absl::StrAppend(&out, "Content-Type: ", resp.content_type, "\r\n");
  for (const auto& [k, v] : resp.headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
  absl::StrAppend(&out, "Content-Length: ", resp.body.size(), "\r\n");
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head_only) out += resp.body;
  return out;
}

namespace {

// The ResponseWriter of one request on a connection.
class ConnectionWriter final : public ResponseWriter {
 public:
  ConnectionWriter(ByteStream& stream, bool keep_alive, bool head_only)
      : stream_(stream), keep_alive_(keep_alive), head_only_(head_only) {}

  void Send(HttpResponse resp) override {
    if (answered_) return;
    answered_ = true;
    ok_ = stream_.Write(SerializeResponse(resp, keep_alive_, head_only_));
  }
  bool StartChunked(const HttpResponse& head) override {
    if (answered_) return false;
    answered_ = chunked_ = true;
    std::string out = absl::StrCat("HTTP/1.1 ", head.status, " ", StatusText(head.status), "\r\n");
    if (!head.content_type.empty()) absl::StrAppend(&out, "Content-Type: ", head.content_type, "\r\n");
    for (const auto& [k, v] : head.headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
    out += "Transfer-Encoding: chunked\r\n";
    if (!keep_alive_) out += "Connection: close\r\n";
    out += "\r\n";
    ok_ = stream_.Write(out);
    return ok_;
  }
  bool WriteChunk(std::string_view data) override {
    if (!chunked_ || !ok_) return false;
    if (data.empty()) return true;  // an empty chunk would end the body
    ok_ = stream_.Write(absl::StrCat(absl::Hex(data.size()), "\r\n", absl::string_view(data.data(), data.size()), "\r\n"));
    return ok_;
  }
  bool ClientGone() override { return !ok_ || stream_.PeerClosed(); }

  // Ends the answer; false: the connection must close.
  bool Finish() {
    if (!answered_) Send(HttpError(500, "no response"));
    if (chunked_ && ok_) ok_ = stream_.Write("0\r\n\r\n");
    return ok_ && keep_alive_;
  }

 private:
  ByteStream& stream_;
  const bool keep_alive_;
  const bool head_only_;
  bool answered_ = false;
  bool chunked_ = false;
  bool ok_ = true;
};

// Answers a request over the limits and reads (without keeping) a bounded
// part of what the client still sends, so that closing does not reset the
// connection under the answer before the client has read it.
void RefuseTooLarge(ByteStream& stream, const Parse& state, const HttpLimits& limits) {
  HttpResponse resp = limits.too_large ? limits.too_large(state.body_bytes)
                                       : HttpError(413, "request body too large");
  if (!stream.Write(SerializeResponse(resp, false, false))) return;
  std::array<char, 16384> sink;
  for (size_t drained = 0; drained < (1u << 20);) {
    const size_t n = stream.Read(sink.data(), sink.size());
    if (n == 0) return;
    drained += n;
  }
}

}  // namespace

void ServeHttpConnection(ByteStream& stream, const HttpRoutes& routes, const HttpLimits& limits) {
  const http_parser_settings settings = Settings();
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  Parse state;
  state.max_body = limits.max_body_bytes;
  parser.data = &state;
  std::array<char, 16384> buf;
  std::string pending;  // bytes read but not yet parsed (pipelined requests)
  bool continued = false;  // "100 Continue" sent for the request being read
  for (;;) {
    if (pending.empty()) {
      const size_t n = stream.Read(buf.data(), buf.size());
      if (n == 0) return;
      pending.assign(buf.data(), n);
    }
    const size_t used = http_parser_execute(&parser, &settings, pending.data(), pending.size());
    const auto err = HTTP_PARSER_ERRNO(&parser);
    if (state.too_large) return RefuseTooLarge(stream, state, limits);
    if (err != HPE_OK && err != HPE_PAUSED) {
      HttpResponse bad = err == HPE_HEADER_OVERFLOW ? HttpError(431, "request header too large")
                                                    : HttpError(400, "Bad Request");
      (void)stream.Write(SerializeResponse(bad, false, false));  // closing anyway
      return;
    }
    pending.erase(0, used);
    if (!state.complete) {
      if (state.expect_continue && !continued) {
        continued = true;
        if (!stream.Write("HTTP/1.1 100 Continue\r\n\r\n")) return;
      }
      continue;
    }
    ConnectionWriter writer(stream, http_should_keep_alive(&parser) != 0, state.req.method == "HEAD");
    stream.DescribeClient(state.req);
    routes.Dispatch(state.req, writer);
    if (!writer.Finish()) return;
    state = Parse{};
    state.max_body = limits.max_body_bytes;
    continued = false;
    http_parser_pause(&parser, 0);
  }
}

}  // namespace server
