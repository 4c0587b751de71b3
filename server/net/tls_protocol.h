// etcd's --cipher-suites, --tls-min-version and --tls-max-version, checked
// once at start and turned into what OpenSSL takes. Cipher suites are named
// as etcd (Go) names them, by their IANA names
// ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"); OpenSSL's own table maps them
// (SSL_CIPHER_standard_name), nothing is listed here. As in Go, the list
// orders and limits the TLS 1.2 suites; TLS 1.3's are not configurable and
// a TLS 1.3 name is accepted and has no effect.
//
// ketcd serves TLS 1.2 and 1.3 (gRPC's range); a minimum of TLS1.3 is
// enforced on every client port (for gRPC by the ClientHello, for HTTP by
// OpenSSL). A maximum below TLS1.3 cannot be enforced on gRPC connections
// and is refused at start rather than ignored.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace server {

struct TlsProtocol {
  // OpenSSL cipher list ("ECDHE-RSA-AES128-GCM-SHA256:..."); empty: the
  // library's default.
  std::string openssl_cipher_list;
  bool tls13_only = false;  // --tls-min-version TLS1.3
};

[[nodiscard]] absl::StatusOr<TlsProtocol> ParseTlsProtocol(const std::vector<std::string>& cipher_suites,
                                                           const std::string& min_version,
                                                           const std::string& max_version);

}  // namespace server
