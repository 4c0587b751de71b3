#include "server/state/jwt_tokens.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/go_duration.h"

namespace server {
namespace {

// FailedPrecondition with Go's os.ReadFile error text: "open <path>: no such file or directory".
absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string why = std::strerror(errno);
    if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
    return absl::FailedPreconditionError(absl::StrCat("open ", path, ": ", why));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return absl::FailedPreconditionError(absl::StrCat("read ", path, ": input/output error"));
  return buf.str();
}

}  // namespace

absl::StatusOr<JwtOptions> ParseJwtOptions(const std::map<std::string, std::string>& opts,
                                           std::vector<std::string>* unknown) {
  auto get = [&](const char* name) -> std::string {
    auto it = opts.find(name);
    return it == opts.end() ? std::string() : it->second;
  };
  JwtOptions out;
  if (std::string ttl = get("ttl"); !ttl.empty()) {
    auto d = base::ParseGoDuration(ttl);
    if (!d.ok()) return d.status();
    out.ttl = *d;
  }
  out.pub_key_file = get("pub-key");
  out.priv_key_file = get("priv-key");
  const std::string method = get("sign-method");
  out.method = jwt::FindMethod(method);
  // golang-jwt also registers "none" and "EdDSA", which etcd's key
  // loading then refuses.
  if (method == "none" || method == "EdDSA") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported signing method: ", method));
  }
  if (out.method == nullptr) return absl::InvalidArgumentError("auth: invalid auth signature method");
  for (const auto& [name, value] : opts) {
    if (name != "ttl" && name != "pub-key" && name != "priv-key" && name != "sign-method") {
      unknown->push_back(name);
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<JwtTokens>> JwtTokens::Open(const base::Clock* clock, const JwtOptions& opts) {
  std::string priv;
  std::string pub;
  if (!opts.priv_key_file.empty()) {
    auto r = ReadKeyFile(opts.priv_key_file);
    if (!r.ok()) return r.status();
    priv = std::move(*r);
  }
  if (!opts.pub_key_file.empty()) {
    auto r = ReadKeyFile(opts.pub_key_file);
    if (!r.ok()) return r.status();
    pub = std::move(*r);
  }
  auto key = jwt::JwtKey::Load(*opts.method, priv, pub);
  if (!key.ok()) return key.status();
  return std::make_unique<JwtTokens>(clock, std::move(*key), opts.ttl);
}

absl::StatusOr<std::string> JwtTokens::Issue(std::string_view user, uint64_t revision, std::string_view,
                                             uint64_t) {
  if (!key_.CanSign()) {
    // etcd returns this error unconverted: gRPC code Unknown, its own text.
    return absl::UnknownError("auth: token signing attempted with verify-only key");
  }
  jwt::Claims claims;
  claims.username = std::string(user);
  claims.revision = revision;
  claims.exp = absl::ToUnixSeconds(clock_->Now() + ttl_);
  return jwt::SignToken(key_, claims);
}

std::optional<AuthInfo> JwtTokens::Info(std::string_view token, uint64_t) {
  const int64_t now_s = absl::ToUnixSeconds(clock_->Now());
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = verified_.find(token);
    if (it != verified_.end()) {
      if (now_s < it->second.exp) return AuthInfo{it->second.username, it->second.revision};
      verified_.erase(it);
      return std::nullopt;
    }
  }
  auto claims = jwt::VerifyToken(key_, token, now_s);
  if (!claims.ok()) return std::nullopt;
  AuthInfo who{claims->username, claims->revision};
  std::lock_guard<std::mutex> lock(mu_);
  if (verified_.size() >= kMaxRemembered) verified_.clear();
  verified_.emplace(std::string(token), std::move(*claims));
  return who;
}

}  // namespace server
