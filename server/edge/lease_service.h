// LeaseService: etcd's Lease RPCs over the Lessor.
//  - Grant and Revoke go through raft (every member applies them), with
//    the same propose-and-answer helper as the KV service (unary_call.h).
//  - KeepAlive and TimeToLive need the leader, which alone tracks expiry;
//    the LeaseForwarder (lease_forwarder.h) runs them there.
//  - Leases is answered locally.
// Expiry, revocation of expired leases and checkpoints run beside it in
// the LeaseExpirer (server/replication/lease_expirer.h).
//
// Ownership: borrows the store, proposer, lessor, forwarder and clock,
// which must outlive it. Thread-safety: gRPC calls it from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>

#include "base/clock.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/edge/auth_gate.h"
#include "server/edge/grpc_metrics.h"
#include "server/edge/lease_forwarder.h"
#include "server/edge/quota_gate.h"
#include "server/edge/unary_call.h"
#include "server/replication/proposer.h"
#include "server/state/lessor.h"
#include "server/state/member_info.h"
#include "storage/mvcc_store.h"

namespace server {

class LeaseService final : public etcdserverpb::Lease::CallbackService {
 public:
  // `quota` (may be null: no quota) admits grants (quota_gate.h).
  // `metrics` (may be null): LeaseKeepAlive streams count their own calls
  // (grpc_metrics.h: CountInService); must outlive the service.
  LeaseService(storage::MvccStore* store, Proposer* proposer, Lessor* lessor,
               LeaseForwarder* forwarder, const base::Clock& clock, MemberInfo info,
               QuotaGate* quota = nullptr, GrpcMetrics* metrics = nullptr);

  // Grants and revokes carry the caller (auth_gate.h) for the apply-time
  // check (a revoke needs write on every attached key). Null: no auth.
  void SetAuthGate(const AuthGate* gate) { auth_ = gate; }

  grpc::ServerUnaryReactor* LeaseGrant(grpc::CallbackServerContext* ctx,
                                       const etcdserverpb::LeaseGrantRequest* req,
                                       etcdserverpb::LeaseGrantResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseRevoke(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::LeaseRevokeRequest* req,
                                        etcdserverpb::LeaseRevokeResponse* resp) override;
  grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>*
  LeaseKeepAlive(grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* LeaseTimeToLive(grpc::CallbackServerContext* ctx,
                                            const etcdserverpb::LeaseTimeToLiveRequest* req,
                                            etcdserverpb::LeaseTimeToLiveResponse* resp) override;
  grpc::ServerUnaryReactor* LeaseLeases(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::LeaseLeasesRequest* req,
                                        etcdserverpb::LeaseLeasesResponse* resp) override;

 private:
  class KeepAlive;
  int64_t NewLeaseId();

  Proposer* const proposer_;
  Lessor* const lessor_;
  LeaseForwarder* const forwarder_;
  QuotaGate* const quota_;
  GrpcMetrics* const metrics_;
  GrpcMethodCounters* const keep_alive_counters_;  // null: not counted
  const AuthGate* auth_ = nullptr;
  const base::Clock& clock_;
  UnaryCalls calls_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;  // guarded by rng_mu_
};

}  // namespace server
