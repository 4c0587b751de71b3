#include "server/net/certificate_policy.h"

#include <sys/stat.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/net/tls_files.h"

namespace server {
namespace {

// The file's change time and size: a replaced CRL differs in one of them.
std::pair<int64_t, int64_t> FileStamp(const std::string& file) {
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) return {-1, -1};
  return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_size)};
}

}  // namespace

struct CertificatePolicy::Crl {
  X509CrlPtr list;
  std::pair<int64_t, int64_t> stamp;
};

std::shared_ptr<grpc::experimental::CertificateVerifier> CertificatePolicy::Create(
    CertificatePolicyOptions opts) {
  return grpc::experimental::ExternalCertificateVerifier::Create<CertificatePolicy>(std::move(opts));
}

CertificatePolicy::CertificatePolicy(CertificatePolicyOptions opts) : opts_(std::move(opts)) {
  if (opts_.verify_target_host) {
    hostname_ = std::make_shared<grpc::experimental::HostNameCertificateVerifier>();
  }
}

CertificatePolicy::~CertificatePolicy() = default;

absl::Status CertificatePolicy::CheckRevoked(const std::string& cert_pem) {
  X509Ptr cert = ParseCertificate(cert_pem);
  if (!cert) {
    return absl::PermissionDeniedError("the peer's certificate cannot be read");
  }
  std::lock_guard<std::mutex> lock(mu_);
  const auto stamp = FileStamp(opts_.crl_file);
  if (!crl_ || crl_->stamp != stamp) {
    auto data = ReadTlsFile("--crl-file", opts_.crl_file);
    X509CrlPtr loaded = data.ok() ? ParseCrl(*data) : nullptr;
    // An unreadable replacement keeps the last good list rather than
    // letting every certificate through.
    if (loaded) crl_.reset(new Crl{std::move(loaded), stamp});
    if (!crl_) return absl::PermissionDeniedError("the certificate revocation list cannot be read");
  }
  X509_REVOKED* entry = nullptr;
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl_->list.get()), X509_get_issuer_name(cert.get())) == 0 &&
      X509_CRL_get0_by_cert(crl_->list.get(), &entry, cert.get()) == 1) {
    return absl::PermissionDeniedError("the peer's certificate is revoked");
  }
  return absl::OkStatus();
}

absl::Status CertificatePolicy::Check(const std::string& cert_pem, const std::string& common_name,
                                      const std::vector<std::string>& names) {
  if (!opts_.allowed_cn.empty() && common_name != opts_.allowed_cn) {
    return absl::PermissionDeniedError(
        absl::StrCat("certificate common name \"", common_name, "\" is not ", opts_.allowed_cn));
  }
  if (!opts_.allowed_hostname.empty() &&
      std::find(names.begin(), names.end(), opts_.allowed_hostname) == names.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("certificate is not valid for ", opts_.allowed_hostname));
  }
  if (!opts_.crl_file.empty()) return CheckRevoked(cert_pem);
  return absl::OkStatus();
}

bool CertificatePolicy::Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
                               std::function<void(grpc::Status)> callback,
                               grpc::Status* sync_status) {
  if (hostname_) {
    // gRPC's hostname check runs synchronously; a failure ends here.
    grpc::Status host_status;
    const bool sync = hostname_->Verify(request, [](grpc::Status) {}, &host_status);
    if (!sync || !host_status.ok()) {
      *sync_status = sync ? host_status
                          : grpc::Status(grpc::StatusCode::INTERNAL, "hostname check did not complete");
      return true;
    }
  }
  std::vector<std::string> names;
  for (const auto& n : request->dns_names()) names.emplace_back(n.data(), n.size());
  for (const auto& n : request->ip_names()) names.emplace_back(n.data(), n.size());
  const auto cert = request->peer_cert();
  const auto cn = request->common_name();
  absl::Status s = Check(std::string(cert.data(), cert.size()), std::string(cn.data(), cn.size()), names);
  *sync_status = s.ok() ? grpc::Status::OK
                        : grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(s.message()));
  return true;
}

}  // namespace server
