#include "server/net/transport_security.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace server {
namespace {

absl::Status CheckPlain(const Url& url, absl::string_view side) {
  if (url.scheme == "http") return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      side, " URL ", url.raw, ": scheme ", url.scheme, " is not supported yet (TLS is not built)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TransportSecurity>> TransportSecurity::Create(
    const SecurityConfig& cfg) {
  if (!cfg.client.empty() || !cfg.peer.empty()) {
    return absl::InvalidArgumentError("TLS certificates are not supported yet");
  }
  return std::unique_ptr<TransportSecurity>(new TransportSecurity(cfg));
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TransportSecurity::ClientListener(
    const Url& url) const {
  if (auto s = CheckPlain(url, "client"); !s.ok()) return s;
  return grpc::InsecureServerCredentials();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TransportSecurity::PeerListener(
    const Url& url) const {
  if (auto s = CheckPlain(url, "peer"); !s.ok()) return s;
  return grpc::InsecureServerCredentials();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> TransportSecurity::PeerChannel(
    const Url& url) const {
  if (auto s = CheckPlain(url, "peer"); !s.ok()) return s;
  return grpc::InsecureChannelCredentials();
}

}  // namespace server
