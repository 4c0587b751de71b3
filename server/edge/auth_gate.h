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
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "serverpb/internal.pb.h"
#include "server/state/auth_store.h"

namespace server {

class AuthGate {
 public:
  // Draws the secret that marks the member's own delegated calls (Delegate).
  AuthGate(AuthStore* auth, bool client_cert_auth);

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

  // etcd's IsAdminPermitted for the caller, checked at the API layer as
  // etcd checks the Maintenance admin calls and membership changes:
  // Identify's error, or CheckAdmin's.
  [[nodiscard]] absl::Status AdmitAdmin(const grpc::ServerContextBase& ctx) const;

  // The metadata that makes a call on the member's in-process channel
  // (self_client.h) act as the caller of `ctx`, as etcd's Lock and Election
  // services call its API with the caller's context: the caller's token,
  // else (client-certificate identity) the user name with this gate's
  // secret, which a remote client cannot know. Empty for nobody.
  using Metadata = std::vector<std::pair<std::string, std::string>>;
  Metadata Delegate(const grpc::ServerContextBase& ctx) const;

 private:
  // The user named by delegated metadata carrying this gate's secret.
  std::optional<std::string> DelegatedUser(const grpc::ServerContextBase& ctx) const;

  AuthStore* auth_;
  const bool client_cert_auth_;
  std::string secret_;
};

// etcd 3.4's Maintenance admin checks (Defragment, Snapshot, Hash, HashKV)
// return the auth package's error unconverted: gRPC code UNKNOWN with its
// own text ("auth: permission denied", "auth: user name is empty",
// "auth: user not found", "auth: invalid auth token"). Other statuses as
// ToGrpcStatus.
[[nodiscard]] grpc::Status UnconvertedAuthStatus(const absl::Status& s);

}  // namespace server
