#include "server/net/protocol_sniff.h"

#include <cstdint>
#include <optional>

namespace server {
namespace {

constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// A bounds-checked reader over the ClientHello; every read past the end
// fails instead of reading garbage.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  std::optional<uint32_t> Int(size_t bytes) {
    if (b_.size() < bytes) return std::nullopt;
    uint32_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(b_[i]);
    b_.remove_prefix(bytes);
    return v;
  }
  std::optional<std::string_view> Bytes(size_t n) {
    if (b_.size() < n) return std::nullopt;
    std::string_view v = b_.substr(0, n);
    b_.remove_prefix(n);
    return v;
  }
  // A vector with a length prefix of `len_bytes` bytes.
  std::optional<std::string_view> Vector(size_t len_bytes) {
    auto n = Int(len_bytes);
    if (!n) return std::nullopt;
    return Bytes(*n);
  }
  bool empty() const { return b_.empty(); }

 private:
  std::string_view b_;
};

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHello = 1;
constexpr uint32_t kAlpnExtension = 16;

// The decision from a ClientHello body's ALPN extension.
SniffResult FromAlpn(std::string_view protocols) {
  Reader r(protocols);
  bool any = false;
  while (!r.empty()) {
    auto name = r.Vector(1);
    if (!name) return SniffResult::kGrpc;  // malformed: let gRPC's TLS refuse it
    any = true;
    if (*name == "http/1.1" || *name == "http/1.0") return SniffResult::kHttp;
  }
  return any ? SniffResult::kGrpc : SniffResult::kHttp;
}

constexpr uint32_t kSupportedVersionsExtension = 43;
constexpr uint32_t kTls13 = 0x0304;

bool ListsTls13(std::string_view body) {
  Reader r(body);
  auto versions = r.Vector(1);
  if (!versions) return false;
  Reader v(*versions);
  while (auto version = v.Int(2)) {
    if (*version == kTls13) return true;
  }
  return false;
}

TlsHello FromClientHello(std::string_view hello) {
  Reader r(hello);
  // legacy_version, random, session id, cipher suites, compression methods.
  if (!r.Int(2) || !r.Bytes(32) || !r.Vector(1) || !r.Vector(2) || !r.Vector(1)) {
    return {SniffResult::kGrpc, false};
  }
  if (r.empty()) return {SniffResult::kHttp, false};  // no extensions: no ALPN, no TLS 1.3
  auto extensions = r.Vector(2);
  if (!extensions) return {SniffResult::kGrpc, false};
  TlsHello out{SniffResult::kHttp, false};
  Reader ext(*extensions);
  while (!ext.empty()) {
    auto type = ext.Int(2);
    auto body = ext.Vector(2);
    if (!type || !body) return {SniffResult::kGrpc, out.offers_tls13};
    if (*type == kAlpnExtension) {
      Reader alpn(*body);
      auto list = alpn.Vector(2);
      out.result = list ? FromAlpn(*list) : SniffResult::kGrpc;
    } else if (*type == kSupportedVersionsExtension) {
      out.offers_tls13 = ListsTls13(*body);
    }
  }
  return out;
}

}  // namespace

SniffResult SniffPlain(std::string_view first_bytes) {
  const size_t n = std::min(first_bytes.size(), kHttp2Preface.size());
  if (first_bytes.substr(0, n) != kHttp2Preface.substr(0, n)) return SniffResult::kHttp;
  return n == kHttp2Preface.size() ? SniffResult::kGrpc : SniffResult::kNeedMore;
}

TlsHello SniffTlsHello(std::string_view first_bytes) {
  if (first_bytes.empty()) return {SniffResult::kNeedMore, false};
  if (static_cast<uint8_t>(first_bytes[0]) != kHandshakeRecord) return {SniffResult::kNotTls, false};
  Reader record(first_bytes);
  record.Int(1);
  auto version = record.Int(2);
  auto length = record.Int(2);
  if (!version || !length) return {SniffResult::kNeedMore, false};
  if ((*version >> 8) != 3) return {SniffResult::kNotTls, false};
  auto fragment = record.Bytes(*length);
  if (!fragment) {
    return {first_bytes.size() >= kSniffMaxBytes ? SniffResult::kGrpc : SniffResult::kNeedMore, false};
  }
  Reader handshake(*fragment);
  auto type = handshake.Int(1);
  auto hello_length = handshake.Int(3);
  if (!type || *type != kClientHello || !hello_length) return {SniffResult::kGrpc, false};
  // A ClientHello split over several records is rare (it would exceed
  // 16 KiB); decide on the part in this record.
  auto hello = handshake.Bytes(*hello_length);
  return FromClientHello(hello ? *hello : fragment->substr(4));
}

SniffResult SniffTls(std::string_view first_bytes) { return SniffTlsHello(first_bytes).result; }

}  // namespace server
