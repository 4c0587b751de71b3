#include "server/net/self_signed.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <system_error>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "server/net/tls_files.h"

namespace server {
namespace {

namespace fs = std::filesystem;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
void FreeBio(BIO* b) { BIO_free(b); }
void FreeNames(GENERAL_NAMES* n) { GENERAL_NAMES_free(n); }
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, FreeBio>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, FreeNames>>;
using NamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME, GENERAL_NAME_free>>;

constexpr char kValidityFlag[] = "--self-signed-cert-validity";

// An error naming what failed, with OpenSSL's reason (its queue is cleared).
absl::Status OpenSslError(const std::string& what) {
  char reason[256] = "unknown error";
  if (unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  return absl::InternalError(absl::StrCat(what, ": ", reason));
}

absl::StatusOr<PkeyPtr> NewP521Key() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_secp521r1) != 1 ||
      EVP_PKEY_CTX_set_ec_param_enc(ctx.get(), OPENSSL_EC_NAMED_CURVE) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return OpenSslError("cannot generate an ECDSA P-521 key");
  }
  return PkeyPtr(raw);
}

// "127.0.0.1:2379" -> "127.0.0.1", "[::1]:2379" -> "::1", "name" -> "name".
std::string HostOf(const std::string& host_port) {
  std::string h = host_port;
  if (!h.empty() && h.front() == '[') {
    const size_t close = h.find(']');
    return close == std::string::npos ? h.substr(1) : h.substr(1, close - 1);
  }
  // One colon: host:port; more than one: a bare IPv6 address.
  if (const size_t colon = h.rfind(':'); colon != std::string::npos && h.find(':') == colon) {
    h.resize(colon);
  }
  return h;
}

// IP addresses as IP SANs, anything else as a DNS SAN, as Go's SelfCert.
absl::StatusOr<NamesPtr> SubjectAltNames(const std::vector<std::string>& hosts) {
  NamesPtr names(GENERAL_NAMES_new());
  std::vector<std::string> seen;
  for (const std::string& hp : hosts) {
    const std::string host = HostOf(hp);
    if (host.empty() || std::find(seen.begin(), seen.end(), host) != seen.end()) continue;
    seen.push_back(host);
    NamePtr name(GENERAL_NAME_new());
    if (ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str())) {
      GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip);
    } else {
      ERR_clear_error();
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      if (dns == nullptr || ASN1_STRING_set(dns, host.data(), static_cast<int>(host.size())) != 1) {
        ASN1_IA5STRING_free(dns);
        return OpenSslError(absl::StrCat("cannot encode the host name ", host));
      }
      GENERAL_NAME_set0_value(name.get(), GEN_DNS, dns);
    }
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) return OpenSslError("cannot add a SAN");
    name.release();  // owned by `names` now
  }
  return names;
}

// Extensions given in OpenSSL's configuration syntax ("critical,CA:FALSE").
absl::Status AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  const bool ok = ext != nullptr && X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok ? absl::OkStatus() : OpenSslError(absl::StrCat("cannot add the extension ", value));
}

absl::Status SetIdentity(X509* cert, const SelfSignedOptions& opts, absl::Time now) {
  BnPtr serial(BN_new());
  // A random 128-bit serial, odd so that it is never zero.
  if (!serial || BN_rand(serial.get(), 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ODD) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslError("cannot make a certificate serial number");
  }
  X509_NAME* name = X509_get_subject_name(cert);
  const auto* org = reinterpret_cast<const unsigned char*>("etcd");
  if (X509_set_version(cert, 2) != 1 ||  // v3
      X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, org, -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert, name) != 1) {
    return OpenSslError("cannot name the certificate");
  }
  // X.509 times end with year 9999.
  const absl::Time last = absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone());
  const absl::Time to = now + absl::Hours(24 * 365) * static_cast<int64_t>(opts.validity_years);
  if (to > last) {
    return absl::InvalidArgumentError(absl::StrCat(kValidityFlag, " ", opts.validity_years,
                                                   ": the certificate would end after the year 9999"));
  }
  if (ASN1_TIME_set(X509_getm_notBefore(cert), absl::ToTimeT(now)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), absl::ToTimeT(to)) == nullptr) {
    return OpenSslError("cannot set the certificate's validity");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Pem(const std::function<int(BIO*)>& write, const char* what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return OpenSslError(absl::StrCat("cannot encode the ", what));
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

// Writes `data` to a temp file next to `path`, syncs it and renames it over
// `path`; the temp file is removed on failure.
absl::Status WriteAtomically(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());  // created 0600
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  const char* failed = nullptr;
  int err = 0;
  auto fail = [&](const char* call) {
    failed = call;
    err = errno;
  };
  if (::fchmod(fd, mode) != 0) fail("chmod");
  for (size_t off = 0; failed == nullptr && off < data.size();) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    if (n > 0) off += static_cast<size_t>(n);
  }
  if (failed == nullptr && ::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0 && failed == nullptr) fail("close");
  if (failed == nullptr && ::rename(tmp.c_str(), path.c_str()) != 0) fail("rename");
  if (failed != nullptr) {
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, " (", failed, "): ", std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return absl::InternalError(absl::StrCat("cannot sync ", dir, ": ", std::strerror(err)));
  }
  ::close(fd);
  return absl::OkStatus();
}

SelfSignedFiles FilesIn(const std::string& dir) {
  return SelfSignedFiles{(fs::path(dir) / "cert.pem").string(), (fs::path(dir) / "key.pem").string()};
}

// Makes `dir` and its missing parents 0700, as etcd's MkdirAll(dir, 0700).
absl::Status MakePrivateDir(const std::string& dir) {
  fs::path path;
  for (const fs::path& part : fs::path(dir)) {
    path /= part;
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("cannot create ", path.string(), ": ", std::strerror(errno)));
    }
  }
  std::error_code ec;
  // Best effort, as the data dir's own mode: a dir made before stays usable.
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SelfSignedPem> MakeSelfSigned(const SelfSignedOptions& opts, absl::Time now) {
  if (opts.validity_years == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kValidityFlag, " ", opts.validity_years, ": must be at least 1 (year)"));
  }
  auto key = NewP521Key();
  if (!key.ok()) return key.status();
  X509Ptr cert(X509_new());
  if (!cert) return OpenSslError("cannot make a certificate");
  if (auto s = SetIdentity(cert.get(), opts, now); !s.ok()) return s;
  auto names = SubjectAltNames(opts.hosts);
  if (!names.ok()) return names.status();
  if (X509_set_pubkey(cert.get(), key->get()) != 1 ||
      X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names->get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError("cannot fill in the certificate");
  }
  for (auto [nid, value] : {std::pair{NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                            std::pair{NID_ext_key_usage, "serverAuth"},
                            std::pair{NID_basic_constraints, "critical,CA:FALSE"}}) {
    if (auto s = AddExtension(cert.get(), nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert.get(), key->get(), EVP_sha512()) == 0) return OpenSslError("cannot sign the certificate");
  SelfSignedPem out;
  auto cert_pem = Pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); }, "certificate");
  // "EC PRIVATE KEY" (SEC 1), the form etcd writes.
  auto key_pem = Pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey_traditional(b, key->get(), nullptr, nullptr, 0, nullptr, nullptr);
  }, "private key");
  if (!cert_pem.ok()) return cert_pem.status();
  if (!key_pem.ok()) return key_pem.status();
  return SelfSignedPem{std::move(*cert_pem), std::move(*key_pem)};
}

absl::StatusOr<std::optional<SelfSignedFiles>> FindSelfSigned(const std::string& dir,
                                                              const std::string& flag) {
  SelfSignedFiles files = FilesIn(dir);
  std::error_code ec;
  if (!fs::exists(files.cert_file, ec) || !fs::exists(files.key_file, ec)) return std::nullopt;
  auto s = CheckKeyPair(absl::StrCat(flag, " certificate"), files.cert_file,
                        absl::StrCat(flag, " key"), files.key_file);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat(s.message(), " (remove ", dir, " to make a new pair)"));
  }
  return files;
}

absl::StatusOr<SelfSignedFiles> WriteSelfSigned(const std::string& dir, const SelfSignedPem& pem) {
  SelfSignedFiles files = FilesIn(dir);
  if (auto s = MakePrivateDir(dir); !s.ok()) return s;
  // The certificate marks a complete pair: a lone leftover one goes first.
  if (::unlink(files.cert_file.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("cannot remove ", files.cert_file, ": ", std::strerror(errno)));
  }
  if (auto s = WriteAtomically(files.key_file, pem.key_pem, 0600); !s.ok()) return s;
  if (auto s = WriteAtomically(files.cert_file, pem.cert_pem, 0644); !s.ok()) return s;
  if (auto s = SyncDir(dir); !s.ok()) return s;
  return files;
}

}  // namespace server
