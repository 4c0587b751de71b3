#include "server/state/simple_tokens.h"

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
