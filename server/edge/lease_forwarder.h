// LeaseForwarder: runs the leader-only lease calls (KeepAlive's renewals,
// TimeToLive) on the leader, which alone tracks lease expiry: locally when
// this member leads, else over the leader's Peer service, as etcd forwards
// them over its peer HTTP API. While leadership settles (no leader, a
// leader not yet promoted or still applying) a call is retried, for at most
// the request timeout from its arrival.
//
// The leader is dialed through the PeerDirectory (one channel per member,
// credentials from TransportSecurity); the leader's errors come back typed
// (server/peer/wire_errors.h), so they are retried and reported exactly as
// local ones.
//
// Ownership: borrows the proposer, lessor, directory and clock, which must
// outlive it. Thread-safety: Renew and TimeToLive may be called from any
// thread; a call that cannot be answered at once is answered on one of the
// forwarder's own threads. Destruction answers queued calls with "server
// stopped".
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "etcdserverpb/rpc.pb.h"
#include "peerpb/peer.grpc.pb.h"
#include "server/peer/peer_directory.h"
#include "server/replication/proposer.h"
#include "server/state/lessor.h"
#include "server/state/member_info.h"

namespace server {

class LeaseForwarder {
 public:
  using RenewDone = std::function<void(absl::StatusOr<int64_t>)>;
  using TimeToLiveDone = std::function<void(absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse>)>;

  // `timeout`: how long a call may wait for a leader that can answer it.
  LeaseForwarder(Proposer* proposer, Lessor* lessor, PeerDirectory* peers, const base::Clock& clock,
                 MemberInfo self, absl::Duration timeout);
  ~LeaseForwarder();

  // Renews lease `id`: `done` gets its granted TTL (0: the lease is gone).
  void Renew(int64_t id, RenewDone done);
  void TimeToLive(int64_t id, bool keys, TimeToLiveDone done);

 private:
  void Worker();
  void Enqueue(std::function<void()> job);
  // One attempt on the current leader; a Retryable error to try again.
  absl::StatusOr<int64_t> RenewOnce(int64_t id);
  absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> TimeToLiveOnce(int64_t id, bool keys);
  // A stub on the leader's shared channel.
  absl::StatusOr<std::unique_ptr<peerpb::Peer::Stub>> LeaderStub(uint64_t leader);
  // Until `deadline` (from when the request arrived).
  template <typename T>
  absl::StatusOr<T> Retry(absl::Time deadline, const std::function<absl::StatusOr<T>()>& once);
  // Waits `pause`, or less if the forwarder stops; false once stopping.
  bool PauseUnlessStopping(absl::Duration pause);
  // This member applied everything it knows committed.
  bool CaughtUp() const;

  Proposer* const proposer_;
  Lessor* const lessor_;
  PeerDirectory* const peers_;
  const base::Clock& clock_;
  const MemberInfo self_;
  const absl::Duration timeout_;
  std::mutex mu_;
  std::condition_variable jobs_cv_;  // a job queued, or stopping
  std::condition_variable stop_cv_;  // stopping (wakes retry pauses)
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace server
