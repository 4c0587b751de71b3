// LockService: etcd's v3lock service (`etcdctl lock`, clientv3's v3lock
// client), with etcd 3.4's semantics (etcdserver/api/v3lock):
//  - Lock puts <name>/<lease in hex> on the caller's lease (a new 60 s
//    lease when 0), unless that key exists already, and answers once it is
//    the oldest key under <name>/: after every key created before it was
//    deleted (released, or its lease ended). The answer carries the key to
//    pass to Unlock and the header of the read that found it first in line.
//    A Lock cancelled while waiting (client gone, deadline) deletes its key,
//    as etcd's mutex does.
//  - Unlock deletes the key (a missing key is not an error).
// Both run on the member's own API (SelfClient, concurrency_recipes.h) as
// the caller (its token or certificate identity), so errors are etcd's
// (UNKNOWN with "etcdserver: ..." text), "etcdserver: permission denied"
// for a caller without read and write on <name>/ included. Unlike etcd 3.4,
// whose cleanup runs without the caller's identity (and fails under auth),
// a cancelled Lock deletes its key as the caller.
//
// Ownership: borrows the client, which must outlive it. Thread-safety: gRPC
// calls it from any thread; no call holds a thread while it waits.
#pragma once

#include "server/edge/auth_gate.h"
#include "server/edge/self_client.h"
#include "v3lockpb/v3lock.grpc.pb.h"

namespace server {

class LockService final : public v3lockpb::Lock::CallbackService {
 public:
  // `auth` null: no auth.
  LockService(SelfClient* client, const AuthGate* auth) : client_(client), auth_(auth) {}

  grpc::ServerUnaryReactor* Lock(grpc::CallbackServerContext* ctx, const v3lockpb::LockRequest* req,
                                 v3lockpb::LockResponse* resp) override;
  grpc::ServerUnaryReactor* Unlock(grpc::CallbackServerContext* ctx,
                                   const v3lockpb::UnlockRequest* req,
                                   v3lockpb::UnlockResponse* resp) override;

 private:
  SelfClient ClientFor(const grpc::ServerContextBase& ctx) const;

  SelfClient* const client_;
  const AuthGate* const auth_;
};

}  // namespace server
