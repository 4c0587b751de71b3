#include "server/state/auth_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/state/errors.h"
#include "server/state/password.h"
#include "storage/auth_records.h"

namespace server {
namespace {

using base::ErrorKind;

absl::Status UserNotFound() { return AuthError(ErrorKind::kUserNotFound, kErrUserNotFound); }
absl::Status RoleNotFound() { return AuthError(ErrorKind::kRoleNotFound, kErrRoleNotFound); }
absl::Status InvalidAuthMgmt() { return AuthError(ErrorKind::kInvalidAuthMgmt, kErrInvalidAuthMgmt); }

// Writes the records that differ between `from` and `to` into the batch.
template <typename Map>
absl::Status WriteChanged(storage::WriteBatch& b, const Map& from, const Map& to,
                          std::string (*key)(std::string_view)) {
  for (const auto& [name, rec] : to) {
    auto it = from.find(name);
    if (it != from.end() && it->second.SerializeAsString() == rec.SerializeAsString()) continue;
    if (auto s = b.PutMeta(key(name), rec.SerializeAsString()); !s.ok()) return s;
  }
  for (const auto& [name, rec] : from) {
    if (to.count(name) == 0) {
      if (auto s = b.DeleteMeta(key(name)); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

AuthStore::AuthStore(const storage::MvccStore* store, const base::Clock* clock, Options opts)
    : store_(store),
      tokens_(opts.tokens != nullptr ? std::move(opts.tokens)
                                     : std::make_shared<SimpleTokens>(clock, opts.token_ttl)),
      state_(std::make_shared<AuthState>()) {}

absl::Status AuthStore::Reload() {
  auto records = storage::ReadAuthRecords(
      [this](std::string_view prefix) { return store_->ListMeta(prefix); });
  if (!records.ok()) return records.status();
  auto next = std::make_shared<AuthState>();
  next->enabled = records->enabled;
  next->revision = records->revision;
  for (authpb::User& u : records->users) next->users[u.name()] = std::move(u);
  for (authpb::Role& r : records->roles) next->roles[r.name()] = std::move(r);
  // Tokens were issued against the replaced state; etcd's Recover keeps
  // them only while auth stays enabled.
  if (!next->enabled) tokens_->Clear();
  std::lock_guard<std::mutex> lock(mu_);
  state_ = std::move(next);
  return absl::OkStatus();
}

std::shared_ptr<const AuthState> AuthStore::State() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

absl::Status AuthStore::Commit(Batch& b, std::shared_ptr<AuthState> next) {
  auto cur = State();
  if (auto s = WriteChanged(b, cur->users, next->users, &storage::AuthUserMetaKey); !s.ok()) return s;
  if (auto s = WriteChanged(b, cur->roles, next->roles, &storage::AuthRoleMetaKey); !s.ok()) return s;
  if (next->enabled != cur->enabled) {
    // Kept as "0" once disabled, as etcd keeps authEnabled (a backup
    // carries it).
    auto s = b.PutMeta(storage::kMetaAuthEnabled,
                       next->enabled ? storage::kMetaAuthEnabledOn : storage::kMetaAuthEnabledOff);
    if (!s.ok()) return s;
  }
  if (next->revision != cur->revision) {
    auto s = b.PutMeta(storage::kMetaAuthRevision,
                       storage::EncodeMetaInt64(static_cast<int64_t>(next->revision)));
    if (!s.ok()) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  state_ = std::move(next);
  return absl::OkStatus();
}

absl::Status AuthStore::CommitChange(Batch& b, std::shared_ptr<AuthState> next) {
  ++next->revision;
  return Commit(b, std::move(next));
}

absl::StatusOr<uint64_t> AuthStore::CheckPassword(std::string_view name,
                                                  std::string_view password) const {
  auto st = State();
  if (!st->enabled) return AuthError(ErrorKind::kAuthNotEnabled, kErrAuthNotEnabled);
  const authpb::User* u = st->FindUser(name);
  if (u == nullptr) return AuthError(ErrorKind::kAuthFailed, kErrAuthFailed);
  if (u->options().no_password()) return NoPasswordUserError();
  if (!PasswordMatches(password, u->password())) return AuthError(ErrorKind::kAuthFailed, kErrAuthFailed);
  return st->revision;
}

absl::StatusOr<etcdserverpb::AuthEnableResponse> AuthStore::ApplyEnable(Batch& b) {
  auto cur = State();
  if (cur->enabled) return etcdserverpb::AuthEnableResponse{};  // etcd ignores it
  const authpb::User* root = cur->FindUser(kRootUser);
  if (root == nullptr) return AuthError(ErrorKind::kRootUserNotExist, kErrRootUserNotExist);
  if (!HasRootRole(*root)) return AuthError(ErrorKind::kRootRoleNotExist, kErrRootRoleNotExist);
  auto next = std::make_shared<AuthState>(*cur);
  next->enabled = true;  // etcd does not bump the revision here
  if (auto s = Commit(b, std::move(next)); !s.ok()) return s;
  return etcdserverpb::AuthEnableResponse{};
}

absl::StatusOr<etcdserverpb::AuthDisableResponse> AuthStore::ApplyDisable(Batch& b) {
  auto cur = State();
  if (!cur->enabled) return etcdserverpb::AuthDisableResponse{};
  auto next = std::make_shared<AuthState>(*cur);
  next->enabled = false;
  if (auto s = CommitChange(b, std::move(next)); !s.ok()) return s;
  tokens_->Clear();
  return etcdserverpb::AuthDisableResponse{};
}

absl::StatusOr<etcdserverpb::AuthenticateResponse> AuthStore::ApplyAuthenticate(
    const serverpb::InternalAuthenticateRequest& r, uint64_t request_id) {
  auto cur = State();
  if (!cur->enabled) return AuthError(ErrorKind::kAuthNotEnabled, kErrAuthNotEnabled);
  const authpb::User* u = cur->FindUser(r.name());
  if (u == nullptr || u->options().no_password()) return AuthError(ErrorKind::kAuthFailed, kErrAuthFailed);
  // etcd's tokenProvider.assign, at the revision this entry sees.
  auto token = tokens_->Issue(r.name(), cur->revision, r.simple_token(), request_id);
  if (!token.ok()) return token.status();
  etcdserverpb::AuthenticateResponse resp;
  resp.set_token(std::move(*token));
  return resp;
}

absl::StatusOr<etcdserverpb::AuthUserAddResponse> AuthStore::ApplyUserAdd(
    Batch& b, const etcdserverpb::AuthUserAddRequest& r) {
  if (r.name().empty()) return AuthError(ErrorKind::kUserEmpty, kErrUserEmpty);
  auto cur = State();
  if (cur->FindUser(r.name()) != nullptr) return AuthError(ErrorKind::kUserAlreadyExist, kErrUserAlreadyExist);
  authpb::User u;
  u.set_name(r.name());
  if (!r.options().no_password()) u.set_password(r.hashedpassword());
  u.mutable_options()->set_no_password(r.options().no_password());
  auto next = std::make_shared<AuthState>(*cur);
  next->users[r.name()] = std::move(u);
  if (auto s = CommitChange(b, std::move(next)); !s.ok()) return s;
  return etcdserverpb::AuthUserAddResponse{};
}

absl::StatusOr<etcdserverpb::AuthUserDeleteResponse> AuthStore::ApplyUserDelete(
    Batch& b, const etcdserverpb::AuthUserDeleteRequest& r) {
  auto cur = State();
  if (cur->enabled && r.name() == kRootUser) return InvalidAuthMgmt();
  if (cur->FindUser(r.name()) == nullptr) return UserNotFound();
  auto next = std::make_shared<AuthState>(*cur);
  next->users.erase(r.name());
  if (auto s = CommitChange(b, std::move(next)); !s.ok()) return s;
  tokens_->InvalidateUser(r.name());
  return etcdserverpb::AuthUserDeleteResponse{};
}

absl::StatusOr<etcdserverpb::AuthUserChangePasswordResponse> AuthStore::ApplyUserChangePassword(
    Batch& b, const etcdserverpb::AuthUserChangePasswordRequest& r) {
  auto cur = State();
  if (cur->FindUser(r.name()) == nullptr) return UserNotFound();
  auto next = std::make_shared<AuthState>(*cur);
  next->users[r.name()].set_password(r.hashedpassword());
  if (auto s = CommitChange(b, std::move(next)); !s.ok()) return s;
  tokens_->InvalidateUser(r.name());
  return etcdserverpb::AuthUserChangePasswordResponse{};
}

absl::StatusOr<etcdserverpb::AuthUserGrantRoleResponse> AuthStore::ApplyUserGrantRole(
    Batch& b, const etcdserverpb::AuthUserGrantRoleRequest& r) {
  auto cur = State();
  const authpb::User* u = cur->FindUser(r.user());
  if (u == nullptr) return UserNotFound();
  // The root role need not exist as a role record to be granted (etcd).
  if (r.role() != kRootRole && cur->roles.count(r.role()) == 0) return RoleNotFound();
  if (cur->HasRole(r.user(), r.role())) return etcdserverpb::AuthUserGrantRoleResponse{};
  auto next = std::make_shared<AuthState>(*cur);
  authpb::User& nu = next->users[r.user()];
  std::vector<std::string> roles(nu.roles().begin(), nu.roles().end());
  roles.push_back(r.role());
  std::sort(roles.begin(), roles.end());
  nu.clear_roles();
  for (auto& role : roles) nu.add_roles(std::move(role));
  if (auto s = CommitChange(b, std::move(next)); !s.ok()) return s;
  return etcdserverpb::AuthUserGrantRoleResponse{};
}

absl::StatusOr<etcdserverpb::AuthUserRevokeRoleResponse> AuthStore::ApplyUserRevokeRole(
    Batch& b, const etcdserverpb::AuthUserRevokeRoleRequest& r) {
  auto cur = State();
  if (cur->enabled && r.name() == kRootUser && r.role() == kRootRole) return InvalidAuthMgmt();
  if (cur->FindUser(r.name()) == nullptr) return UserNotFound();
  if (!cur->HasRole(r.name(), r.role())) return AuthError(ErrorKind::kRoleNotGranted, kErrRoleNotGranted);
  auto next = std::make_shared<AuthState>(*cur);
  auto* roles = next->users[r.name()].mutable_roles();
  roles->erase(std::remove(roles->begin(), roles->end(), r.role()), roles->end());
  if (auto s = CommitChange(b, std::move(next)); !s.ok()) return s;
  return etcdserverpb::AuthUserRevokeRoleResponse{};
}

absl::StatusOr<etcdserverpb::AuthRoleAddResponse> AuthStore::ApplyRoleAdd(
    Batch& b, const etcdserverpb::AuthRoleAddRequest& r) {
  if (r.name().empty()) return AuthError(ErrorKind::kRoleEmpty, kErrRoleEmpty);
  auto cur = State();
  if (cur->roles.count(r.name()) != 0) return AuthError(ErrorKind::kRoleAlreadyExist, kErrRoleAlreadyExist);
  auto next = std::make_shared<AuthState>(*cur);
  next->roles[r.name()].set_name(r.name());
  if (auto s = CommitChange(b, std::move(next)); !s.ok()) return s;
  return etcdserverpb::AuthRoleAddResponse{};
}

absl::StatusOr<etcdserverpb::AuthRoleDeleteResponse> AuthStore::ApplyRoleDelete(
    Batch& b, const etcdserverpb::AuthRoleDeleteRequest& r) {
  auto cur = State();
  if (cur->enabled && r.role() == kRootRole) return InvalidAuthMgmt();
  if (cur->roles.count(r.role()) == 0) return RoleNotFound();
  auto next = std::make_shared<AuthState>(*cur);
  next->roles.erase(r.role());
  // The role goes from every user that had it, in the same change.
  for (auto& [name, u] : next->users) {
    auto* roles = u.mutable_roles();
    roles->erase(std::remove(roles->begin(), roles->end(), r.role()), roles->end());
  }
  if (auto s = CommitChange(b, std::move(next)); !s.ok()) return s;
  return etcdserverpb::AuthRoleDeleteResponse{};
}

absl::StatusOr<etcdserverpb::AuthRoleGrantPermissionResponse> AuthStore::ApplyRoleGrantPermission(
    Batch& b, const etcdserverpb::AuthRoleGrantPermissionRequest& r) {
  auto cur = State();
  if (cur->roles.count(r.name()) == 0) return RoleNotFound();
  auto next = std::make_shared<AuthState>(*cur);
  auto* perms = next->roles[r.name()].mutable_keypermission();
  // Permissions stay in key order; the same key and range_end is updated
  // in place (etcd: sort.Search on the key, then an exact match).
  auto it = std::lower_bound(perms->begin(), perms->end(), r.perm().key(),
                             [](const authpb::Permission& p, const std::string& k) { return p.key() < k; });
  if (it != perms->end() && it->key() == r.perm().key() && it->range_end() == r.perm().range_end()) {
    it->set_permtype(r.perm().permtype());
  } else {
    std::vector<authpb::Permission> list(perms->begin(), perms->end());
    list.push_back(r.perm());
    std::stable_sort(list.begin(), list.end(),
                     [](const authpb::Permission& a, const authpb::Permission& b) { return a.key() < b.key(); });
    perms->Clear();
    for (auto& p : list) *perms->Add() = std::move(p);
  }
  if (auto s = CommitChange(b, std::move(next)); !s.ok()) return s;
  return etcdserverpb::AuthRoleGrantPermissionResponse{};
}

absl::StatusOr<etcdserverpb::AuthRoleRevokePermissionResponse> AuthStore::ApplyRoleRevokePermission(
    Batch& b, const etcdserverpb::AuthRoleRevokePermissionRequest& r) {
  auto cur = State();
  if (cur->roles.count(r.role()) == 0) return RoleNotFound();
  auto next = std::make_shared<AuthState>(*cur);
  auto* perms = next->roles[r.role()].mutable_keypermission();
  const int before = perms->size();
  perms->erase(std::remove_if(perms->begin(), perms->end(),
                              [&](const authpb::Permission& p) {
                                return p.key() == r.key() && p.range_end() == r.range_end();
                              }),
               perms->end());
  if (perms->size() == before) {
    return AuthError(ErrorKind::kPermissionNotGranted, kErrPermissionNotGranted);
  }
  if (auto s = CommitChange(b, std::move(next)); !s.ok()) return s;
  return etcdserverpb::AuthRoleRevokePermissionResponse{};
}

absl::StatusOr<etcdserverpb::AuthUserGetResponse> AuthStore::UserGet(
    const etcdserverpb::AuthUserGetRequest& r) const {
  auto cur = State();
  const authpb::User* u = cur->FindUser(r.name());
  if (u == nullptr) return UserNotFound();
  etcdserverpb::AuthUserGetResponse resp;
  for (const auto& role : u->roles()) resp.add_roles(role);
  return resp;
}

etcdserverpb::AuthUserListResponse AuthStore::UserList() const {
  etcdserverpb::AuthUserListResponse resp;
  for (const auto& [name, u] : State()->users) resp.add_users(name);
  return resp;
}

absl::StatusOr<etcdserverpb::AuthRoleGetResponse> AuthStore::RoleGet(
    const etcdserverpb::AuthRoleGetRequest& r) const {
  auto cur = State();
  auto it = cur->roles.find(r.role());
  if (it == cur->roles.end()) return RoleNotFound();
  etcdserverpb::AuthRoleGetResponse resp;
  for (const auto& p : it->second.keypermission()) *resp.add_perm() = p;
  return resp;
}

etcdserverpb::AuthRoleListResponse AuthStore::RoleList() const {
  etcdserverpb::AuthRoleListResponse resp;
  for (const auto& [name, r] : State()->roles) resp.add_roles(name);
  return resp;
}

}  // namespace server
