#include "server/net/tls_files.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"

namespace server {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr MemoryBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

}  // namespace

absl::StatusOr<std::string> ReadTlsFile(const std::string& flag, const std::string& file) {
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

X509Ptr ParseCertificate(const std::string& pem) {
  X509Ptr cert(PEM_read_bio_X509(MemoryBio(pem).get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return cert;
}

X509CrlPtr ParseCrl(const std::string& data) {
  X509CrlPtr crl(PEM_read_bio_X509_CRL(MemoryBio(data).get(), nullptr, nullptr, nullptr));
  if (!crl) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(data.data());
    crl.reset(d2i_X509_CRL(nullptr, &p, static_cast<long>(data.size())));
  }
  ERR_clear_error();
  return crl;
}

absl::Status CheckKeyPair(const std::string& cert_flag, const std::string& cert_file,
                          const std::string& key_flag, const std::string& key_file) {
  auto cert_pem = ReadTlsFile(cert_flag, cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadTlsFile(key_flag, key_file);
  if (!key_pem.ok()) return key_pem.status();
  X509Ptr cert = ParseCertificate(*cert_pem);
  if (!cert) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_flag, " ", cert_file, " holds no PEM certificate"));
  }
  PkeyPtr key(PEM_read_bio_PrivateKey(MemoryBio(*key_pem).get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_flag, " ", key_file, " holds no PEM private key"));
  }
  const bool match = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  if (!match) {
    return absl::InvalidArgumentError(absl::StrCat(key_flag, " ", key_file, " does not match ",
                                                   cert_flag, " ", cert_file));
  }
  return absl::OkStatus();
}

absl::Status CheckCaFile(const std::string& flag, const std::string& file) {
  auto pem = ReadTlsFile(flag, file);
  if (!pem.ok()) return pem.status();
  if (!ParseCertificate(*pem)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", file, " holds no PEM certificate"));
  }
  return absl::OkStatus();
}

absl::Status CheckCrlFile(const std::string& flag, const std::string& file) {
  auto data = ReadTlsFile(flag, file);
  if (!data.ok()) return data.status();
  if (!ParseCrl(*data)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", file, " holds no certificate revocation list"));
  }
  return absl::OkStatus();
}

}  // namespace server
