// SimpleTokens: etcd's "simple" token provider (--auth-token simple). A
// token is "<16 random letters>.<request id>", made when an Authenticate
// entry is applied, so every member that applies it knows the token (as in
// etcd, where the raft index takes the request id's place). Tokens live in
// memory only: a restarted member forgets them and clients authenticate
// again. A token expires after `ttl` without use (--auth-token-ttl); each
// use restarts its clock, as etcd's TTL keeper does.
//
// Thread-safety: all methods are thread-safe. Assign/InvalidateUser/Clear
// run on the apply loop; Lookup on any thread.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "base/clock.h"
#include "server/state/token_provider.h"

namespace server {

class SimpleTokens final : public TokenProvider {
 public:
  SimpleTokens(const base::Clock* clock, absl::Duration ttl) : clock_(clock), ttl_(ttl) {}

  void Assign(std::string token, std::string user);
  // The user a live token belongs to; nullopt for an unknown or expired one.
  std::optional<std::string> Lookup(std::string_view token);

  // TokenProvider: "<prefix>.<request id>", assigned to `user`; its
  // AuthInfo is at the store's current revision (etcd).
  absl::StatusOr<std::string> Issue(std::string_view user, uint64_t revision, std::string_view prefix,
                                    uint64_t request_id) override;
  std::optional<AuthInfo> Info(std::string_view token, uint64_t current_revision) override;
  // Every token of `user` stops working (user deleted, password changed).
  void InvalidateUser(std::string_view user) override;
  // Every token stops working (auth disabled).
  void Clear() override;

 private:
  struct Entry {
    std::string user;
    absl::Time expires;
  };
  void DropExpiredLocked(absl::Time now);

  const base::Clock* clock_;
  const absl::Duration ttl_;
  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> tokens_;
};

}  // namespace server
