// Which protocol a new client connection speaks, from the first bytes it
// sent, so that one client port serves gRPC and HTTP/1.1 as etcd's cmux
// does. Pure functions of the bytes; no I/O.
//
// Plain ports: a connection that opens with the HTTP/2 preface is gRPC;
// anything else is HTTP/1.x.
// TLS ports: the bytes are the client's first TLS record, normally the
// whole ClientHello. Its ALPN list decides: a client that offers
// "http/1.1" (curl, Go's net/http as kubeadm and Prometheus use it) or no
// ALPN at all is served HTTP/1.1; one that offers only HTTP/2-like
// protocols ("h2", gRPC's "grpc-exp") is a gRPC client. A record that is
// not a TLS handshake is a plaintext client on a TLS port.
#pragma once

#include <cstddef>
#include <string_view>

namespace server {

enum class SniffResult {
  kNeedMore,       // not decided yet: read more bytes
  kGrpc,           // hand the connection to gRPC
  kHttp,           // serve it as HTTP/1.x
  kNotTls,         // TLS port, but the client did not start a TLS handshake
};

// Bytes worth peeking before deciding: one whole TLS record.
inline constexpr size_t kSniffMaxBytes = 5 + 16384;

[[nodiscard]] SniffResult SniffPlain(std::string_view first_bytes);
[[nodiscard]] SniffResult SniffTls(std::string_view first_bytes);

// SniffTls, and whether the ClientHello offers TLS 1.3 (its
// supported_versions extension lists 0x0304): what --tls-min-version TLS1.3
// checks before a connection reaches gRPC.
struct TlsHello {
  SniffResult result;
  bool offers_tls13;
};
[[nodiscard]] TlsHello SniffTlsHello(std::string_view first_bytes);

}  // namespace server
