// LeaseExpirer: the leader's lease duties, run beside the raft loop.
//  - It promotes the Lessor when this member becomes leader (once all that
//    was committed before the term is applied) and demotes it when
//    leadership is lost: only the primary tracks lease deadlines.
//  - It revokes expired leases through raft, so every member deletes
//    their keys at the same point of the log.
//  - It checkpoints long leases' remaining TTLs through raft, so that a
//    new leader does not restart them from their full TTL (etcd's lease
//    checkpointing).
//
// Ownership: borrows the lessor, proposer and clock, which must outlive
// it. Thread-safety: owns one thread, which Stop() (or the destructor)
// joins; Stop is safe to call more than once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>
#include <thread>

#include "absl/time/time.h"
#include "base/clock.h"
#include "server/replication/proposer.h"
#include "server/state/lessor.h"

namespace server {

class LeaseExpirer {
 public:
  struct Options {
    // How often leadership and deadlines are looked at. Default 500ms.
    absl::Duration period = absl::Milliseconds(500);
    // How often remaining TTLs are checkpointed. Default 5 minutes.
    absl::Duration checkpoint_interval = absl::Minutes(5);
  };
  LeaseExpirer(Lessor* lessor, Proposer* proposer, const base::Clock& clock, uint64_t self_id,
               Options opts);
  ~LeaseExpirer();
  void Stop();

 private:
  void Loop();
  // One round at `now`.
  void Step(absl::Time now);
  // Leading but not yet primary: promotes once a read barrier passed.
  void MaybePromote(absl::Time now);
  void ProposeCheckpointResets();
  void ProposeRevocations(absl::Time now);
  void ProposeCheckpoints(absl::Time now);
  // From a barrier's callback (maybe on the raft loop): runs the next round at once.
  void Wake();

  Lessor* const lessor_;
  Proposer* const proposer_;
  const base::Clock& clock_;
  const uint64_t self_id_;
  const Options opts_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  // A barrier passed: the next round runs now, not a period later (guarded by mu_).
  bool wake_ = false;
  std::atomic<bool> barrier_pending_{false};
  std::atomic<bool> barrier_ok_{false};
  // Expired leases whose revocation waits for a read barrier that confirms
  // this member still leads (a leader paused past its followers' election
  // must not revoke leases the new leader kept alive: etcd issue 15247).
  std::mutex confirmed_mu_;
  std::vector<int64_t> confirmed_;  // guarded by confirmed_mu_: barrier passed
  absl::Time next_checkpoint_;  // the loop thread's only
  std::thread thread_;
};

}  // namespace server
