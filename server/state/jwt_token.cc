// The JWS compact form and etcd's claims (see jwt.h).
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "server/state/jwt.h"

namespace server::jwt {
namespace {

using Json = nlohmann::json;

absl::Status Bad(const char* why) { return absl::InvalidArgumentError(why); }

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Go's json.Marshal of a map: keys sorted (nlohmann's objects are), no
// spaces; invalid UTF-8 replaced rather than refused.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// A segment decoded and parsed as a JSON object, as golang-jwt decodes the
// header and MapClaims; nullopt otherwise.
std::optional<Json> DecodeObject(std::string_view segment) {
  auto bytes = Base64UrlDecode(segment);
  if (!bytes) return std::nullopt;
  Json j = Json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  return j;
}

// golang-jwt's NumericDate checks on MapClaims, at second precision: an
// absent claim or 0 passes; a claim that is not a number fails.
enum class TimeRule { kBefore, kNotBefore };  // now < t (exp) / now >= t (nbf, iat)
bool TimeClaimHolds(const Json& claims, const char* name, int64_t now_s, TimeRule rule) {
  auto it = claims.find(name);
  if (it == claims.end()) return true;
  if (!it->is_number()) return false;
  const double v = it->get<double>();
  if (v == 0) return true;
  const double t = std::trunc(v);
  return rule == TimeRule::kBefore ? static_cast<double>(now_s) < t : static_cast<double>(now_s) >= t;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) { return absl::WebSafeBase64Escape(Sv(bytes)); }

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  std::string out;
  if (!absl::WebSafeBase64Unescape(Sv(text), &out)) return std::nullopt;
  return out;
}

absl::StatusOr<std::string> SignToken(const JwtKey& key, const Claims& claims) {
  const Json header = {{"alg", std::string(key.method().name)}, {"typ", "JWT"}};
  const Json body = {{"exp", claims.exp}, {"revision", claims.revision}, {"username", claims.username}};
  std::string input = absl::StrCat(Base64UrlEncode(Dump(header)), ".", Base64UrlEncode(Dump(body)));
  auto sig = key.Sign(input);
  if (!sig.ok()) return sig.status();
  return absl::StrCat(input, ".", Base64UrlEncode(*sig));
}

absl::StatusOr<Claims> VerifyToken(const JwtKey& key, std::string_view token, int64_t now_s) {
  std::vector<std::string_view> parts;
  for (absl::string_view part : absl::StrSplit(Sv(token), '.')) parts.emplace_back(part.data(), part.size());
  if (parts.size() != 3) return Bad("token contains an invalid number of segments");
  auto header = DecodeObject(parts[0]);
  if (!header) return Bad("malformed header");
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get<std::string>() != key.method().name) {
    return Bad("invalid signing method");
  }
  auto claims = DecodeObject(parts[1]);
  if (!claims) return Bad("malformed claims");
  auto sig = Base64UrlDecode(parts[2]);
  const std::string_view input = token.substr(0, parts[0].size() + 1 + parts[1].size());
  if (!sig || !key.Verify(input, *sig)) return Bad("signature is invalid");
  if (!TimeClaimHolds(*claims, "exp", now_s, TimeRule::kBefore)) return Bad("token is expired");
  if (!TimeClaimHolds(*claims, "iat", now_s, TimeRule::kNotBefore)) return Bad("token used before issued");
  if (!TimeClaimHolds(*claims, "nbf", now_s, TimeRule::kNotBefore)) return Bad("token is not valid yet");
  // etcd asserts these types (and crashes on others); here they are invalid.
  auto user = claims->find("username");
  auto rev = claims->find("revision");
  if (user == claims->end() || !user->is_string()) return Bad("no username claim");
  if (rev == claims->end() || !rev->is_number()) return Bad("no revision claim");
  const double r = rev->get<double>();
  if (!(r >= 0) || r >= 18446744073709551616.0) return Bad("revision claim out of range");
  Claims out;
  out.username = user->get<std::string>();
  // Go converts the float64 the claim decoded to; an exact integer stays exact.
  out.revision = rev->is_number_unsigned() ? rev->get<uint64_t>() : static_cast<uint64_t>(r);
  // Absent or 0: no expiry (the checks above passed, so a present one is a number).
  out.exp = std::numeric_limits<int64_t>::max();
  auto exp = claims->find("exp");
  if (exp != claims->end() && exp->get<double>() != 0) {
    const double e = std::trunc(exp->get<double>());
    if (e < 9.2e18) out.exp = static_cast<int64_t>(e);
  }
  return out;
}

}  // namespace server::jwt
