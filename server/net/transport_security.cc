#include "server/net/transport_security.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "server/net/certificate_policy.h"
#include "server/net/tls_acceptor.h"
#include "server/net/tls_files.h"

namespace server {
namespace {

struct FlagNames {
  const char* cert;
  const char* key;
  const char* ca;
  const char* cert_auth;
  const char* listen;
  const char* crl;
};
constexpr FlagNames kClientFlags{"--cert-file", "--key-file", "--trusted-ca-file", "--client-cert-auth",
                                 "--listen-client-urls", "--client-crl-file"};
constexpr FlagNames kPeerFlags{"--peer-cert-file", "--peer-key-file", "--peer-trusted-ca-file",
                               "--peer-client-cert-auth", "--listen-peer-urls", "--peer-crl-file"};

absl::Status CheckSide(const TlsFiles& f, const FlagNames& flags, const std::vector<Url>& listen) {
  if (f.cert_file.empty() != f.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flags.cert, " and ", flags.key, " must be given together"));
  }
  if (!f.cert_file.empty()) {
    if (auto s = CheckKeyPair(flags.cert, f.cert_file, flags.key, f.key_file); !s.ok()) return s;
  }
  if (!f.trusted_ca_file.empty()) {
    if (auto s = CheckCaFile(flags.ca, f.trusted_ca_file); !s.ok()) return s;
  }
  if (!f.crl_file.empty()) {
    if (auto s = CheckCrlFile(flags.crl, f.crl_file); !s.ok()) return s;
  }
  if (f.client_cert_auth && f.trusted_ca_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flags.cert_auth, " needs ", flags.ca));
  }
  for (const Url& u : listen) {
    if (u.scheme == "https" && f.cert_file.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(flags.listen, " ", u.raw, ": https needs ",
                                                     flags.cert, " and ", flags.key));
    }
  }
  return absl::OkStatus();
}

unsigned ReloadSeconds(absl::Duration d) {
  return static_cast<unsigned>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
}

}  // namespace

TransportSecurity::TransportSecurity(SecurityConfig cfg) : cfg_(std::move(cfg)) {
  const unsigned reload = ReloadSeconds(cfg_.reload_interval);
  auto provider = [reload](const TlsFiles& f) -> std::shared_ptr<Provider> {
    if (!f.cert_file.empty()) {
      return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          f.key_file, f.cert_file, f.trusted_ca_file, reload);
    }
    if (!f.trusted_ca_file.empty()) {
      // A dialer may trust a CA without a certificate of its own.
      return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(f.trusted_ca_file,
                                                                                  reload);
    }
    return nullptr;
  };
  auto policy = [](CertificatePolicyOptions o) -> std::shared_ptr<grpc::experimental::CertificateVerifier> {
    if (o.empty()) return nullptr;
    return CertificatePolicy::Create(std::move(o));
  };
  client_ = Side{cfg_.client, provider(cfg_.client), "client",
                 policy(CertificatePolicyOptions{cfg_.client.crl_file, "", ""})};
  peer_ = Side{cfg_.peer, provider(cfg_.peer), "peer",
               policy(CertificatePolicyOptions{cfg_.peer.crl_file, cfg_.peer_allowed_cn,
                                               cfg_.peer_allowed_hostname})};
}

absl::Status TransportSecurity::Check(const SecurityConfig& cfg) {
  if (auto s = CheckSide(cfg.client, kClientFlags, cfg.client_listen_urls); !s.ok()) return s;
  return CheckSide(cfg.peer, kPeerFlags, cfg.peer_listen_urls);
}

absl::StatusOr<std::unique_ptr<TransportSecurity>> TransportSecurity::Create(
    const SecurityConfig& cfg) {
  if (auto s = Check(cfg); !s.ok()) return s;
  return std::unique_ptr<TransportSecurity>(new TransportSecurity(cfg));
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TransportSecurity::Listener(
    const Side& side, const Url& url) const {
  if (url.scheme == "http") return grpc::InsecureServerCredentials();
  if (url.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat(side.name, " URL ", url.raw, ": scheme ", url.scheme, " cannot be served"));
  }
  if (side.files.cert_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(side.name, " URL ", url.raw, ": https needs a certificate and key"));
  }
  grpc::experimental::TlsServerCredentialsOptions opts(side.provider);
  opts.watch_identity_key_cert_pairs();
  if (side.files.client_cert_auth) {
    opts.watch_root_certs();
    opts.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    opts.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  if (side.policy) opts.set_certificate_verifier(side.policy);
  return grpc::experimental::TlsServerCredentials(opts);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TransportSecurity::ClientListener(
    const Url& url) const {
  return Listener(client_, url);
}

absl::StatusOr<std::unique_ptr<TlsAcceptor>> TransportSecurity::ClientHttps() const {
  if (client_.files.cert_file.empty()) {
    return absl::InvalidArgumentError("https client URLs need --cert-file and --key-file");
  }
  return TlsAcceptor::Create(client_.files, cfg_.protocol, cfg_.reload_interval);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TransportSecurity::PeerListener(
    const Url& url) const {
  return Listener(peer_, url);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> TransportSecurity::PeerChannel(
    const Url& url) const {
  if (url.scheme == "http") return grpc::InsecureChannelCredentials();
  if (url.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("peer URL ", url.raw, ": scheme ", url.scheme, " cannot be dialed"));
  }
  grpc::experimental::TlsChannelCredentialsOptions opts;
  if (peer_.files.self_signed) {
    // etcd's InsecureSkipVerify for --peer-auto-tls: every member's
    // certificate is its own, so there is nothing to verify it against.
    opts.set_certificate_provider(peer_.provider);
    opts.watch_identity_key_cert_pairs();
    opts.set_verify_server_certs(false);
    opts.set_check_call_host(false);
    opts.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
    return grpc::experimental::TlsCredentials(opts);
  }
  if (peer_.provider) {
    opts.set_certificate_provider(peer_.provider);
    if (!peer_.files.cert_file.empty()) opts.watch_identity_key_cert_pairs();
    // Without --peer-trusted-ca-file the system's roots verify the peer.
    if (!peer_.files.trusted_ca_file.empty()) opts.watch_root_certs();
  }
  opts.set_verify_server_certs(true);
  opts.set_certificate_verifier(std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  return grpc::experimental::TlsCredentials(opts);
}

}  // namespace server
