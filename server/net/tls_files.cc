#include "server/net/tls_files.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace server {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

absl::StatusOr<std::string> ReadWhole(const std::string& flag, const std::string& file) {
  if (file.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " is empty"));
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", flag, " ", file, ": ", std::strerror(errno)));
  }
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

BioPtr MemoryBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

}  // namespace

absl::Status CheckKeyPair(const std::string& cert_flag, const std::string& cert_file,
                          const std::string& key_flag, const std::string& key_file) {
  auto cert_pem = ReadWhole(cert_flag, cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadWhole(key_flag, key_file);
  if (!key_pem.ok()) return key_pem.status();
  X509Ptr cert(PEM_read_bio_X509(MemoryBio(*cert_pem).get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(cert_flag, " ", cert_file, " holds no PEM certificate"));
  }
  PkeyPtr key(PEM_read_bio_PrivateKey(MemoryBio(*key_pem).get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(key_flag, " ", key_file, " holds no PEM private key"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(key_flag, " ", key_file, " does not match ",
                                                   cert_flag, " ", cert_file));
  }
  return absl::OkStatus();
}

absl::Status CheckCaFile(const std::string& flag, const std::string& file) {
  auto pem = ReadWhole(flag, file);
  if (!pem.ok()) return pem.status();
  X509Ptr cert(PEM_read_bio_X509(MemoryBio(*pem).get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", file, " holds no PEM certificate"));
  }
  return absl::OkStatus();
}

}  // namespace server
