// JWT tokens (server/state/jwt*.{h,cc}, token_provider.h): every sign
// method family signs and verifies; the token's bytes are what etcd (Go's
// golang-jwt) writes; expiry against a manual clock; tampered, truncated,
// re-algorithmed and foreign-key tokens refused; a verify-only key;
// --auth-token's option parsing and its refusals as etcd 3.4's.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/errors.h"
#include "openssl/bio.h"
#include "openssl/evp.h"
#include "openssl/pem.h"
#include "server/state/jwt.h"
#include "server/state/jwt_tokens.h"
#include "server/state/token_provider.h"
#include "tests/common/temp_dir.h"

namespace ketcd_test {
namespace {

namespace jwt = server::jwt;

struct Pem {
  std::string priv;
  std::string pub;
};

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// A fresh key pair as PEM text: "RSA" (2048 bits) or an EC curve name.
Pem NewKey(const std::string& kind) {
  EVP_PKEY* k = kind == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                              : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", kind.c_str());
  REQUIRE(k != nullptr);
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(priv, k, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  REQUIRE(PEM_write_bio_PUBKEY(pub, k) == 1);
  EVP_PKEY_free(k);
  return Pem{BioText(priv), BioText(pub)};
}

const Pem& RsaKey() {
  static const Pem pem = NewKey("RSA");
  return pem;
}

const Pem& KeyFor(const jwt::Method& m) {
  static const Pem p256 = NewKey("P-256");
  static const Pem p384 = NewKey("P-384");
  static const Pem p521 = NewKey("P-521");
  static const Pem secret{"ketcd-test-secret", ""};
  switch (m.family) {
    case jwt::Family::kEcdsa: return m.ec_bits == 256 ? p256 : m.ec_bits == 384 ? p384 : p521;
    case jwt::Family::kHmac: return secret;
    default: return RsaKey();
  }
}

jwt::JwtKey MustLoad(const char* method, const std::string& priv, const std::string& pub) {
  const jwt::Method* m = jwt::FindMethod(method);
  REQUIRE(m != nullptr);
  auto key = jwt::JwtKey::Load(*m, priv, pub);
  INFO(key.status().ToString());
  REQUIRE(key.ok());
  return *std::move(key);
}

std::vector<std::string> Split(const std::string& token) {
  std::vector<std::string> out(1);
  for (char c : token) {
    if (c == '.') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

constexpr int64_t kNow = 1700000000;

TEST_CASE("jwt: every sign method signs and verifies etcd's claims", "[jwt]") {
  for (const char* name : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                           "HS256", "HS384", "HS512"}) {
    INFO(name);
    const jwt::Method* m = jwt::FindMethod(name);
    REQUIRE(m != nullptr);
    const Pem& pem = KeyFor(*m);
    jwt::JwtKey key = MustLoad(name, pem.priv, pem.pub);
    CHECK(key.CanSign());
    auto token = jwt::SignToken(key, {"alice", 42, kNow + 300});
    REQUIRE(token.ok());
    auto parts = Split(*token);
    REQUIRE(parts.size() == 3);
    CHECK(*jwt::Base64UrlDecode(parts[0]) == absl::StrCat(R"({"alg":")", name, R"(","typ":"JWT"})"));
    CHECK(*jwt::Base64UrlDecode(parts[1]) == R"({"exp":1700000300,"revision":42,"username":"alice"})");
    if (m->family == jwt::Family::kEcdsa) {
      // JWS's fixed-width r||s, not DER.
      CHECK(jwt::Base64UrlDecode(parts[2])->size() == static_cast<size_t>(2 * ((m->ec_bits + 7) / 8)));
    }
    auto claims = jwt::VerifyToken(key, *token, kNow);
    REQUIRE(claims.ok());
    CHECK(claims->username == "alice");
    CHECK(claims->revision == 42);
    CHECK(claims->exp == kNow + 300);
    // The public key alone verifies (an etcd member given only pub-key).
    if (m->family != jwt::Family::kHmac) {
      jwt::JwtKey verify_only = MustLoad(name, "", pem.pub);
      CHECK_FALSE(verify_only.CanSign());
      CHECK(jwt::VerifyToken(verify_only, *token, kNow).ok());
      CHECK(absl::IsFailedPrecondition(jwt::SignToken(verify_only, {"alice", 1, kNow}).status()));
    }
  }
}

TEST_CASE("jwt: an HS256 token is byte for byte what etcd signs", "[jwt]") {
  // Computed independently (Python's hmac) from Go's encoding of etcd's claims.
  const std::string want =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJleHAiOjE3MDAwMDAzMDAsInJldmlzaW9uIjo3LCJ1c2VybmFtZSI6ImFsaWNlIn0."
      "w7exGwCGqjTsLKqL6V3n5eZHfYzWamiX7obu-C-S7Ik";
  jwt::JwtKey key = MustLoad("HS256", "ketcd-test-secret", "");
  auto token = jwt::SignToken(key, {"alice", 7, 1700000300});
  REQUIRE(token.ok());
  CHECK(*token == want);
  CHECK(jwt::VerifyToken(key, want, 1700000299).ok());
}

TEST_CASE("jwt: expired, tampered, re-algorithmed and foreign tokens are refused", "[jwt]") {
  jwt::JwtKey key = MustLoad("RS256", RsaKey().priv, RsaKey().pub);
  const std::string token = *jwt::SignToken(key, {"alice", 5, kNow + 10});
  CHECK(jwt::VerifyToken(key, token, kNow + 9).ok());
  CHECK_FALSE(jwt::VerifyToken(key, token, kNow + 10).ok());  // valid while now < exp
  auto parts = Split(token);
  // Claims changed under the same signature.
  const std::string root_claims = jwt::Base64UrlEncode(R"({"exp":1700000010,"revision":5,"username":"root"})");
  CHECK_FALSE(jwt::VerifyToken(key, absl::StrCat(parts[0], ".", root_claims, ".", parts[2]), kNow).ok());
  // One signature bit flipped; signature cut; segments missing or extra.
  std::string sig = *jwt::Base64UrlDecode(parts[2]);
  sig[sig.size() / 2] ^= 0x01;
  CHECK_FALSE(jwt::VerifyToken(key, absl::StrCat(parts[0], ".", parts[1], ".", jwt::Base64UrlEncode(sig)), kNow).ok());
  CHECK_FALSE(jwt::VerifyToken(key, absl::StrCat(parts[0], ".", parts[1], ".", parts[2].substr(0, 40)), kNow).ok());
  CHECK_FALSE(jwt::VerifyToken(key, absl::StrCat(parts[0], ".", parts[1]), kNow).ok());
  CHECK_FALSE(jwt::VerifyToken(key, absl::StrCat(token, ".x"), kNow).ok());
  CHECK_FALSE(jwt::VerifyToken(key, "not a token", kNow).ok());
  CHECK_FALSE(jwt::VerifyToken(key, "", kNow).ok());
  // "alg":"none", and HS256 keyed with the public key (algorithm confusion).
  const std::string none = jwt::Base64UrlEncode(R"({"alg":"none","typ":"JWT"})");
  CHECK_FALSE(jwt::VerifyToken(key, absl::StrCat(none, ".", parts[1], "."), kNow).ok());
  jwt::JwtKey confused = MustLoad("HS256", RsaKey().pub, "");
  const std::string forged = *jwt::SignToken(confused, {"root", 5, kNow + 10});
  CHECK_FALSE(jwt::VerifyToken(key, forged, kNow).ok());
  // Another RSA key's signature; the same key under another method.
  const Pem other = NewKey("RSA");
  jwt::JwtKey foreign = MustLoad("RS256", other.priv, other.pub);
  CHECK_FALSE(jwt::VerifyToken(key, *jwt::SignToken(foreign, {"alice", 5, kNow + 10}), kNow).ok());
  jwt::JwtKey rs384 = MustLoad("RS384", RsaKey().priv, "");
  CHECK_FALSE(jwt::VerifyToken(rs384, token, kNow).ok());
  // Claims etcd's type assertions need (it would crash; ketcd refuses).
  jwt::JwtKey hs = MustLoad("HS256", "s", "");
  auto sign_raw = [&](const std::string& claims_json) {
    std::string input = absl::StrCat(jwt::Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})"), ".",
                                     jwt::Base64UrlEncode(claims_json));
    return absl::StrCat(input, ".", jwt::Base64UrlEncode(*hs.Sign(input)));
  };
  CHECK(jwt::VerifyToken(hs, sign_raw(R"({"revision":3,"username":"u"})"), kNow).ok());  // no exp: no expiry
  CHECK_FALSE(jwt::VerifyToken(hs, sign_raw(R"({"revision":3})"), kNow).ok());
  CHECK_FALSE(jwt::VerifyToken(hs, sign_raw(R"({"revision":"3","username":"u"})"), kNow).ok());
  CHECK_FALSE(jwt::VerifyToken(hs, sign_raw(R"({"exp":"soon","revision":3,"username":"u"})"), kNow).ok());
  CHECK_FALSE(jwt::VerifyToken(hs, sign_raw(R"({"nbf":1700000001,"revision":3,"username":"u"})"), kNow).ok());
  CHECK_FALSE(jwt::VerifyToken(hs, sign_raw(R"([1,2])"), kNow).ok());
}

TEST_CASE("jwt: the provider issues at the auth revision and expires tokens on its clock", "[jwt]") {
  base::ManualClock clock{absl::FromUnixSeconds(kNow) + absl::Milliseconds(700)};
  server::JwtTokens tokens(&clock, MustLoad("ES256", KeyFor(*jwt::FindMethod("ES256")).priv, ""), absl::Seconds(10));
  auto token = tokens.Issue("bob", 9, "ignoredprefix", 77);
  REQUIRE(token.ok());
  // exp = the Unix second of now + ttl (Go's Unix() floors).
  CHECK(*jwt::Base64UrlDecode(Split(*token)[1]) == R"({"exp":1700000010,"revision":9,"username":"bob"})");
  auto who = tokens.Info(*token, 12);  // the token's revision, not the store's
  REQUIRE(who.has_value());
  CHECK(who->username == "bob");
  CHECK(who->revision == 9);
  tokens.InvalidateUser("bob");  // a JWT cannot be recalled (etcd)
  tokens.Clear();
  clock.Advance(absl::Milliseconds(9200));  // kNow + 9.9 s
  CHECK(tokens.Info(*token, 12).has_value());
  clock.Advance(absl::Milliseconds(100));  // kNow + 10 s: expired, even though remembered as verified
  CHECK_FALSE(tokens.Info(*token, 12).has_value());
  CHECK_FALSE(tokens.Info(*token + "x", 12).has_value());
}

// ---- --auth-token parsing (NewTokenProvider)

struct KeyFiles {
  TempDir tmp;
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = tmp.Sub(name);
    std::ofstream(path) << text;
    return path;
  }
};

absl::StatusOr<std::unique_ptr<server::TokenProvider>> Provider(const std::string& spec,
                                                                std::vector<std::string>* warnings = nullptr) {
  static base::ManualClock clock{absl::FromUnixSeconds(kNow)};
  std::vector<std::string> ignored;
  return server::NewTokenProvider(spec, &clock, absl::Seconds(300), warnings ? warnings : &ignored);
}

void CheckRefused(const std::string& spec, const std::string& text) {
  INFO(spec);
  auto p = Provider(spec);
  REQUIRE_FALSE(p.ok());
  CHECK(absl::IsInvalidArgument(p.status()));
  INFO(p.status().message());
  CHECK(absl::StrContains(p.status().message(), text));
}

TEST_CASE("jwt: --auth-token options are parsed and refused as etcd 3.4 does", "[jwt][config]") {
  KeyFiles f;
  const std::string rsa = f.Write("rsa.key", RsaKey().priv);
  const std::string rsa_pub = f.Write("rsa.pub", RsaKey().pub);
  const Pem ec = NewKey("P-256");
  const std::string ec_key = f.Write("ec.key", ec.priv);
  const std::string ec_pub = f.Write("ec.pub", ec.pub);
  const std::string p384 = f.Write("p384.key", NewKey("P-384").priv);
  const std::string other_pub = f.Write("other.pub", NewKey("RSA").pub);
  const std::string junk = f.Write("junk.key", "not a key\n");

  // Working specs.
  auto simple = Provider("simple,anything=goes");
  REQUIRE(simple.ok());
  auto jwt_ok = Provider(absl::StrCat("jwt,pub-key=", rsa_pub, ",priv-key=", rsa, ",sign-method=RS256,ttl=1h"));
  REQUIRE(jwt_ok.ok());
  CHECK((*jwt_ok)->Issue("u", 1, "", 0).ok());
  auto verify_only = Provider(absl::StrCat("jwt,pub-key=", ec_pub, ",sign-method=ES256"));
  REQUIRE(verify_only.ok());
  auto refused = (*verify_only)->Issue("u", 1, "", 0);
  CHECK(refused.status().message() == "auth: token signing attempted with verify-only key");
  std::vector<std::string> warnings;
  REQUIRE(Provider(absl::StrCat("jwt,priv-key=", ec_key, ",sign-method=ES256,color=blue"), &warnings).ok());
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == "unknown JWT options: [color]");
  // --auth-token "": etcd's no-op provider; Authenticate fails.
  auto none = Provider("");
  REQUIRE(none.ok());
  CHECK(base::KindOf((*none)->Issue("u", 1, "p", 1).status()) == base::ErrorKind::kAuthFailed);
  CHECK_FALSE((*none)->Info("p.1", 1).has_value());

  // etcd: "auth: invalid auth options" (the cause follows).
  CheckRefused("JWT", "auth: invalid auth options: unknown token type \"JWT\"");
  CheckRefused("jwt,", "auth: invalid auth options: invalid option \"\"");
  CheckRefused("jwt,ttl=1m=2m,sign-method=RS256", "auth: invalid auth options");
  CheckRefused(absl::StrCat("jwt,priv-key=", rsa, ",priv-key=", rsa, ",sign-method=RS256"),
               "option \"priv-key\" given twice");
  CheckRefused(absl::StrCat("jwt,priv-key=", rsa, ",sign-method=XX256"),
               "auth: invalid auth options: auth: invalid auth signature method");
  CheckRefused(absl::StrCat("jwt,priv-key=", rsa), "auth: invalid auth signature method");
  CheckRefused(absl::StrCat("jwt,priv-key=", rsa, ",sign-method=none"), "unsupported signing method: none");
  CheckRefused(absl::StrCat("jwt,priv-key=", rsa, ",sign-method=RS256,ttl=abc"),
               "auth: invalid auth options: time: invalid duration \"abc\"");
  CheckRefused("jwt,pub-key=/nonexistent/k.pub,sign-method=RS256",
               "auth: invalid auth options: open /nonexistent/k.pub: no such file or directory");
  // etcd's key errors.
  CheckRefused("jwt,sign-method=RS256", "auth: missing key data");
  CheckRefused("jwt,sign-method=HS256", "auth: missing key data");
  CheckRefused(absl::StrCat("jwt,priv-key=", rsa, ",pub-key=", other_pub, ",sign-method=RS256"),
               "auth: public and private keys don't match");
  CheckRefused(absl::StrCat("jwt,priv-key=", ec_key, ",sign-method=RS256"), "not an RSA key");
  CheckRefused(absl::StrCat("jwt,priv-key=", rsa, ",sign-method=ES256"), "not an ECDSA key");
  CheckRefused(absl::StrCat("jwt,priv-key=", p384, ",sign-method=ES256"), "needs prime256v1");
  CheckRefused(absl::StrCat("jwt,priv-key=", junk, ",sign-method=PS256"), "priv-key: not an unencrypted PEM");
  CheckRefused(absl::StrCat("jwt,pub-key=", junk, ",sign-method=RS256"), "pub-key: not a PEM public key");
  // The message names the flag and the value.
  auto p = Provider("JWT");
  CHECK(absl::StartsWith(p.status().message(), "--auth-token \"JWT\": "));
}

TEST_CASE("jwt: base64url takes padded and unpadded text", "[jwt]") {
  CHECK(jwt::Base64UrlEncode("\xfb\xff") == "-_8");
  CHECK(*jwt::Base64UrlDecode("-_8") == "\xfb\xff");
  CHECK(*jwt::Base64UrlDecode("-_8=") == "\xfb\xff");
  CHECK_FALSE(jwt::Base64UrlDecode("+/8").has_value());
  CHECK_FALSE(jwt::Base64UrlDecode("a").has_value());
}

}  // namespace
}  // namespace ketcd_test
