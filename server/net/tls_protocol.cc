#include "server/net/tls_protocol.h"

#include <openssl/ssl.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace server {
namespace {

// The OpenSSL name of the suite whose IANA name is `iana`; "" if OpenSSL
// does not know it. `tls13` tells whether it is a TLS 1.3 suite.
std::string OpenSslName(const std::string& iana, bool& tls13) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), &SSL_CTX_free);
  if (!ctx || SSL_CTX_set_cipher_list(ctx.get(), "ALL:COMPLEMENTOFALL") != 1) return "";
  STACK_OF(SSL_CIPHER)* all = SSL_CTX_get_ciphers(ctx.get());
  for (int i = 0; i < sk_SSL_CIPHER_num(all); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(all, i);
    const char* standard = SSL_CIPHER_standard_name(c);
    if (standard != nullptr && iana == standard) {
      tls13 = std::string(SSL_CIPHER_get_version(c)) == "TLSv1.3";
      return SSL_CIPHER_get_name(c);
    }
  }
  return "";
}

// 12 or 13 for "TLS1.2"/"TLS1.3", 10/11 for the older ones, 0 if unknown.
int VersionNumber(const std::string& v) {
  if (v == "TLS1.0") return 10;
  if (v == "TLS1.1") return 11;
  if (v == "TLS1.2") return 12;
  if (v == "TLS1.3") return 13;
  return 0;
}

}  // namespace

absl::StatusOr<TlsProtocol> ParseTlsProtocol(const std::vector<std::string>& cipher_suites,
                                             const std::string& min_version,
                                             const std::string& max_version) {
  const int min = min_version.empty() ? 12 : VersionNumber(min_version);
  const int max = max_version.empty() ? 13 : VersionNumber(max_version);
  for (const auto& [flag, value, number] :
       {std::tuple{"--tls-min-version", min_version, min}, {"--tls-max-version", max_version, max}}) {
    if (number == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": unexpected TLS version \"", value, "\" (must be one of: TLS1.2, TLS1.3)"));
    }
  }
  if (min < 12) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-min-version ", min_version, ": ketcd serves TLS1.2 and TLS1.3 only"));
  }
  if (max < 13) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls-max-version ", max_version,
        ": not supported: ketcd's gRPC negotiates TLS1.3 with every client that offers it"));
  }
  TlsProtocol out;
  out.tls13_only = min == 13;
  if (out.tls13_only && !cipher_suites.empty()) {
    return absl::InvalidArgumentError(
        "--cipher-suites: cipher suites cannot be configured when only TLS1.3 or greater is supported");
  }
  std::vector<std::string> names;
  for (const std::string& suite : cipher_suites) {
    bool tls13 = false;
    std::string name = OpenSslName(suite, tls13);
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cipher-suites: unexpected TLS cipher suite \"", suite, "\""));
    }
    if (!tls13) names.push_back(std::move(name));
  }
  out.openssl_cipher_list = absl::StrJoin(names, ":");
  return out;
}

}  // namespace server
