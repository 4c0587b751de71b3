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

namespace server {

class SimpleTokens {
 public:
  SimpleTokens(const base::Clock* clock, absl::Duration ttl) : clock_(clock), ttl_(ttl) {}

  void Assign(std::string token, std::string user);
  // The user a live token belongs to; nullopt for an unknown or expired one.
  std::optional<std::string> Lookup(std::string_view token);
  // Every token of `user` stops working (user deleted, password changed).
  void InvalidateUser(std::string_view user);
  // Every token stops working (auth disabled).
  void Clear();

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
