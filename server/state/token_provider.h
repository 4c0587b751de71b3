// TokenProvider: what --auth-token names (etcd's auth.TokenProvider): how
// the token of a successful Authenticate is made, and how the edge turns a
// token back into a caller. Three implementations, as etcd 3.4:
//  - "simple" (SimpleTokens, simple_tokens.h): random tokens each member
//    remembers in memory, with --auth-token-ttl;
//  - "jwt,..." (JwtTokens, jwt_tokens.h): signed JSON Web Tokens any member
//    holding the same keys verifies, carrying the user and auth revision;
//  - "" (no provider): every Authenticate fails, every token is invalid.
//
// Issue runs on the apply loop when an Authenticate entry is applied (on
// every member, as etcd's authStore.Authenticate; only the member that
// proposed it returns the token). Info runs on any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "server/state/auth_state.h"

namespace server {

class TokenProvider {
 public:
  virtual ~TokenProvider() = default;

  // The token of `user`, authenticated at auth `revision`. `prefix` (the
  // random letters the edge proposed) and `request_id` make a simple token
  // unique cluster-wide; a JWT does not use them.
  [[nodiscard]] virtual absl::StatusOr<std::string> Issue(std::string_view user, uint64_t revision,
                                                          std::string_view prefix, uint64_t request_id) = 0;

  // The caller a token names, at the auth revision it stands for: a simple
  // token stands for the store's current one (`current_revision`), a JWT
  // for the one it was issued at. nullopt: unknown, expired, malformed or
  // badly signed (etcd's "invalid auth token").
  virtual std::optional<AuthInfo> Info(std::string_view token, uint64_t current_revision) = 0;

  // Every token of `user` stops working (user deleted, password changed);
  // a JWT cannot be recalled (etcd), its auth revision ages instead.
  virtual void InvalidateUser(std::string_view user) = 0;
  // Every token stops working (auth disabled, or a snapshot without auth).
  virtual void Clear() = 0;
};

// etcd's NewTokenProvider for the --auth-token value `spec`: "simple" (any
// further options ignored), "jwt,opt=value,..." (jwt_tokens.h) or ""
// (no provider). `simple_ttl` is --auth-token-ttl. Reads the key files.
// InvalidArgument naming the flag, etcd's error and the cause for an
// option string etcd refuses (an unknown type, an option that is not
// "name=value" or given twice, a bad sign-method or ttl, an unreadable or
// unparsable key). Appends one line to `warnings` per thing etcd warns
// about (unknown JWT options).
[[nodiscard]] absl::StatusOr<std::unique_ptr<TokenProvider>> NewTokenProvider(
    std::string_view spec, const base::Clock* clock, absl::Duration simple_ttl,
    std::vector<std::string>* warnings);

}  // namespace server
