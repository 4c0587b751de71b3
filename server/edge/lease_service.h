// LeaseService: etcd's Lease RPCs over the Lessor.
//  - Grant and Revoke go through raft (every member applies them).
//  - KeepAlive and TimeToLive need the leader, which alone tracks expiry:
//    a follower forwards them over the Peer service (LeaseForwarder), as
//    etcd forwards them over its peer HTTP API.
//  - Leases is answered locally.
// LeaseExpirer runs beside it: it promotes or demotes the lessor as this
// member gains or loses leadership, revokes expired leases through raft,
// and checkpoints long leases' remaining TTLs through raft so that a new
// leader does not restart them from their full TTL.
// Thread-safety: gRPC threads call the service; each helper owns its threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "peerpb/peer.grpc.pb.h"
#include "server/edge/kv_service.h"
#include "server/state/lessor.h"
#include "server/replication/proposer.h"
#include "storage/mvcc_store.h"

namespace server {

// Runs the leader-only lease calls on the leader: locally when this member
// leads, else over the leader's Peer service, retried while leadership
// settles, for at most the request timeout. Answers arrive on its own
// threads.
class LeaseForwarder {
 public:
  LeaseForwarder(storage::MvccStore* store, Proposer* proposer, Lessor* lessor, MemberInfo self,
                 absl::Duration timeout);
  ~LeaseForwarder();

  void Renew(int64_t id, std::function<void(absl::StatusOr<int64_t>)> done);
  void TimeToLive(int64_t id, bool keys,
                  std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)> done);

 private:
  void Worker();
  // One attempt on the current leader; Unavailable to retry.
  absl::StatusOr<int64_t> RenewOnce(int64_t id);
  absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> TimeToLiveOnce(int64_t id, bool keys);
  absl::StatusOr<peerpb::Peer::Stub*> LeaderStub(uint64_t leader);
  // Until `deadline` (from when the request arrived).
  template <typename T>
  absl::StatusOr<T> Retry(absl::Time deadline, const std::function<absl::StatusOr<T>()>& once);
  // This member applied everything it knows committed.
  bool CaughtUp() const;

  storage::MvccStore* store_;
  Proposer* proposer_;
  Lessor* lessor_;
  const MemberInfo self_;
  const absl::Duration timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::map<std::string, std::unique_ptr<peerpb::Peer::Stub>> stubs_;  // guarded by stub_mu_
  std::mutex stub_mu_;
  std::vector<std::thread> workers_;
};

class LeaseExpirer {
 public:
  struct Options {
    absl::Duration period = absl::Milliseconds(500);
    absl::Duration checkpoint_interval = absl::Minutes(5);
  };
  LeaseExpirer(Lessor* lessor, Proposer* proposer, uint64_t self_id, Options opts);
  ~LeaseExpirer();
  void Stop();

 private:
  void Loop();
  Lessor* lessor_;
  Proposer* proposer_;
  const uint64_t self_id_;
  const Options opts_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::atomic<bool> barrier_pending_{false};
  std::atomic<bool> barrier_ok_{false};
  std::thread thread_;
};

class LeaseService final : public etcdserverpb::Lease::CallbackService {
 public:
  LeaseService(storage::MvccStore* store, Proposer* proposer, Lessor* lessor,
               LeaseForwarder* forwarder, MemberInfo info);

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

  void FillHeader(etcdserverpb::ResponseHeader* h) const;

 private:
  class KeepAlive;
  int64_t NewLeaseId();

  storage::MvccStore* store_;
  Proposer* proposer_;
  Lessor* lessor_;
  LeaseForwarder* forwarder_;
  const MemberInfo info_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;  // guarded by rng_mu_
};

}  // namespace server
