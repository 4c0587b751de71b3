#include "server/edge/auth_gate.h"

#include <stdexcept>
#include <string>

#include "openssl/crypto.h"
#include "openssl/rand.h"
#include "server/edge/grpc_errors.h"
#include "server/state/errors.h"

namespace server {
namespace {

// Metadata of a call the member makes on its own channel for a caller that
// has no token. "-bin": a user name may hold any byte.
constexpr char kDelegatedUserKey[] = "ketcd-delegated-user-bin";
constexpr char kDelegatedSecretKey[] = "ketcd-delegated-secret";

std::string NewSecret() {
  unsigned char raw[16];
  // No randomness from the OS is a broken machine: stop loudly.
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("no random bytes for the delegation secret");
  std::string hex;
  for (unsigned char c : raw) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return hex;
}

std::optional<std::string> Metadatum(const grpc::ServerContextBase& ctx, const char* key) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(key);
  if (it == md.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

AuthGate::AuthGate(AuthStore* auth, bool client_cert_auth)
    : auth_(auth), client_cert_auth_(client_cert_auth), secret_(NewSecret()) {}

absl::StatusOr<std::optional<AuthInfo>> AuthGate::Identify(const grpc::ServerContextBase& ctx) const {
  const auto& md = ctx.client_metadata();
  auto it = md.find("token");
  // etcd also reads the gRPC gateway's "authorization" header.
  if (it == md.end()) it = md.find("authorization");
  if (it != md.end()) {
    const std::string token(it->second.data(), it->second.size());
    // A simple token stands for the current auth revision, a JWT for its own.
    auto who = auth_->Tokens().Info(token, auth_->Revision());
    if (!who) return AuthError(base::ErrorKind::kInvalidAuthToken, kErrInvalidAuthToken);
    return std::optional<AuthInfo>(std::move(*who));
  }
  if (auto user = DelegatedUser(ctx)) return AuthInfo{std::move(*user), auth_->Revision()};
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

absl::Status AuthGate::AdmitAdmin(const grpc::ServerContextBase& ctx) const {
  auto who = Identify(ctx);
  if (!who.ok()) return who.status();
  return CheckAdmin(*auth_->State(), who->value_or(AuthInfo{}));
}

AuthGate::Metadata AuthGate::Delegate(const grpc::ServerContextBase& ctx) const {
  if (auto token = Metadatum(ctx, "token")) return {{"token", *token}};
  if (auto token = Metadatum(ctx, "authorization")) return {{"authorization", *token}};
  auto who = Identify(ctx);
  if (!who.ok() || !who->has_value()) return {};
  return {{kDelegatedUserKey, (*who)->username}, {kDelegatedSecretKey, secret_}};
}

std::optional<std::string> AuthGate::DelegatedUser(const grpc::ServerContextBase& ctx) const {
  auto secret = Metadatum(ctx, kDelegatedSecretKey);
  if (!secret || secret->size() != secret_.size() ||
      CRYPTO_memcmp(secret->data(), secret_.data(), secret_.size()) != 0) {
    return std::nullopt;
  }
  return Metadatum(ctx, kDelegatedUserKey);
}

grpc::Status UnconvertedAuthStatus(const absl::Status& s) {
  const char* text = nullptr;
  switch (base::KindOf(s)) {
    case base::ErrorKind::kPermissionDenied: text = "auth: permission denied"; break;
    case base::ErrorKind::kUserEmpty: text = "auth: user name is empty"; break;
    case base::ErrorKind::kUserNotFound: text = "auth: user not found"; break;
    case base::ErrorKind::kInvalidAuthToken: text = "auth: invalid auth token"; break;
    default: return ToGrpcStatus(s);
  }
  return grpc::Status(grpc::StatusCode::UNKNOWN, text);
}

}  // namespace server
