#include "server/state/simple_tokens.h"

#include "absl/strings/str_cat.h"

namespace server {

void SimpleTokens::Assign(std::string token, std::string user) {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  DropExpiredLocked(now);
  tokens_[std::move(token)] = Entry{std::move(user), now + ttl_};
}

std::optional<std::string> SimpleTokens::Lookup(std::string_view token) {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    tokens_.erase(it);
    return std::nullopt;
  }
  it->second.expires = now + ttl_;
  return it->second.user;
}

absl::StatusOr<std::string> SimpleTokens::Issue(std::string_view user, uint64_t, std::string_view prefix,
                                                uint64_t request_id) {
  std::string token = absl::StrCat(absl::string_view(prefix.data(), prefix.size()), ".", request_id);
  Assign(token, std::string(user));
  return token;
}

std::optional<AuthInfo> SimpleTokens::Info(std::string_view token, uint64_t current_revision) {
  auto user = Lookup(token);
  if (!user) return std::nullopt;
  return AuthInfo{std::move(*user), current_revision};
}

void SimpleTokens::InvalidateUser(std::string_view user) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    it = it->second.user == user ? tokens_.erase(it) : std::next(it);
  }
}

void SimpleTokens::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_.clear();
}

void SimpleTokens::DropExpiredLocked(absl::Time now) {
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    it = it->second.expires <= now ? tokens_.erase(it) : std::next(it);
  }
}

}  // namespace server
