#include "server/state/token_provider.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/state/errors.h"
#include "server/state/jwt_tokens.h"
#include "server/state/simple_tokens.h"

namespace server {
namespace {

// --auth-token "" (etcd's tokenNop): no token is ever made or accepted.
class NoTokens final : public TokenProvider {
 public:
  absl::StatusOr<std::string> Issue(std::string_view, uint64_t, std::string_view, uint64_t) override {
    return AuthError(base::ErrorKind::kAuthFailed, kErrAuthFailed);
  }
  std::optional<AuthInfo> Info(std::string_view, uint64_t) override { return std::nullopt; }
  void InvalidateUser(std::string_view) override {}
  void Clear() override {}
};

absl::Status Refused(absl::string_view spec, absl::string_view etcd_error, absl::string_view cause) {
  return absl::InvalidArgumentError(absl::StrCat("--auth-token \"", spec, "\": ", etcd_error,
                                                 cause.empty() ? "" : ": ", cause));
}

constexpr char kInvalidOpts[] = "auth: invalid auth options";

}  // namespace

absl::StatusOr<std::unique_ptr<TokenProvider>> NewTokenProvider(std::string_view spec, const base::Clock* clock,
                                                                 absl::Duration simple_ttl,
                                                                 std::vector<std::string>* warnings) {
  // etcd's decomposeOpts: "type,name=value,..."; each option exactly one
  // '=', no name twice.
  std::vector<std::string> parts = absl::StrSplit(absl::string_view(spec.data(), spec.size()), ',');
  const absl::string_view text(spec.data(), spec.size());
  std::map<std::string, std::string> opts;
  for (size_t i = 1; i < parts.size(); ++i) {
    std::vector<std::string> pair = absl::StrSplit(parts[i], '=');
    if (pair.size() != 2) return Refused(text, kInvalidOpts, absl::StrCat("invalid option \"", parts[i], "\""));
    if (!opts.emplace(pair[0], pair[1]).second) {
      return Refused(text, kInvalidOpts, absl::StrCat("option \"", pair[0], "\" given twice"));
    }
  }
  const std::string& type = parts[0];
  if (type == "simple") return std::unique_ptr<TokenProvider>(std::make_unique<SimpleTokens>(clock, simple_ttl));
  if (type.empty()) return std::unique_ptr<TokenProvider>(std::make_unique<NoTokens>());
  if (type != "jwt") return Refused(text, kInvalidOpts, absl::StrCat("unknown token type \"", type, "\""));
  std::vector<std::string> unknown;
  auto jopts = ParseJwtOptions(opts, &unknown);
  if (!jopts.ok()) return Refused(text, kInvalidOpts, jopts.status().message());
  if (!unknown.empty()) warnings->push_back(absl::StrCat("unknown JWT options: [", absl::StrJoin(unknown, " "), "]"));
  auto jwt = JwtTokens::Open(clock, *jopts);
  if (!jwt.ok() && absl::IsFailedPrecondition(jwt.status())) {
    return Refused(text, kInvalidOpts, jwt.status().message());
  }
  if (!jwt.ok()) return Refused(text, jwt.status().message(), "");
  return std::unique_ptr<TokenProvider>(std::move(*jwt));
}

}  // namespace server
