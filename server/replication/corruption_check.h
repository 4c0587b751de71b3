// The corruption checks: members compare their hashes of the key space
// (server/state/kv_hash.h) over the peer service, as etcd 3.4's
// CheckInitialHashKV and monitorKVHash do.
//  - CheckInitialHashKv (--experimental-initial-corrupt-check): before a
//    restarted member starts raft, it asks every recorded peer for its hash
//    at this member's revision; a peer at the same compaction revision with
//    a different hash makes the start fail ("<id> found data inconsistency
//    with peers"). Peers that are unreachable, behind (future revision) or
//    compacted past it are logged and skipped, as etcd skips them.
//  - CorruptionMonitor (--experimental-corrupt-check-time): every period
//    of the injected clock, the leader hashes its store, asks every peer
//    for its hash at that revision, waits for a read barrier (so that it
//    has applied all it committed), hashes again, and raises the CORRUPT
//    alarm through the log when its own hash changed without a new
//    revision, or a peer is ahead of it, or a peer at the leader's
//    compaction revision hashes differently. As etcd 3.4 (monitorKVHash),
//    the alarm names member 0, whichever member was found different, and
//    one check raises it at most once; once applied, every member refuses
//    writes (alarm_guard.h).
// Peers are the members recorded in the store (raft_member/ records);
// their URLs come from the shared PeerDirectory (NewPeerHasher); tests
// give the monitor a PeerHasher of their own.
// Ownership: borrows the store, the proposer, the clock and the logger;
// owns its hasher. Thread-safety: CorruptionMonitor owns one thread, from
// Start() until Stop() (or the destructor); Stop() ends a check in flight
// at once (its peer calls cancelled, its barrier no longer waited for).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/logger.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/peer/peer_directory.h"
#include "server/replication/proposer.h"
#include "storage/mvcc_store.h"

namespace server {

struct CorruptionCheckOptions {
  uint64_t cluster_id = 0;
  uint64_t self_id = 0;
  // How long one peer's answer is waited for (etcd's request timeout).
  absl::Duration timeout = absl::Seconds(7);
};

[[nodiscard]] absl::Status CheckInitialHashKv(const storage::MvccStore& store, PeerDirectory& peers,
                                              const CorruptionCheckOptions& opts, base::Logger& logger);

// One peer's answer to a hash request.
struct PeerHashAnswer {
  uint64_t id = 0;
  absl::StatusOr<etcdserverpb::HashKVResponse> resp;
};

// How the monitor asks its peers for their hashes.
class PeerHasher {
 public:
  virtual ~PeerHasher() = default;
  // Every peer's answer at `rev` (this member excluded); blocks up to the
  // request timeout per peer.
  virtual std::vector<PeerHashAnswer> Ask(int64_t rev) = 0;
  // Ends the Ask in flight at once and makes every later one fail at once.
  virtual void Cancel() = 0;
};

// The members recorded in `store`, asked over the peer service.
std::unique_ptr<PeerHasher> NewPeerHasher(const storage::MvccStore* store, PeerDirectory* peers,
                                          CorruptionCheckOptions opts);

class CorruptionMonitor {
 public:
  CorruptionMonitor(CorruptionCheckOptions opts, absl::Duration period, const storage::MvccStore* store,
                    std::unique_ptr<PeerHasher> hasher, Proposer* proposer, const base::Clock& clock,
                    base::Logger* logger);
  ~CorruptionMonitor();
  CorruptionMonitor(const CorruptionMonitor&) = delete;
  CorruptionMonitor& operator=(const CorruptionMonitor&) = delete;

  // Runs the checks on a thread of the monitor's own.
  void Start();
  // Ends the check in flight, if any, and joins the thread. Idempotent.
  void Stop();

  // Runs the check due at the clock's now, if one is and this member leads
  // (the thread's round; public for tests), then schedules the next one a
  // period later.
  void RunDue();
  absl::Time NextCheck() const;

  // One check, as the loop runs it on the leader; public for tests.
  // Returns the members found different (this member's id when its own
  // hash changed), none when the check passed or could not be made; the
  // alarm raised for them names member 0.
  std::vector<uint64_t> CheckOnce();

 private:
  struct Barrier;
  void Loop();
  // Waits for the proposer's read barrier, up to the request timeout of
  // the clock; false when it failed, timed out or the monitor stopped.
  bool WaitForBarrier();
  void RaiseCorrupt();

  const CorruptionCheckOptions opts_;
  const absl::Duration period_;
  const storage::MvccStore* store_;
  const std::unique_ptr<PeerHasher> hasher_;
  Proposer* proposer_;
  const base::Clock& clock_;
  base::Logger* logger_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;             // guarded by mu_
  absl::Time next_check_;             // guarded by mu_
  std::shared_ptr<Barrier> waiting_;  // guarded by mu_: the barrier a check waits for
  std::thread thread_;
};

}  // namespace server
