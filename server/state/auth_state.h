// AuthState: etcd's auth store contents at one moment (users, roles, the
// enabled flag, the auth revision) and the pure checks over it that etcd's
// authStore makes: isOpPermitted (auth/store.go) with the key-range
// permission lookup of auth/range_perm_cache.go, and IsAdminPermitted.
// Immutable once published by the AuthStore (auth_store.h); the checks are
// pure functions of the state and their arguments.
// Thread-safety: a const AuthState may be read from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "authpb/auth.pb.h"

namespace server {

inline constexpr char kRootUser[] = "root";
inline constexpr char kRootRole[] = "root";

// Who makes a request, as the edge resolved it (etcd's auth.AuthInfo):
// `revision` is the auth revision it was resolved at; 0 = nobody.
struct AuthInfo {
  std::string username;
  uint64_t revision = 0;
};

enum class PermAccess { kRead, kWrite };

struct AuthState {
  bool enabled = false;
  // etcd's auth revision: bumped by every change of users, roles or
  // permissions and by AuthDisable; a fresh store is at 1.
  uint64_t revision = 1;
  std::map<std::string, authpb::User, std::less<>> users;
  std::map<std::string, authpb::Role, std::less<>> roles;

  const authpb::User* FindUser(std::string_view name) const;
  bool HasRole(std::string_view user, std::string_view role) const;
  // Whether the roles of `user` grant `access` over the request range
  // [key, range_end) in etcd's conventions (range_end empty: the key alone;
  // "\0": every key from `key`). A range must be covered by the union of
  // the granted ranges without a gap; a single key by any of them.
  bool RangePermitted(std::string_view user, std::string_view key, std::string_view range_end,
                      PermAccess access) const;
};

bool HasRootRole(const authpb::User& user);

// etcd's isOpPermitted: OK when auth is off; else kUserEmpty for nobody,
// kAuthOldRevision when `who` was resolved before the last auth change,
// kPermissionDenied for an unknown user or a range not granted; root passes.
[[nodiscard]] absl::Status CheckPermitted(const AuthState& state, const AuthInfo& who,
                                          std::string_view key, std::string_view range_end,
                                          PermAccess access);
// etcd's IsAdminPermitted: OK when auth is off; else kUserEmpty, kUserNotFound
// or kPermissionDenied unless `who` has the root role.
[[nodiscard]] absl::Status CheckAdmin(const AuthState& state, const AuthInfo& who);

}  // namespace server
