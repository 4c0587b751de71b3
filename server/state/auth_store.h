// AuthStore: etcd's auth store as replicated state. Users, roles, the
// enabled flag and the auth revision live in the store's meta table
// (storage/meta_schema.h: auth_*) and change only when a replicated auth
// request is applied (AuthApplier, auth_applier.h, calls the Apply*
// methods on the apply loop, inside the entry's batch). The current state
// is also kept in memory as an immutable AuthState that any thread may
// take (State()) for etcd's permission checks (auth_state.h).
//
// Each Apply* follows etcd 3.4's auth/store.go: the same refusals (typed
// errors from server/state/errors.h, nothing written) and the same auth
// revision bumps. Passwords arrive hashed (the edge hashes with bcrypt
// before proposing), so the raft log never holds a password.
//
// The token provider (token_provider.h: simple or JWT tokens) belongs to
// the store as etcd's belongs to its authStore: a token is issued when an
// Authenticate entry is applied; simple tokens are dropped with their user
// or when auth is disabled.
//
// Ownership: borrows the store and the clock. Thread-safety: Apply* and
// Reload on the apply loop only; State(), Revision() and Tokens() from any
// thread. An Apply* publishes its new state before its batch commits: a
// failed commit stops the member (applier.h), so nothing reads a state the
// store will not have.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "base/clock.h"
#include "etcdserverpb/rpc.pb.h"
#include "serverpb/internal.pb.h"
#include "server/state/auth_state.h"
#include "server/state/simple_tokens.h"
#include "server/state/token_provider.h"
#include "storage/mvcc_store.h"

namespace server {

class AuthStore {
 public:
  struct Options {
    absl::Duration token_ttl = absl::Seconds(300);  // --auth-token-ttl
    // --auth-token's provider; null: simple tokens with token_ttl.
    std::shared_ptr<TokenProvider> tokens;
  };
  AuthStore(const storage::MvccStore* store, const base::Clock* clock, Options opts);

  // Reads the recorded state (at start, and after a snapshot replaced the
  // store). DataLoss for a record that does not parse.
  [[nodiscard]] absl::Status Reload();

  std::shared_ptr<const AuthState> State() const;
  uint64_t Revision() const { return State()->revision; }
  bool Enabled() const { return State()->enabled; }
  TokenProvider& Tokens() { return *tokens_; }

  // etcd's CheckPassword, at the edge before Authenticate is proposed: the
  // auth revision the password was checked at, or kAuthNotEnabled,
  // kAuthFailed, or NoPasswordUserError.
  [[nodiscard]] absl::StatusOr<uint64_t> CheckPassword(std::string_view name,
                                                       std::string_view password) const;

  // ---- replicated requests (apply loop)
  using Batch = storage::WriteBatch;
  absl::StatusOr<etcdserverpb::AuthEnableResponse> ApplyEnable(Batch& b);
  absl::StatusOr<etcdserverpb::AuthDisableResponse> ApplyDisable(Batch& b);
  // `request_id` makes the token unique cluster-wide.
  absl::StatusOr<etcdserverpb::AuthenticateResponse> ApplyAuthenticate(
      const serverpb::InternalAuthenticateRequest& r, uint64_t request_id);
  absl::StatusOr<etcdserverpb::AuthUserAddResponse> ApplyUserAdd(
      Batch& b, const etcdserverpb::AuthUserAddRequest& r);
  absl::StatusOr<etcdserverpb::AuthUserDeleteResponse> ApplyUserDelete(
      Batch& b, const etcdserverpb::AuthUserDeleteRequest& r);
  absl::StatusOr<etcdserverpb::AuthUserChangePasswordResponse> ApplyUserChangePassword(
      Batch& b, const etcdserverpb::AuthUserChangePasswordRequest& r);
  absl::StatusOr<etcdserverpb::AuthUserGrantRoleResponse> ApplyUserGrantRole(
      Batch& b, const etcdserverpb::AuthUserGrantRoleRequest& r);
  absl::StatusOr<etcdserverpb::AuthUserRevokeRoleResponse> ApplyUserRevokeRole(
      Batch& b, const etcdserverpb::AuthUserRevokeRoleRequest& r);
  absl::StatusOr<etcdserverpb::AuthRoleAddResponse> ApplyRoleAdd(
      Batch& b, const etcdserverpb::AuthRoleAddRequest& r);
  absl::StatusOr<etcdserverpb::AuthRoleDeleteResponse> ApplyRoleDelete(
      Batch& b, const etcdserverpb::AuthRoleDeleteRequest& r);
  absl::StatusOr<etcdserverpb::AuthRoleGrantPermissionResponse> ApplyRoleGrantPermission(
      Batch& b, const etcdserverpb::AuthRoleGrantPermissionRequest& r);
  absl::StatusOr<etcdserverpb::AuthRoleRevokePermissionResponse> ApplyRoleRevokePermission(
      Batch& b, const etcdserverpb::AuthRoleRevokePermissionRequest& r);
  // Reads that etcd 3.4 also sends through raft (linearizable by design).
  absl::StatusOr<etcdserverpb::AuthUserGetResponse> UserGet(
      const etcdserverpb::AuthUserGetRequest& r) const;
  etcdserverpb::AuthUserListResponse UserList() const;
  absl::StatusOr<etcdserverpb::AuthRoleGetResponse> RoleGet(
      const etcdserverpb::AuthRoleGetRequest& r) const;
  etcdserverpb::AuthRoleListResponse RoleList() const;

 private:
  // Records `next` (its changed users and roles, its flag and revision) in
  // the batch and publishes it.
  absl::Status Commit(Batch& b, std::shared_ptr<AuthState> next);
  // Commit of a change of users, roles or permissions: bumps the revision.
  absl::Status CommitChange(Batch& b, std::shared_ptr<AuthState> next);

  const storage::MvccStore* store_;
  std::shared_ptr<TokenProvider> tokens_;
  mutable std::mutex mu_;
  std::shared_ptr<const AuthState> state_;  // guarded by mu_
};

}  // namespace server
