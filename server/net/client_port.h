// ClientPort: one --listen-client-urls URL, serving gRPC and HTTP/1.1 on
// the same port as etcd's cmux does. ketcd accepts the connection itself,
// peeks at its first bytes (protocol_sniff.h) without consuming them, and
// then either hands the socket to gRPC (ExternalConnectionAcceptor: gRPC
// owns it from then on and runs its own TLS handshake, so gRPC traffic
// pays no copy and no hop through ketcd) or serves it as HTTP/1.1 on a
// thread of its own (TlsAcceptor for https URLs).
//
// A client that sends nothing within the sniff timeout, or closes, is
// dropped; a plaintext client on an https port gets Go's 400 answer; at
// most `max_connections` connections are being sniffed or served over
// HTTP at once (more are closed at accept), so a flood of idle sockets
// cannot exhaust the member's threads.
// Thread-safety: Start and Stop from one thread; the rest is internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "grpcpp/server_builder.h"
#include "server/net/http_server.h"
#include "server/net/tls_acceptor.h"
#include "server/net/url.h"

namespace server {

struct ClientPortOptions {
  absl::Duration sniff_timeout = absl::Seconds(10);
  absl::Duration http_idle_timeout = absl::Seconds(60);
  size_t max_connections = 512;
  // --tls-min-version TLS1.3: a TLS client that does not offer 1.3 is
  // closed before it reaches gRPC.
  bool tls13_only = false;
  HttpLimits http_limits;
};

class ClientPort {
 public:
  // Binds and listens on `url` now, so that a port in use stops the member
  // before it serves anything.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ClientPort>> Bind(const Url& url,
                                                                        ClientPortOptions opts);
  ~ClientPort();  // Stop()

  int port() const { return port_; }
  const Url& url() const { return url_; }

  // Starts accepting. `grpc` gets the gRPC connections (its server must be
  // started; null: an HTTP-only port, such as a metrics URL's); `tls` is the HTTP side's TLS for an https URL (null for
  // http). All must outlive Stop().
  void Start(grpc::experimental::ExternalConnectionAcceptor* grpc, const HttpRoutes* routes,
             TlsAcceptor* tls, const base::Clock* clock);
  // Stops accepting, cuts the HTTP connections still open and joins their
  // threads. Connections already handed to gRPC are gRPC's to end.
  void Stop();

 private:
  ClientPort(Url url, ClientPortOptions opts, int listen_fd, int wake_fd, int port);
  void AcceptLoop();
  void Serve(uint64_t id, int fd);
  void ServeHttp(int fd);
  void Release(uint64_t id, int fd, bool close_fd);
  void ReapFinished();

  const Url url_;
  const ClientPortOptions opts_;
  const int listen_fd_;
  const int wake_fd_;  // eventfd that ends the accept loop's poll
  const int port_;
  grpc::experimental::ExternalConnectionAcceptor* grpc_ = nullptr;
  const HttpRoutes* routes_ = nullptr;
  TlsAcceptor* tls_ = nullptr;
  const base::Clock* clock_ = nullptr;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};

  std::mutex mu_;
  uint64_t next_id_ = 0;                       // guarded by mu_
  std::map<uint64_t, std::thread> threads_;    // guarded by mu_
  std::map<uint64_t, int> open_fds_;           // guarded by mu_: sockets still ours
  std::vector<uint64_t> finished_;             // guarded by mu_: threads to join
};

}  // namespace server
