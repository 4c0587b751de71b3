#include "server/net/tls_acceptor.h"

#include <sys/stat.h>

#include <array>
#include <cstring>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "server/net/certificate_policy.h"

namespace server {
namespace {

// What identifies one version of a file on disk.
struct FileStamp {
  int64_t mtime_ns = 0;
  int64_t size = -1;
  uint64_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp StampOf(const std::string& path) {
  FileStamp s;
  struct stat st;
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return s;
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.size = st.st_size;
  s.inode = st.st_ino;
  return s;
}

std::string OpenSslError() {
  unsigned long e = ERR_get_error();  // NOLINT(runtime/int): OpenSSL's type
  ERR_clear_error();
  if (e == 0) return "unknown TLS error";
  std::array<char, 256> buf{};
  ERR_error_string_n(e, buf.data(), buf.size());
  return buf.data();
}

// Chooses HTTP/1.1 whenever the client offers it (it may offer h2 first:
// this listener speaks only HTTP/1.1).
int SelectHttp11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                 unsigned int inlen, void*) {
  static constexpr unsigned char kHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int n = in[i];
    if (i + 1 + n > inlen) break;
    if (n == sizeof(kHttp11) && std::memcmp(in + i + 1, kHttp11, n) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

struct TlsAcceptor::Context {
  SSL_CTX* ssl_ctx = nullptr;
  std::array<FileStamp, 3> stamps;  // cert, key, CA
  ~Context() { SSL_CTX_free(ssl_ctx); }
};

namespace {

std::array<FileStamp, 3> StampsOf(const TlsFiles& f) {
  return {StampOf(f.cert_file), StampOf(f.key_file), StampOf(f.trusted_ca_file)};
}

template <typename Ctx>
absl::StatusOr<std::shared_ptr<Ctx>> BuildContext(const TlsFiles& f, const TlsProtocol& protocol) {
  auto c = std::make_shared<Ctx>();
  c->stamps = StampsOf(f);
  c->ssl_ctx = SSL_CTX_new(TLS_server_method());
  if (c->ssl_ctx == nullptr) return absl::InternalError(OpenSslError());
  SSL_CTX* ctx = c->ssl_ctx;
  SSL_CTX_set_min_proto_version(ctx, protocol.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (!protocol.openssl_cipher_list.empty() &&
      SSL_CTX_set_cipher_list(ctx, protocol.openssl_cipher_list.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--cipher-suites: ", OpenSslError()));
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, f.cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(f.cert_file, ": ", OpenSslError()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, f.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(f.key_file, ": ", OpenSslError()));
  }
  if (f.client_cert_auth) {
    if (SSL_CTX_load_verify_locations(ctx, f.trusted_ca_file.c_str(), nullptr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(f.trusted_ca_file, ": ", OpenSslError()));
    }
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(f.trusted_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  SSL_CTX_set_alpn_select_cb(ctx, SelectHttp11, nullptr);
  return c;
}

}  // namespace

TlsAcceptor::TlsAcceptor(TlsFiles files, TlsProtocol protocol, absl::Duration reload,
                         std::shared_ptr<Context> ctx)
    : files_(std::move(files)), protocol_(std::move(protocol)), reload_(reload), ctx_(std::move(ctx)) {
  if (!files_.crl_file.empty()) {
    policy_ = std::make_shared<CertificatePolicy>(CertificatePolicyOptions{files_.crl_file, "", ""});
  }
}

TlsAcceptor::~TlsAcceptor() = default;

absl::StatusOr<std::unique_ptr<TlsAcceptor>> TlsAcceptor::Create(const TlsFiles& files,
                                                                 const TlsProtocol& protocol,
                                                                 absl::Duration reload) {
  auto ctx = BuildContext<Context>(files, protocol);
  if (!ctx.ok()) return ctx.status();
  return std::unique_ptr<TlsAcceptor>(new TlsAcceptor(files, protocol, reload, std::move(*ctx)));
}

std::shared_ptr<TlsAcceptor::Context> TlsAcceptor::Current(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (now - checked_ < reload_) return ctx_;
  checked_ = now;
  if (StampsOf(files_) == ctx_->stamps) return ctx_;
  // A pair caught half-replaced fails to load; the old one stays until
  // the next check finds a consistent pair.
  if (auto fresh = BuildContext<Context>(files_, protocol_); fresh.ok()) ctx_ = std::move(*fresh);
  return ctx_;
}

absl::StatusOr<SslPtr> TlsAcceptor::Handshake(int fd, absl::Time now) {
  std::shared_ptr<Context> ctx = Current(now);
  SslPtr ssl(SSL_new(ctx->ssl_ctx));  // holds its own reference to the SSL_CTX
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) return absl::InternalError(OpenSslError());
  if (SSL_accept(ssl.get()) != 1) {
    return absl::UnauthenticatedError(absl::StrCat("TLS handshake failed: ", OpenSslError()));
  }
  if (policy_) {
    X509* peer = SSL_get0_peer_certificate(ssl.get());
    if (peer != nullptr) {
      BIO* bio = BIO_new(BIO_s_mem());
      PEM_write_bio_X509(bio, peer);
      char* data = nullptr;
      const long len = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int): OpenSSL's type
      std::string pem(data, static_cast<size_t>(len));
      BIO_free(bio);
      if (auto s = policy_->Check(pem, "", {}); !s.ok()) return s;
    }
  }
  return ssl;
}

}  // namespace server
