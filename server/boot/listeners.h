// The member's listeners: the client listener (every --listen-client-urls
// URL; on each port etcd's gRPC services and its HTTP endpoints, as etcd's
// cmux serves them, see server/net/client_port.h) and the peer listener
// (every --listen-peer-urls URL, ketcd's Peer service), each URL with the
// credentials TransportSecurity gives it. A URL that cannot be bound is an
// error naming it, so a member never starts half-listening.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "base/clock.h"
#include "server/boot/config.h"
#include "server/net/client_port.h"
#include "server/net/http_server.h"
#include "server/net/tls_acceptor.h"
#include "server/net/transport_security.h"

namespace server {

// etcd lets a gRPC message exceed --max-request-bytes by this much so that the
// request reaches the server and gets etcd's own "request is too large"; a
// watch response is fragmented at the same size.
inline constexpr int64_t kGrpcOverheadBytes = 512 * 1024;

using ServerInterceptors = std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>;

// Every client URL's port, the gRPC server behind them and the HTTP routes.
class ClientListener {
 public:
  ~ClientListener();  // Stop()
  grpc::Server& grpc() { return *grpc_; }
  // Stops taking new connections and ends the HTTP ones; gRPC calls go on
  // until grpc().Shutdown().
  void StopAccepting();

 private:
  friend absl::StatusOr<std::unique_ptr<ClientListener>> StartClientListener(
      const Config&, const TransportSecurity&, const std::vector<grpc::Service*>&, HttpRoutes,
      const base::Clock&, const std::function<void(grpc::Server&)>&, ServerInterceptors);
  ClientListener() = default;

  HttpRoutes routes_;
  HttpRoutes metrics_routes_;  // routes_ without the JSON gateway
  std::unique_ptr<TlsAcceptor> https_;  // null without an https URL
  std::vector<std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor>> acceptors_;
  std::unique_ptr<grpc::Server> grpc_;
  std::vector<std::unique_ptr<ClientPort>> ports_;
  std::vector<std::unique_ptr<ClientPort>> metrics_ports_;  // --listen-metrics-urls: HTTP only
};

// `on_grpc_started` runs once the gRPC server runs and before any port
// accepts a connection: services that call the member's own API connect
// their in-process channel there. `interceptors` see every call of the
// gRPC server (the metrics' counters, grpc_metrics.h).
[[nodiscard]] absl::StatusOr<std::unique_ptr<ClientListener>> StartClientListener(
    const Config& cfg, const TransportSecurity& security, const std::vector<grpc::Service*>& services,
    HttpRoutes routes, const base::Clock& clock,
    const std::function<void(grpc::Server&)>& on_grpc_started = nullptr, ServerInterceptors interceptors = {});

[[nodiscard]] absl::StatusOr<std::unique_ptr<grpc::Server>> StartPeerListener(
    const Config& cfg, const TransportSecurity& security, grpc::Service* peer_service);

}  // namespace server
