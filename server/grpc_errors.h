// The service edge: turns internal absl::Status values into the gRPC codes
// and exact strings etcd clients compare against ("etcdserver: ...").
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace server {

grpc::Status ToGrpcStatus(const absl::Status& s);

}  // namespace server
