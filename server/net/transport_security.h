// TransportSecurity: the one place every gRPC listener and channel of a
// member gets its credentials from: the client listeners, the peer
// listener, and every channel one member opens to another (raft messages,
// snapshots, forwarded lease calls).
//
// Today every URL is http:// and every credential is insecure; a URL whose
// scheme this member cannot serve is refused here with a clear error, not
// deep inside gRPC. TLS (etcd's --cert-file/--peer-cert-file family) lands
// behind this same interface, so that no caller changes when it does.
// Thread-safety: immutable after Create; all methods are thread-safe.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "server/net/url.h"

namespace server {

// The certificate settings of one side (client-facing or peer-facing), with
// etcd's flag names. Empty: plain http only.
struct TlsFiles {
  std::string cert_file;        // --cert-file / --peer-cert-file
  std::string key_file;         // --key-file / --peer-key-file
  std::string trusted_ca_file;  // --trusted-ca-file / --peer-trusted-ca-file
  bool client_cert_auth = false;  // --client-cert-auth / --peer-client-cert-auth
  bool empty() const { return cert_file.empty() && key_file.empty() && trusted_ca_file.empty(); }
};

struct SecurityConfig {
  TlsFiles client;
  TlsFiles peer;
};

class TransportSecurity {
 public:
  // Checks the configuration (today: that no certificate is asked for,
  // since TLS is not built yet).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TransportSecurity>> Create(
      const SecurityConfig& cfg);

  // Credentials for a client listener on `url`; an error for a scheme this
  // member cannot serve.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ClientListener(
      const Url& url) const;
  // Credentials for the peer listener on `url`.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> PeerListener(
      const Url& url) const;
  // Credentials for a channel from this member to the peer URL `url`.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> PeerChannel(
      const Url& url) const;

 private:
  explicit TransportSecurity(SecurityConfig cfg) : cfg_(std::move(cfg)) {}
  const SecurityConfig cfg_;
};

}  // namespace server
