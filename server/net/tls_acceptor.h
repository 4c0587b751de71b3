// TlsAcceptor: the server side of TLS for the connections a client port
// serves itself (HTTP/1.1: /version, /health, ...), with the same files and
// checks as the gRPC side: --cert-file/--key-file, --trusted-ca-file with
// --client-cert-auth (a client without a certificate from that CA is
// refused at the handshake), and --client-crl-file through
// CertificatePolicy. The files are re-read when they change (checked at
// most once per reload interval), so rotation reaches HTTP as it reaches
// gRPC; a half-replaced pair keeps the previous one in use. OpenSSL does
// all of the TLS.
// Thread-safety: Handshake may be called from any number of threads.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <openssl/ssl.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/net/tls_protocol.h"
#include "server/net/transport_security.h"

namespace server {

class CertificatePolicy;

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

class TlsAcceptor {
 public:
  // Reads the files once; an error names the file.
  // `protocol`: --cipher-suites and --tls-min-version, as gRPC's side has them.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TlsAcceptor>> Create(const TlsFiles& files,
                                                                           const TlsProtocol& protocol,
                                                                           absl::Duration reload);
  ~TlsAcceptor();

  // Runs the server handshake on the connected socket `fd` (blocking; the
  // caller sets its timeouts). The session reads and writes `fd`; the
  // caller still owns and closes it.
  [[nodiscard]] absl::StatusOr<SslPtr> Handshake(int fd, absl::Time now);

 private:
  struct Context;
  TlsAcceptor(TlsFiles files, TlsProtocol protocol, absl::Duration reload, std::shared_ptr<Context> ctx);
  std::shared_ptr<Context> Current(absl::Time now);

  const TlsFiles files_;
  const TlsProtocol protocol_;
  const absl::Duration reload_;
  std::shared_ptr<CertificatePolicy> policy_;  // null without a CRL
  std::mutex mu_;
  std::shared_ptr<Context> ctx_;  // guarded by mu_
  absl::Time checked_;            // guarded by mu_
};

}  // namespace server
