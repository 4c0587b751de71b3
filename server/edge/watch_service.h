// WatchService: etcd's Watch RPC. Each bidi stream parses create / cancel /
// progress requests in order and answers each create with one "created"
// response (even a refused one: watch_id -1, canceled, with etcd's reason),
// before any event of that watcher; events come from the WatchHub. As in
// etcd, a client's half-close does not end the stream (only a cancel does),
// and a cancel of an unknown watch id is ignored.
// Metrics: the service counts its own calls (GrpcMetrics::CountInService,
// grpc_metrics.h says why), as the interceptor counts other methods'.
// Thread-safety: gRPC calls it from its own threads; the hub calls the
// streams' sinks from its thread.
#pragma once

#include <memory>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/edge/auth_gate.h"
#include "server/edge/grpc_metrics.h"
#include "server/state/member_info.h"
#include "server/replication/proposer.h"
#include "server/state/watch_hub.h"
#include "storage/mvcc_store.h"

namespace server {

// The method is registered with parsed requests and raw responses: events
// go out as pre-encoded bytes shared between watchers (watch_wire.h),
// control responses as ordinary messages serialized here.
class WatchService final : public etcdserverpb::Watch::Service {
 public:
  using Reactor = grpc::ServerBidiReactor<etcdserverpb::WatchRequest, grpc::ByteBuffer>;

  // `metrics`: null counts nothing; else must outlive the service.
  WatchService(storage::MvccStore* store, Proposer* proposer, WatchHub* hub, MemberInfo info,
               GrpcMetrics* metrics);

  // A create on a range the caller may not read is answered created and
  // canceled with etcd's reason (auth_gate.h). Null: no auth.
  void SetAuthGate(const AuthGate* gate) { auth_ = gate; }

  Reactor* Watch(grpc::CallbackServerContext* ctx);
  // The synchronous form is never registered.
  grpc::Status Watch(grpc::ServerContext*,
                     grpc::ServerReaderWriter<etcdserverpb::WatchResponse, etcdserverpb::WatchRequest>*) override {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
  }

 private:
  class Stream;
  storage::MvccStore* store_;
  Proposer* proposer_;
  WatchHub* hub_;
  MemberInfo info_;
  GrpcMetrics* const metrics_;
  GrpcMethodCounters* const counters_;  // null: not counted
  const AuthGate* auth_ = nullptr;
};

}  // namespace server
