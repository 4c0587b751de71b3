#include "server/edge/auth_gate.h"

#include <string>

#include "server/state/errors.h"

namespace server {

absl::StatusOr<std::optional<AuthInfo>> AuthGate::Identify(const grpc::ServerContextBase& ctx) const {
  const auto& md = ctx.client_metadata();
  auto it = md.find("token");
  // etcd also reads the gRPC gateway's "authorization" header.
  if (it == md.end()) it = md.find("authorization");
  if (it != md.end()) {
    const std::string token(it->second.data(), it->second.size());
    auto user = auth_->Tokens().Lookup(token);
    if (!user) return AuthError(base::ErrorKind::kInvalidAuthToken, kErrInvalidAuthToken);
    return AuthInfo{std::move(*user), auth_->Revision()};
  }
  if (!client_cert_auth_) return std::nullopt;
  // A verified client certificate's CN names the user (etcd's AuthInfoFromTLS).
  auto actx = ctx.auth_context();
  if (actx == nullptr || !actx->IsPeerAuthenticated()) return std::nullopt;
  auto cn = actx->FindPropertyValues("x509_common_name");
  if (cn.empty()) return std::nullopt;
  return AuthInfo{std::string(cn[0].data(), cn[0].size()), auth_->Revision()};
}

absl::Status AuthGate::Stamp(const grpc::ServerContextBase& ctx, serverpb::InternalRequest* req) const {
  auto who = Identify(ctx);
  if (!who.ok()) return who.status();
  auto* h = req->mutable_auth();
  if (*who) {
    h->set_username((*who)->username);
    h->set_auth_revision((*who)->revision);
  }
  return absl::OkStatus();
}

absl::StatusOr<AuthInfo> AuthGate::AdmitRead(const grpc::ServerContextBase& ctx,
                                             const ReadCheck& check) const {
  auto who = Identify(ctx);
  if (!who.ok()) return who.status();
  AuthInfo ai = who->value_or(AuthInfo{});
  if (auto s = check(*auth_->State(), ai); !s.ok()) return s;
  return ai;
}

absl::Status AuthGate::StillCurrent(const AuthInfo& who) const {
  if (who.revision != 0 && who.revision != auth_->Revision()) {
    return AuthError(base::ErrorKind::kAuthOldRevision, kErrAuthOldRevision);
  }
  return absl::OkStatus();
}

}  // namespace server
