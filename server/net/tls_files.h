// Reading the certificate files a member is given, with OpenSSL (nothing
// here is hand-rolled crypto): the checks made once at start, so that a
// missing file, a key that does not belong to its certificate, or a CA or
// CRL file with nothing usable in it stops the member with an error naming
// the flag and the file -- before anything is written to the data dir and
// before gRPC would fail on it later, per handshake, with a vaguer message --
// and the parsers the certificate policy uses per handshake.
#pragma once

#include <memory>
#include <string>

#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace server {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct X509CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using X509CrlPtr = std::unique_ptr<X509_CRL, X509CrlFree>;

// The whole file; an error names `flag` and `file` and why.
[[nodiscard]] absl::StatusOr<std::string> ReadTlsFile(const std::string& flag, const std::string& file);
// The first PEM certificate in `pem`, or null.
X509Ptr ParseCertificate(const std::string& pem);
// A CRL in PEM or DER, or null.
X509CrlPtr ParseCrl(const std::string& data);

// `cert_flag`/`key_flag` name the flags for the messages ("--cert-file").
[[nodiscard]] absl::Status CheckKeyPair(const std::string& cert_flag, const std::string& cert_file,
                                        const std::string& key_flag, const std::string& key_file);
// A PEM bundle with at least one certificate.
[[nodiscard]] absl::Status CheckCaFile(const std::string& flag, const std::string& file);
// A certificate revocation list, PEM or DER.
[[nodiscard]] absl::Status CheckCrlFile(const std::string& flag, const std::string& file);

}  // namespace server
