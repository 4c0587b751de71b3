// The member's two gRPC servers: the client listener (every
// --listen-client-urls URL, etcd's services) and the peer listener (every
// --listen-peer-urls URL, ketcd's Peer service), each URL with the
// credentials TransportSecurity gives it. A URL that cannot be bound is an
// error naming it, so a member never starts half-listening.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "server/boot/config.h"
#include "server/net/transport_security.h"

namespace server {

// etcd lets a gRPC message exceed --max-request-bytes by this much so that the
// request reaches the server and gets etcd's own "request is too large"; a
// watch response is fragmented at the same size.
inline constexpr int64_t kGrpcOverheadBytes = 512 * 1024;

[[nodiscard]] absl::StatusOr<std::unique_ptr<grpc::Server>> StartClientListener(
    const Config& cfg, const TransportSecurity& security, const std::vector<grpc::Service*>& services);

[[nodiscard]] absl::StatusOr<std::unique_ptr<grpc::Server>> StartPeerListener(
    const Config& cfg, const TransportSecurity& security, grpc::Service* peer_service);

}  // namespace server
