// JSON Web Tokens (RFC 7519) as etcd 3.4 signs and checks them for
// --auth-token jwt (github.com/golang-jwt/jwt): the JWS compact form
// base64url(header) "." base64url(claims) "." base64url(signature), the
// header {"alg":"<method>","typ":"JWT"}, and etcd's claims
// {"exp":<unix s>,"revision":<auth revision>,"username":"<name>"} (keys
// sorted, as Go marshals a map), so that a token ketcd signs verifies in
// etcd given the same keys, and the other way round.
//
// Signing and verifying go through OpenSSL's EVP interface; nothing here
// is hand-rolled cryptography. Methods (golang-jwt's names):
//   RS256/384/512  RSASSA-PKCS1-v1_5 with SHA-2
//   PS256/384/512  RSASSA-PSS, salt as long as the hash (verify: any salt)
//   ES256/384/512  ECDSA on P-256/P-384/P-521, signature r||s fixed width
//   HS256/384/512  HMAC with SHA-2, the secret being the priv-key file
//
// Thread-safety: a JwtKey is immutable after Load; Sign and Verify may run
// concurrently on any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace server::jwt {

enum class Family { kRsa, kRsaPss, kEcdsa, kHmac };

struct Method {
  const char* name;  // "RS256"
  Family family;
  int hash_bits;   // 256, 384, 512: SHA-2 variant
  int ec_bits;     // ES: the curve's size (256, 384, 521); 0 otherwise
};

// The method golang-jwt registers under `name` (case-sensitive); nullptr
// for any other name.
const Method* FindMethod(std::string_view name);

// A key for one method: a private key (signs and verifies), a public key
// only (verifies; etcd's verify-only member), or an HMAC secret.
class JwtKey {
 public:
  // From the PEM texts of the key files (either may be empty; HMAC takes
  // the private file's bytes as the secret). Errors (InvalidArgument) say
  // what is wrong: no key, not PEM, not a key of the method's family, an
  // EC key on another curve than the method's, keys that do not match.
  [[nodiscard]] static absl::StatusOr<JwtKey> Load(const Method& method, std::string_view priv_pem,
                                                   std::string_view pub_pem);

  const Method& method() const { return *method_; }
  bool CanSign() const { return can_sign_; }

  // The signature of `input` (the first two segments joined by "."), raw
  // bytes in JWS form. FailedPrecondition for a verify-only key.
  [[nodiscard]] absl::StatusOr<std::string> Sign(std::string_view input) const;
  // Whether `signature` (raw bytes) is a valid signature of `input`.
  bool Verify(std::string_view input, std::string_view signature) const;

 private:
  JwtKey() = default;
  const Method* method_ = nullptr;
  std::shared_ptr<evp_pkey_st> pkey_;  // RSA, PSS, EC
  std::string secret_;                 // HMAC
  bool can_sign_ = false;
};

// etcd's claims.
struct Claims {
  std::string username;
  uint64_t revision = 0;
  // Unix seconds; the token is valid while now < exp (VerifyToken: the
  // largest int64 for a token without expiry).
  int64_t exp = 0;
};

// The signed token for `claims`.
[[nodiscard]] absl::StatusOr<std::string> SignToken(const JwtKey& key, const Claims& claims);

// The claims of `token` when golang-jwt's Parse with etcd's key function
// would accept it at Unix time `now_s`: three segments, a JSON header whose
// "alg" is the key's method, a JSON object of claims whose numeric "exp"
// is after now (absent or 0: no expiry) and whose numeric "nbf" and "iat"
// are not after now, a valid signature, and (where etcd would crash
// instead) a string "username" and a numeric "revision". Otherwise
// InvalidArgument saying why (for the log).
[[nodiscard]] absl::StatusOr<Claims> VerifyToken(const JwtKey& key, std::string_view token, int64_t now_s);

// Base64url without padding (RFC 7515 §2); Decode also takes padded text,
// as golang-jwt does. nullopt for a character outside the alphabet or an
// impossible length.
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace server::jwt
