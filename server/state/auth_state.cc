#include "server/state/auth_state.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "server/state/errors.h"

namespace server {
namespace {

// A key interval [begin, end); no `end` = unbounded above.
struct Interval {
  std::string begin;
  std::optional<std::string> end;
};

bool EndBefore(const std::optional<std::string>& a, const std::optional<std::string>& b) {
  if (!a) return false;
  if (!b) return true;
  return *a < *b;
}

// A granted permission as an interval (range_perm_cache.go's conventions):
// no range_end = the key alone, "\0" = every key from `key`.
Interval PermInterval(const authpb::Permission& p) {
  if (p.range_end().empty()) return {p.key(), p.key() + std::string(1, '\0')};
  if (p.range_end() == std::string(1, '\0')) return {p.key(), std::nullopt};
  return {p.key(), p.range_end()};
}

bool Grants(const authpb::Permission& p, PermAccess access) {
  if (p.permtype() == authpb::Permission::READWRITE) return true;
  return access == PermAccess::kRead ? p.permtype() == authpb::Permission::READ
                                     : p.permtype() == authpb::Permission::WRITE;
}

}  // namespace

const authpb::User* AuthState::FindUser(std::string_view name) const {
  auto it = users.find(name);
  return it == users.end() ? nullptr : &it->second;
}

bool AuthState::HasRole(std::string_view user, std::string_view role) const {
  const authpb::User* u = FindUser(user);
  if (u == nullptr) return false;
  return std::find(u->roles().begin(), u->roles().end(), role) != u->roles().end();
}

bool HasRootRole(const authpb::User& user) {
  return std::find(user.roles().begin(), user.roles().end(), kRootRole) != user.roles().end();
}

bool AuthState::RangePermitted(std::string_view user, std::string_view key,
                               std::string_view range_end, PermAccess access) const {
  const authpb::User* u = FindUser(user);
  if (u == nullptr) return false;
  std::vector<Interval> granted;
  for (const auto& role_name : u->roles()) {
    auto it = roles.find(role_name);
    if (it == roles.end()) continue;
    for (const auto& p : it->second.keypermission()) {
      if (Grants(p, access)) granted.push_back(PermInterval(p));
    }
  }
  if (range_end.empty()) {
    // One key: inside any granted interval.
    return std::any_of(granted.begin(), granted.end(), [&](const Interval& i) {
      return i.begin <= key && (!i.end || key < *i.end);
    });
  }
  Interval want{std::string(key), std::nullopt};
  if (range_end != std::string_view("\0", 1)) want.end = std::string(range_end);
  // Merge the granted intervals in begin order; the request must lie inside
  // one merged run (touching intervals join, as etcd's interval tree does).
  std::sort(granted.begin(), granted.end(),
            [](const Interval& a, const Interval& b) { return a.begin < b.begin; });
  std::optional<Interval> run;
  for (const auto& i : granted) {
    if (run && run->end && *run->end < i.begin) {
      if (run->begin <= want.begin && !EndBefore(run->end, want.end)) return true;
      run.reset();
    }
    if (!run) {
      run = i;
    } else if (EndBefore(run->end, i.end)) {
      run->end = i.end;
    }
  }
  return run && run->begin <= want.begin && !EndBefore(run->end, want.end);
}

absl::Status CheckPermitted(const AuthState& state, const AuthInfo& who, std::string_view key,
                            std::string_view range_end, PermAccess access) {
  if (!state.enabled) return absl::OkStatus();
  if (who.revision == 0) return AuthError(base::ErrorKind::kUserEmpty, kErrUserEmpty);
  if (who.revision < state.revision) {
    return AuthError(base::ErrorKind::kAuthOldRevision, kErrAuthOldRevision);
  }
  const authpb::User* u = state.FindUser(who.username);
  if (u == nullptr) return AuthError(base::ErrorKind::kPermissionDenied, kErrPermissionDenied);
  if (HasRootRole(*u)) return absl::OkStatus();
  if (state.RangePermitted(who.username, key, range_end, access)) return absl::OkStatus();
  return AuthError(base::ErrorKind::kPermissionDenied, kErrPermissionDenied);
}

absl::Status CheckAdmin(const AuthState& state, const AuthInfo& who) {
  if (!state.enabled) return absl::OkStatus();
  if (who.username.empty()) return AuthError(base::ErrorKind::kUserEmpty, kErrUserEmpty);
  const authpb::User* u = state.FindUser(who.username);
  if (u == nullptr) return AuthError(base::ErrorKind::kUserNotFound, kErrUserNotFound);
  if (!HasRootRole(*u)) return AuthError(base::ErrorKind::kPermissionDenied, kErrPermissionDenied);
  return absl::OkStatus();
}

}  // namespace server
