// CertificatePolicy: the checks a member makes of the other side's
// certificate after gRPC has verified its chain against the trusted CA:
//  - not revoked: its serial is not in the CRL of --client-crl-file /
//    --peer-crl-file (issued by the certificate's issuer), re-read when the
//    file changes, so a revocation takes effect on the next handshake;
//  - peer listener only: its common name is --peer-cert-allowed-cn, and/or
//    its DNS or IP SANs include --peer-cert-allowed-hostname, as etcd checks
//    a dialing member's certificate;
//  - dialers: the certificate covers the host dialed (gRPC's own hostname
//    check, which a custom verifier would otherwise replace).
// A refused handshake never reaches a service. CRL parsing is OpenSSL's.
// Thread-safety: Verify runs on gRPC's threads; all state is guarded.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/security/tls_certificate_verifier.h"

namespace server {

struct CertificatePolicyOptions {
  std::string crl_file;          // empty: no revocation check
  std::string allowed_cn;        // empty: any common name
  std::string allowed_hostname;  // empty: any names
  bool verify_target_host = false;  // a dialer's check of the host it dialed
  bool empty() const {
    return crl_file.empty() && allowed_cn.empty() && allowed_hostname.empty() && !verify_target_host;
  }
};

class CertificatePolicy final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  // The gRPC verifier object to put into TlsCredentialsOptions.
  static std::shared_ptr<grpc::experimental::CertificateVerifier> Create(
      CertificatePolicyOptions opts);

  // Why `cert_pem` is refused, or OK. Public for tests.
  [[nodiscard]] absl::Status Check(const std::string& cert_pem, const std::string& common_name,
                                   const std::vector<std::string>& names);

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> callback, grpc::Status* sync_status) override;
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

  explicit CertificatePolicy(CertificatePolicyOptions opts);
  ~CertificatePolicy() override;

 private:
  struct Crl;
  [[nodiscard]] absl::Status CheckRevoked(const std::string& cert_pem);

  const CertificatePolicyOptions opts_;
  std::shared_ptr<grpc::experimental::CertificateVerifier> hostname_;  // verify_target_host
  std::mutex mu_;
  std::unique_ptr<Crl> crl_;  // guarded by mu_; loaded on first use, reloaded on change
};

}  // namespace server
