#include "server/boot/listeners.h"

#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"
#include "grpcpp/health_check_service_interface.h"

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

absl::StatusOr<std::unique_ptr<grpc::Server>> StartClientListener(
    const Config& cfg, const TransportSecurity& security, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  std::vector<int> bound;
  if (auto s = AddPorts(builder, cfg.listen_client_urls, security, &TransportSecurity::ClientListener,
                        bound);
      !s.ok()) {
    return s;
  }
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(INT_MAX, cfg.max_request_bytes + kGrpcOverheadBytes)));
  builder.SetMaxSendMessageSize(INT_MAX);
  for (grpc::Service* s : services) builder.RegisterService(s);
  return Finish(builder, cfg.listen_client_urls, bound, "client");
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
  builder.RegisterService(peer_service);
  return Finish(builder, cfg.listen_peer_urls, bound, "peer");
}

}  // namespace server
