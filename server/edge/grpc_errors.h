// The service edge's error table: turns internal absl::Status values into
// the gRPC codes and exact strings etcd clients compare against
// ("etcdserver: ..."), chosen by the status's base::ErrorKind, never by its
// message. A status without a known kind keeps its code and message.
// Thread-safety: stateless.
#pragma once

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "server/replication/proposer.h"

namespace server {

[[nodiscard]] grpc::Status ToGrpcStatus(const absl::Status& s);

// A client that sent "hasleader: true" metadata (clientv3.WithRequireLeader,
// which kube-apiserver uses) gets "etcdserver: no leader" at once while this
// member knows no leader, instead of waiting for one, as in etcd.
// etcd's learner rule: a learner answers only Status and serializable
// Range; every other call gets "rpc not supported for learner".
// `supported`: the call is one of those two.
[[nodiscard]] absl::Status CheckLearner(const Proposer& proposer, bool supported);
[[nodiscard]] absl::Status CheckRequireLeader(const grpc::ServerContextBase& ctx,
                                              const Proposer& proposer);

}  // namespace server
