// JwtTokens: etcd's "jwt" token provider (--auth-token jwt,...). The token
// of an Authenticate is a JWT (jwt.h) signed with the member's private key,
// carrying the user, the auth revision it was issued at and its expiry
// (now + ttl). Any member holding the same key verifies it, so a token
// issued by one member works on every member and across restarts and
// leader changes, until it expires; a change of auth state makes it stale
// (the revision it carries is older: "revision of auth store is old"), and
// nothing recalls it earlier (InvalidateUser and Clear do nothing, as in
// etcd). A member given only pub-key verifies but cannot issue
// ("auth: token signing attempted with verify-only key").
//
// Verified tokens are remembered (up to a bound) with their expiry, so a
// client that sends the same token with every request costs one signature
// check, not one per request.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "server/state/jwt.h"
#include "server/state/token_provider.h"

namespace server {

// etcd's jwtOptions, from the "name=value" options after "jwt".
struct JwtOptions {
  const jwt::Method* method = nullptr;  // sign-method (required)
  std::string priv_key_file;            // priv-key
  std::string pub_key_file;             // pub-key
  absl::Duration ttl = absl::Minutes(5);  // ttl: a Go duration, default 5m
};

// etcd's ParseWithDefaults: the options of `opts` (unknown names are
// appended to `unknown` for the caller to warn about). InvalidArgument with
// etcd's cause: a ttl that is not a Go duration, a missing or unknown
// sign-method.
[[nodiscard]] absl::StatusOr<JwtOptions> ParseJwtOptions(const std::map<std::string, std::string>& opts,
                                                         std::vector<std::string>* unknown);

class JwtTokens final : public TokenProvider {
 public:
  JwtTokens(const base::Clock* clock, jwt::JwtKey key, absl::Duration ttl)
      : clock_(clock), key_(std::move(key)), ttl_(ttl) {}

  // Reads the key files named by `opts` and builds the provider.
  // FailedPrecondition for a file that cannot be read (etcd: invalid auth
  // options); InvalidArgument with etcd's key errors (missing key data,
  // keys that do not match) or what is wrong with a key.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<JwtTokens>> Open(const base::Clock* clock,
                                                                       const JwtOptions& opts);

  bool CanIssue() const { return key_.CanSign(); }

  absl::StatusOr<std::string> Issue(std::string_view user, uint64_t revision, std::string_view prefix,
                                    uint64_t request_id) override;
  std::optional<AuthInfo> Info(std::string_view token, uint64_t current_revision) override;
  void InvalidateUser(std::string_view) override {}
  void Clear() override {}

 private:
  static constexpr size_t kMaxRemembered = 4096;

  const base::Clock* clock_;
  const jwt::JwtKey key_;
  const absl::Duration ttl_;
  std::mutex mu_;
  std::map<std::string, jwt::Claims, std::less<>> verified_;  // guarded by mu_
};

}  // namespace server
