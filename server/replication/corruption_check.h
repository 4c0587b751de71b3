// The corruption checks: members compare their hashes of the key space
// (server/state/kv_hash.h) over the peer service, as etcd 3.4's
// CheckInitialHashKV and monitorKVHash do.
//  - CheckInitialHashKv (--experimental-initial-corrupt-check): before a
//    restarted member starts raft, it asks every recorded peer for its hash
//    at this member's revision; a peer at the same compaction revision with
//    a different hash makes the start fail ("<id> found data inconsistency
//    with peers"). Peers that are unreachable, behind (future revision) or
//    compacted past it are logged and skipped, as etcd skips them.
//  - CorruptionMonitor (--experimental-corrupt-check-time): every period,
//    the leader hashes its store, asks every peer for its hash at that
//    revision, waits for a read barrier (so that it has applied all it
//    committed), hashes again, and raises the CORRUPT alarm through the log
//    when its own hash changed without a new revision, or a peer is ahead of
//    it, or a peer at the leader's compaction revision hashes differently.
//    The alarm names the member found different (etcd >= 3.4.22 names
//    member 0 instead); once applied, every member refuses writes
//    (alarm_guard.h). One alarm per check.
// Peers are the members recorded in the store (raft_member/ records);
// their URLs come from the shared PeerDirectory.
// Ownership: borrows the store, the directory, the proposer, the clock and
// the logger. Thread-safety: CorruptionMonitor owns one thread, joined by
// Stop() (or the destructor).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/logger.h"
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

class CorruptionMonitor {
 public:
  CorruptionMonitor(CorruptionCheckOptions opts, absl::Duration period, const storage::MvccStore* store,
                    PeerDirectory* peers, Proposer* proposer, base::Logger* logger);
  ~CorruptionMonitor();
  void Stop();

  // One check, as the loop runs it on the leader; public for tests. Returns
  // the member the alarm was raised for, 0 if none.
  uint64_t CheckOnce();

 private:
  void Loop();
  void RaiseCorrupt(uint64_t member_id);

  const CorruptionCheckOptions opts_;
  const absl::Duration period_;
  const storage::MvccStore* store_;
  PeerDirectory* peers_;
  Proposer* proposer_;
  base::Logger* logger_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace server
