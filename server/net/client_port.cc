#include "server/net/client_port.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "server/net/protocol_sniff.h"

namespace server {
namespace {

// Go's answer to a plaintext HTTP request on a TLS port.
constexpr std::string_view kPlainOnTls =
    "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

void SetTimeout(int fd, int option, absl::Duration d) {
  timeval tv = absl::ToTimeval(d);
  (void)::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));  // best effort: only bounds a wait
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// The peer closed its side (FIN), or the connection broke; never blocks.
bool PeerHungUp(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

class SocketStream final : public ByteStream {
 public:
  explicit SocketStream(int fd) : fd_(fd) {}
  size_t Read(char* buf, size_t len) override {
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, len, 0);
      if (n < 0 && errno == EINTR) continue;
      return n > 0 ? static_cast<size_t>(n) : 0;
    }
  }
  bool Write(std::string_view data) override { return WriteAll(fd_, data); }
  bool PeerClosed() override { return PeerHungUp(fd_); }

 private:
  int fd_;
};

// The common name of the client certificate the handshake verified, or ""
// (none asked for, none given, or no common name in it).
std::string VerifiedClientCn(SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return "";
  X509_NAME* subject = X509_get_subject_name(peer);
  // Go's crypto/x509 keeps the last CN of the subject.
  int found = -1;
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) found = i;
  if (found < 0) return "";
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, found)));
  if (n < 0) return "";
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return cn;
}

class TlsStream final : public ByteStream {
 public:
  explicit TlsStream(SSL* ssl) : ssl_(ssl), client_cn_(VerifiedClientCn(ssl)) {}
  size_t Read(char* buf, size_t len) override {
    size_t n = 0;
    return SSL_read_ex(ssl_, buf, len, &n) == 1 ? n : 0;
  }
  bool Write(std::string_view data) override {
    size_t n = 0;
    return data.empty() || SSL_write_ex(ssl_, data.data(), data.size(), &n) == 1;
  }
  bool PeerClosed() override { return PeerHungUp(SSL_get_fd(ssl_)); }
  void DescribeClient(HttpRequest& req) const override {
    req.tls = true;
    req.verified_client_cn = client_cn_;
  }

 private:
  SSL* ssl_;
  const std::string client_cn_;
};

// Peeks (never consumes) until the first bytes decide the protocol, the
// client closes, or `deadline` passes (kNeedMore then).
TlsHello Sniff(int fd, bool tls, absl::Time deadline, const base::Clock& clock) {
  std::string buf(kSniffMaxBytes, '\0');
  size_t have = 0;
  for (;;) {
    const absl::Duration left = deadline - clock.Now();
    if (left <= absl::ZeroDuration()) return {SniffResult::kNeedMore, false};
    SetTimeout(fd, SO_RCVTIMEO, left);
    // Wait for at least one byte more than last time, then look at all.
    const size_t want = std::min(buf.size(), have + 1);
    const ssize_t waited = ::recv(fd, buf.data(), want, MSG_PEEK | MSG_WAITALL);
    if (waited < 0 && errno == EINTR) continue;
    if (waited <= static_cast<ssize_t>(have)) return {SniffResult::kNeedMore, false};  // closed, timed out
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0) return {SniffResult::kNeedMore, false};
    have = static_cast<size_t>(n);
    std::string_view bytes(buf.data(), have);
    const TlsHello r = tls ? SniffTlsHello(bytes) : TlsHello{SniffPlain(bytes), false};
    if (r.result != SniffResult::kNeedMore || have == buf.size()) return r;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClientPort>> ClientPort::Bind(const Url& url, ClientPortOptions opts) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port_str = std::to_string(url.port);
  const std::string host = url.host.empty() ? "" : url.host;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port_str.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot listen on ", url.raw, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addrs(found, &::freeaddrinfo);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot listen on ", url.raw, ": ", strerror(errno)));
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // restart while TIME_WAITs linger
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", url.raw, ": ", strerror(err)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  const int port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                               : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  return std::unique_ptr<ClientPort>(new ClientPort(url, opts, fd, wake, port));
}

ClientPort::ClientPort(Url url, ClientPortOptions opts, int listen_fd, int wake_fd, int port)
    : url_(std::move(url)), opts_(opts), listen_fd_(listen_fd), wake_fd_(wake_fd), port_(port) {}

ClientPort::~ClientPort() {
  Stop();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void ClientPort::Start(grpc::experimental::ExternalConnectionAcceptor* grpc, const HttpRoutes* routes,
                       TlsAcceptor* tls, const base::Clock* clock) {
  grpc_ = grpc;
  routes_ = routes;
  tls_ = tls;
  clock_ = clock;
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

void ClientPort::Stop() {
  if (stopping_.exchange(true)) return;
  const uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof(one));  // an eventfd write cannot block or fail here
  if (acceptor_.joinable()) acceptor_.join();
  std::map<uint64_t, std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, fd] : open_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
    finished_.clear();
  }
  for (auto& [id, t] : threads) t.join();
}

void ClientPort::AcceptLoop() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!stopping_.load()) {
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (stopping_.load() || (fds[1].revents & POLLIN)) return;
    if (!(fds[0].revents & POLLIN)) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the pending connection stays queued and poll
      // would wake at once; wait a little (or for Stop) instead of spinning.
      if (errno == EMFILE || errno == ENFILE) (void)::poll(&fds[1], 1, 100);
      continue;  // or the client gave up already: keep serving the others
    }
    ReapFinished();
    std::lock_guard<std::mutex> lock(mu_);
    if (threads_.size() >= opts_.max_connections) {
      ::close(fd);
      continue;
    }
    const uint64_t id = next_id_++;
    open_fds_[id] = fd;
    threads_[id] = std::thread([this, id, fd] { Serve(id, fd); });
  }
}

void ClientPort::ReapFinished() {
  std::vector<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t id : finished_) {
      auto it = threads_.find(id);
      if (it == threads_.end()) continue;
      done.push_back(std::move(it->second));
      threads_.erase(it);
    }
    finished_.clear();
  }
  for (auto& t : done) t.join();
}

void ClientPort::Release(uint64_t id, int fd, bool close_fd) {
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.erase(id);
  // Closed under the lock, so Stop never shuts down a number reused since.
  if (close_fd) ::close(fd);
  finished_.push_back(id);
}

void ClientPort::Serve(uint64_t id, int fd) {
  const bool tls = url_.scheme == "https";
  const TlsHello hello = Sniff(fd, tls, clock_->Now() + opts_.sniff_timeout, *clock_);
  // An HTTP-only port serves everything as HTTP/1.1 (an HTTP/2 preface
  // gets 400 there).
  const SniffResult kind =
      hello.result == SniffResult::kGrpc && grpc_ == nullptr ? SniffResult::kHttp : hello.result;
  // gRPC's own handshake would accept TLS 1.2: --tls-min-version TLS1.3 is
  // checked here. (HTTP's OpenSSL context refuses it with an alert.)
  const bool too_old = kind == SniffResult::kGrpc && tls && opts_.tls13_only && !hello.offers_tls13;
  if (kind == SniffResult::kGrpc && !too_old && !stopping_.load()) {
    SetTimeout(fd, SO_RCVTIMEO, absl::ZeroDuration());
    const int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // as gRPC's own accept does
    (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    Release(id, fd, false);
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
    p.listener_fd = listen_fd_;
    p.fd = fd;
    grpc_->HandleNewConnection(&p);
    return;
  }
  if (kind == SniffResult::kNotTls) {
    SetTimeout(fd, SO_SNDTIMEO, absl::Seconds(1));
    (void)WriteAll(fd, kPlainOnTls);  // closing anyway
  } else if (kind == SniffResult::kHttp && !stopping_.load()) {
    ServeHttp(fd);
  }
  Release(id, fd, true);
}

void ClientPort::ServeHttp(int fd) {
  SetTimeout(fd, SO_RCVTIMEO, opts_.http_idle_timeout);
  SetTimeout(fd, SO_SNDTIMEO, opts_.http_idle_timeout);
  if (tls_ == nullptr) {
    SocketStream stream(fd);
    ServeHttpConnection(stream, *routes_, opts_.http_limits);
    return;
  }
  auto ssl = tls_->Handshake(fd, clock_->Now());
  if (!ssl.ok()) return;  // the client sees the handshake alert
  TlsStream stream(ssl->get());
  ServeHttpConnection(stream, *routes_, opts_.http_limits);
  (void)SSL_shutdown(ssl->get());  // close_notify, best effort
}

}  // namespace server
