// TransportSecurity: the one place every gRPC listener and channel of a
// member gets its credentials from: the client listeners, the peer
// listener, and every channel one member opens to another (raft messages,
// snapshots, forwarded lease calls).
//
// http:// URLs are served and dialed in plaintext; https:// URLs with TLS
// from etcd's certificate flags (--cert-file, --key-file, --trusted-ca-file,
// --client-cert-auth, and their --peer-* twins). Create() checks every file
// once (readable, a key that matches its certificate, a CA file holding a
// certificate) and every https URL against the side's certificates, so a
// bad configuration stops the member before it touches its data dir.
//
// Rotation: certificates are read through gRPC's file-watching provider,
// so files replaced on disk are used by new handshakes within
// `reload_interval` (etcd re-reads them per handshake); open connections
// are not cut. Replace the key and certificate together (rename a
// directory or a symlink), as a half-replaced pair is not loaded.
// Thread-safety: immutable after Create; all methods are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "server/net/tls_protocol.h"
#include "server/net/url.h"

namespace server {

class TlsAcceptor;

// The certificate settings of one side (client-facing or peer-facing), with
// etcd's flag names. Empty: plain http only.
struct TlsFiles {
  std::string cert_file;          // --cert-file / --peer-cert-file
  std::string key_file;           // --key-file / --peer-key-file
  std::string trusted_ca_file;    // --trusted-ca-file / --peer-trusted-ca-file
  bool client_cert_auth = false;  // --client-cert-auth / --peer-client-cert-auth
  std::string crl_file;           // --client-crl-file / --peer-crl-file
  // The pair was made by --auto-tls / --peer-auto-tls (server/net/self_signed.h):
  // as etcd, a member dialing with it does not verify the certificate of
  // the other side, which is self-signed too.
  bool self_signed = false;
  bool empty() const {
    return cert_file.empty() && key_file.empty() && trusted_ca_file.empty() && crl_file.empty();
  }
};

struct SecurityConfig {
  TlsFiles client;
  TlsFiles peer;
  // The URLs this member listens on: each https one needs its side's
  // certificate and key.
  std::vector<Url> client_listen_urls;
  std::vector<Url> peer_listen_urls;
  // --peer-cert-allowed-cn, --peer-cert-allowed-hostname: what a dialing
  // member's certificate must name.
  std::string peer_allowed_cn;
  std::string peer_allowed_hostname;
  absl::Duration reload_interval = absl::Seconds(1);
  // --cipher-suites and --tls-min-version (tls_protocol.h), for both sides.
  TlsProtocol protocol;
};

class TransportSecurity {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TransportSecurity>> Create(
      const SecurityConfig& cfg);
  // The checks Create makes, alone: for a caller that has more to do (and
  // to write) before it can Create.
  [[nodiscard]] static absl::Status Check(const SecurityConfig& cfg);

  // Credentials for a client listener on `url`.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ClientListener(
      const Url& url) const;
  // The TLS server side for the HTTP connections of the https client URLs
  // (the same files and checks as ClientListener's).
  [[nodiscard]] absl::StatusOr<std::unique_ptr<TlsAcceptor>> ClientHttps() const;
  const TlsProtocol& protocol() const { return cfg_.protocol; }
  // Credentials for the peer listener on `url`.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> PeerListener(
      const Url& url) const;
  // Credentials for a channel from this member to the peer URL `url`: for
  // https, this member's peer certificate (if any) and verification of the
  // other side against --peer-trusted-ca-file and the URL's host; none
  // with a self-signed peer pair (--peer-auto-tls).
  [[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> PeerChannel(
      const Url& url) const;

 private:
  using Provider = grpc::experimental::CertificateProviderInterface;
  struct Side {
    TlsFiles files;
    // The certificate and key, and the CA, as files watched for rotation;
    // null when the side has neither.
    std::shared_ptr<Provider> provider;
    const char* name;                    // "client" / "peer", for messages
    // Checks of the other side's certificate beyond its chain; null: none.
    std::shared_ptr<grpc::experimental::CertificateVerifier> policy;
  };
  explicit TransportSecurity(SecurityConfig cfg);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Listener(const Side& side,
                                                                    const Url& url) const;

  const SecurityConfig cfg_;
  Side client_;
  Side peer_;
};

}  // namespace server
