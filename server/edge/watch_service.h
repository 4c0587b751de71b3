// WatchService: etcd's Watch RPC. Each bidi stream parses create / cancel /
// progress requests in order and answers each create with one "created"
// response (even a refused one: watch_id -1, canceled, with etcd's reason),
// before any event of that watcher; events come from the WatchHub. As in
// etcd, a client's half-close does not end the stream (only a cancel does),
// and a cancel of an unknown watch id is ignored.
// Thread-safety: gRPC calls it from its own threads; the hub calls the
// streams' sinks from its thread.
#pragma once

#include <memory>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/edge/auth_gate.h"
#include "server/state/member_info.h"
#include "server/replication/proposer.h"
#include "server/state/watch_hub.h"
#include "storage/mvcc_store.h"

namespace server {

class WatchService final : public etcdserverpb::Watch::CallbackService {
 public:
  WatchService(storage::MvccStore* store, Proposer* proposer, WatchHub* hub, MemberInfo info)
      : store_(store), proposer_(proposer), hub_(hub), info_(info) {}

  // A create on a range the caller may not read is answered created and
  // canceled with etcd's reason (auth_gate.h). Null: no auth.
  void SetAuthGate(const AuthGate* gate) { auth_ = gate; }

  grpc::ServerBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>* Watch(
      grpc::CallbackServerContext* ctx) override;

 private:
  class Stream;
  storage::MvccStore* store_;
  Proposer* proposer_;
  WatchHub* hub_;
  MemberInfo info_;
  const AuthGate* auth_ = nullptr;
};

}  // namespace server
