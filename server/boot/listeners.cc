#include "server/boot/listeners.h"

#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/boot/keepalive_flags.h"
#include "server/edge/json_gateway.h"

namespace server {
namespace {

using CredentialsFor = absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> (TransportSecurity::*)(
    const Url&) const;

// Adds every URL; `bound` receives the port each one got (0: not bound).
absl::Status AddPorts(grpc::ServerBuilder& builder, const std::vector<Url>& urls,
                      const TransportSecurity& security, CredentialsFor credentials,
                      std::vector<int>& bound) {
  bound.assign(urls.size(), 0);
  for (size_t i = 0; i < urls.size(); ++i) {
    auto creds = (security.*credentials)(urls[i]);
    if (!creds.ok()) return creds.status();
    builder.AddListeningPort(urls[i].HostPort(), *creds, &bound[i]);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<grpc::Server>> Finish(grpc::ServerBuilder& builder,
                                                     const std::vector<Url>& urls,
                                                     const std::vector<int>& bound,
                                                     absl::string_view what) {
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    return absl::UnavailableError(absl::StrCat("cannot listen on the ", what, " URLs (address in use?)"));
  }
  for (size_t i = 0; i < bound.size(); ++i) {
    if (bound[i] == 0) {
      server->Shutdown(std::chrono::system_clock::now());
      return absl::UnavailableError(absl::StrCat("cannot listen on ", urls[i].raw));
    }
  }
  return server;
}

}  // namespace

ClientListener::~ClientListener() { StopAccepting(); }

void ClientListener::StopAccepting() {
  for (auto& port : ports_) port->Stop();
  for (auto& port : metrics_ports_) port->Stop();
}

absl::StatusOr<std::unique_ptr<ClientListener>> StartClientListener(
    const Config& cfg, const TransportSecurity& security, const std::vector<grpc::Service*>& services,
    HttpRoutes routes, const base::Clock& clock,
    const std::function<void(grpc::Server&)>& on_grpc_started, ServerInterceptors interceptors) {
  std::unique_ptr<ClientListener> l(new ClientListener());
  l->metrics_routes_ = routes.WithoutSubtrees();
  l->routes_ = std::move(routes);
  // ketcd binds every port itself and hands gRPC its connections, so that
  // HTTP can share the port (server/net/client_port.h).
  ClientPortOptions opts;
  opts.tls13_only = security.protocol().tls13_only;
  // The JSON gateway's bodies may be as large as a gRPC request in JSON.
  ClientPortOptions metrics_opts = opts;
  if (cfg.enable_grpc_gateway) {
    const size_t limit = GatewayMaxBodyBytes(cfg.max_request_bytes + kGrpcOverheadBytes);
    opts.http_limits.max_body_bytes = std::max(opts.http_limits.max_body_bytes, limit);
    opts.http_limits.too_large = [limit](uint64_t n) { return GatewayBodyTooLarge(n, limit); };
  }
  auto bind = [&](const std::vector<Url>& urls, std::vector<std::unique_ptr<ClientPort>>& ports,
                  const ClientPortOptions& port_opts) {
    for (const Url& url : urls) {
      auto port = ClientPort::Bind(url, port_opts);
      if (!port.ok()) return port.status();
      ports.push_back(std::move(*port));
      if (url.scheme == "https" && !l->https_) {
        auto https = security.ClientHttps();
        if (!https.ok()) return https.status();
        l->https_ = std::move(*https);
      }
    }
    return absl::OkStatus();
  };
  if (auto s = bind(cfg.listen_client_urls, l->ports_, opts); !s.ok()) return s;
  if (auto s = bind(cfg.listen_metrics_urls, l->metrics_ports_, metrics_opts); !s.ok()) return s;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  for (const Url& url : cfg.listen_client_urls) {
    auto creds = security.ClientListener(url);
    if (!creds.ok()) return creds.status();
    l->acceptors_.push_back(builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, *creds));
  }
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(INT_MAX, cfg.max_request_bytes + kGrpcOverheadBytes)));
  builder.SetMaxSendMessageSize(INT_MAX);
  AddKeepalivePolicy(cfg, builder);
  for (grpc::Service* s : services) builder.RegisterService(s);
  if (!interceptors.empty()) builder.experimental().SetInterceptorCreators(std::move(interceptors));
  l->grpc_ = builder.BuildAndStart();
  if (!l->grpc_) return absl::UnavailableError("cannot start the client gRPC server");
  if (on_grpc_started) on_grpc_started(*l->grpc_);
  for (size_t i = 0; i < l->ports_.size(); ++i) {
    l->ports_[i]->Start(l->acceptors_[i].get(), &l->routes_,
                        l->ports_[i]->url().scheme == "https" ? l->https_.get() : nullptr, &clock);
  }
  for (auto& port : l->metrics_ports_) {
    port->Start(nullptr, &l->metrics_routes_, port->url().scheme == "https" ? l->https_.get() : nullptr, &clock);
  }
  return l;
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartPeerListener(
    const Config& cfg, const TransportSecurity& security, grpc::Service* peer_service) {
  grpc::ServerBuilder builder;
  std::vector<int> bound;
  if (auto s = AddPorts(builder, cfg.listen_peer_urls, security, &TransportSecurity::PeerListener, bound);
      !s.ok()) {
    return s;
  }
  builder.SetMaxReceiveMessageSize(INT_MAX);
  // Ping idle peers so that a stream from a member whose host died (a
  // half-sent snapshot holds the inbox) breaks within seconds; and accept
  // the senders' own 2 s keepalive pings.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // gRPC would share the port with any other process that binds it the
  // same way (SO_REUSEPORT): a second member misconfigured onto this peer
  // port must fail to start, not take half of the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(peer_service);
  return Finish(builder, cfg.listen_peer_urls, bound, "peer");
}

}  // namespace server
