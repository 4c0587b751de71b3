// JwtKey: loading PEM keys and signing/verifying through OpenSSL's EVP
// interface (see jwt.h for the methods).
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "openssl/bio.h"
#include "openssl/bn.h"
#include "openssl/crypto.h"
#include "openssl/ec.h"
#include "openssl/err.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "openssl/pem.h"
#include "openssl/rsa.h"
#include "openssl/x509.h"
#include "server/state/jwt.h"

namespace server::jwt {
namespace {

constexpr Method kMethods[] = {
    {"RS256", Family::kRsa, 256, 0},      {"RS384", Family::kRsa, 384, 0},
    {"RS512", Family::kRsa, 512, 0},      {"PS256", Family::kRsaPss, 256, 0},
    {"PS384", Family::kRsaPss, 384, 0},   {"PS512", Family::kRsaPss, 512, 0},
    {"ES256", Family::kEcdsa, 256, 256},  {"ES384", Family::kEcdsa, 384, 384},
    {"ES512", Family::kEcdsa, 512, 521},  {"HS256", Family::kHmac, 256, 0},
    {"HS384", Family::kHmac, 384, 0},     {"HS512", Family::kHmac, 512, 0},
};

using Pkey = std::shared_ptr<EVP_PKEY>;

const EVP_MD* Digest(int bits) {
  switch (bits) {
    case 256: return EVP_sha256();
    case 384: return EVP_sha384();
    default: return EVP_sha512();
  }
}

// The NIST curve golang-jwt pairs with an ES method (Go's x509 knows only these).
const char* CurveName(int ec_bits) {
  switch (ec_bits) {
    case 256: return "prime256v1";
    case 384: return "secp384r1";
    default: return "secp521r1";
  }
}

absl::Status Invalid(absl::string_view what) {
  ERR_clear_error();
  return absl::InvalidArgumentError(what);
}

// Encrypted keys are refused rather than prompted for.
int NoPassphrase(char*, int, int, void*) { return -1; }

Pkey ReadPem(std::string_view pem, bool is_private) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                 &BIO_free);
  EVP_PKEY* k = is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr)
                           : PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr);
  if (k == nullptr && !is_private) {
    // golang-jwt also takes the public key of a certificate.
    bio.reset(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
      k = X509_get_pubkey(cert);
      X509_free(cert);
    }
  }
  ERR_clear_error();
  return k == nullptr ? nullptr : Pkey(k, &EVP_PKEY_free);
}

// Whether `k` is a key of `m`'s family (and, for ECDSA, on its curve).
absl::Status CheckKind(const Method& m, EVP_PKEY* k, const char* which) {
  if (m.family == Family::kEcdsa) {
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC) {
      return Invalid(absl::StrCat("the ", which, " is not an ECDSA key, as ", m.name, " needs"));
    }
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(k, group, sizeof group, &len) != 1 ||
        std::strcmp(group, CurveName(m.ec_bits)) != 0) {
      return Invalid(absl::StrCat("the ", which, " is on curve ", group, "; ", m.name, " needs ",
                                  CurveName(m.ec_bits)));
    }
    return absl::OkStatus();
  }
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
    return Invalid(absl::StrCat("the ", which, " is not an RSA key, as ", m.name, " needs"));
  }
  return absl::OkStatus();
}

// ECDSA: OpenSSL's DER signature to JWS's fixed-width r||s, and back.
std::string DerToRaw(const std::string& der, int width) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (sig == nullptr) return {};
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  std::string raw(2 * width, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  const bool ok = BN_bn2binpad(r, out, width) == width && BN_bn2binpad(s, out + width, width) == width;
  ECDSA_SIG_free(sig);
  return ok ? raw : std::string();
}

std::string RawToDer(std::string_view raw, int width) {
  const auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(in, width, nullptr);
  BIGNUM* s = BN_bin2bn(in + width, width, nullptr);
  std::string der;
  if (sig != nullptr && r != nullptr && s != nullptr && ECDSA_SIG_set0(sig, r, s) == 1) {
    r = s = nullptr;  // owned by sig now
    unsigned char* buf = nullptr;
    const int len = i2d_ECDSA_SIG(sig, &buf);
    if (len > 0) der.assign(reinterpret_cast<char*>(buf), len);
    OPENSSL_free(buf);
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  return der;
}

int EcWidth(const Method& m) { return (m.ec_bits + 7) / 8; }

// A digest-sign or digest-verify context for `m` over `k`.
struct DigestCtx {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
  bool Init(const Method& m, EVP_PKEY* k, bool sign) {
    EVP_PKEY_CTX* pctx = nullptr;
    const int ok = sign ? EVP_DigestSignInit(ctx.get(), &pctx, Digest(m.hash_bits), nullptr, k)
                        : EVP_DigestVerifyInit(ctx.get(), &pctx, Digest(m.hash_bits), nullptr, k);
    if (ok != 1) return false;
    if (m.family != Family::kRsaPss) return true;
    // golang-jwt signs with a salt as long as the hash and verifies any salt.
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, sign ? RSA_PSS_SALTLEN_DIGEST : RSA_PSS_SALTLEN_AUTO) == 1;
  }
};

std::string Hmac(const Method& m, const std::string& secret, std::string_view input) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(Digest(m.hash_bits), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), out, &len) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

const Method* FindMethod(std::string_view name) {
  for (const Method& m : kMethods) {
    if (name == m.name) return &m;
  }
  return nullptr;
}

absl::StatusOr<JwtKey> JwtKey::Load(const Method& method, std::string_view priv_pem,
                                    std::string_view pub_pem) {
  JwtKey key;
  key.method_ = &method;
  if (method.family == Family::kHmac) {
    if (priv_pem.empty()) return Invalid("auth: missing key data (HMAC needs priv-key)");
    key.secret_ = std::string(priv_pem);
    key.can_sign_ = true;
    return key;
  }
  Pkey priv;
  Pkey pub;
  if (!priv_pem.empty()) {
    priv = ReadPem(priv_pem, true);
    if (priv == nullptr) return Invalid("priv-key: not an unencrypted PEM private key (PKCS#1, SEC 1 or PKCS#8)");
    if (auto s = CheckKind(method, priv.get(), "private key"); !s.ok()) return s;
  }
  if (!pub_pem.empty()) {
    pub = ReadPem(pub_pem, false);
    if (pub == nullptr) return Invalid("pub-key: not a PEM public key (PKIX) or certificate");
    if (auto s = CheckKind(method, pub.get(), "public key"); !s.ok()) return s;
  }
  if (priv == nullptr && pub == nullptr) return Invalid("auth: missing key data");
  if (priv != nullptr && pub != nullptr && EVP_PKEY_eq(priv.get(), pub.get()) != 1) {
    return Invalid("auth: public and private keys don't match");
  }
  // With both keys etcd verifies with the private key's own public half.
  key.can_sign_ = priv != nullptr;
  key.pkey_ = priv != nullptr ? std::move(priv) : std::move(pub);
  return key;
}

absl::StatusOr<std::string> JwtKey::Sign(std::string_view input) const {
  if (!can_sign_) {
    return absl::FailedPreconditionError("auth: token signing attempted with verify-only key");
  }
  if (method_->family == Family::kHmac) return Hmac(*method_, secret_, input);
  DigestCtx d;
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (d.ctx == nullptr || !d.Init(*method_, pkey_.get(), true) ||
      EVP_DigestSign(d.ctx.get(), nullptr, &len, in, input.size()) != 1) {
    return Invalid("signing a JWT failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(d.ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()) != 1) {
    return Invalid("signing a JWT failed");
  }
  sig.resize(len);
  if (method_->family != Family::kEcdsa) return sig;
  std::string raw = DerToRaw(sig, EcWidth(*method_));
  if (raw.empty()) return Invalid("signing a JWT failed");
  return raw;
}

bool JwtKey::Verify(std::string_view input, std::string_view signature) const {
  if (method_->family == Family::kHmac) {
    const std::string want = Hmac(*method_, secret_, input);
    return !want.empty() && want.size() == signature.size() &&
           CRYPTO_memcmp(want.data(), signature.data(), want.size()) == 0;
  }
  std::string der;
  if (method_->family == Family::kEcdsa) {
    const int width = EcWidth(*method_);
    if (signature.size() != static_cast<size_t>(2 * width)) return false;
    der = RawToDer(signature, width);
    if (der.empty()) return false;
    signature = der;
  }
  DigestCtx d;
  const bool ok = d.ctx != nullptr && d.Init(*method_, pkey_.get(), false) &&
                  EVP_DigestVerify(d.ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                   signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                                   input.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace server::jwt
