// AuthGate: who a client call comes from, and the auth checks etcd makes at
// the API layer (etcdserver/v3_server.go): AuthInfoFromCtx (the "token"
// metadata, else with --client-cert-auth the verified client certificate's
// common name), the header stamped on every proposed request (checked again
// when it is applied: auth_applier.h), and doSerialize for reads served
// without raft (check before the read, refuse after it when the auth
// revision moved meanwhile).
// Ownership: borrows the auth store. Thread-safety: thread-safe.
#pragma once

#include <functional>
#include <optional>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "serverpb/internal.pb.h"
#include "server/state/auth_store.h"

namespace server {

class AuthGate {
 public:
  AuthGate(AuthStore* auth, bool client_cert_auth) : auth_(auth), client_cert_auth_(client_cert_auth) {}

  AuthStore& store() const { return *auth_; }

  // The caller's identity at the current auth revision; nullopt when the
  // call names nobody; kInvalidAuthToken for an unknown or expired token.
  [[nodiscard]] absl::StatusOr<std::optional<AuthInfo>> Identify(
      const grpc::ServerContextBase& ctx) const;

  // Sets req->auth to the caller's identity (empty when nobody).
  [[nodiscard]] absl::Status Stamp(const grpc::ServerContextBase& ctx,
                                   serverpb::InternalRequest* req) const;

  using ReadCheck = std::function<absl::Status(const AuthState&, const AuthInfo&)>;
  // doSerialize's first half: identifies the caller and runs `check` on the
  // current auth state; returns the identity to pass to StillCurrent.
  [[nodiscard]] absl::StatusOr<AuthInfo> AdmitRead(const grpc::ServerContextBase& ctx,
                                                   const ReadCheck& check) const;
  // doSerialize's second half, after the read: kAuthOldRevision when the
  // auth state changed since `who` was resolved.
  [[nodiscard]] absl::Status StillCurrent(const AuthInfo& who) const;

 private:
  AuthStore* auth_;
  const bool client_cert_auth_;
};

}  // namespace server
