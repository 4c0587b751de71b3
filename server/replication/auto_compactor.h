// AutoCompactor: etcd's auto-compaction (--auto-compaction-mode and
// --auto-compaction-retention), with etcd 3.4's schedule (v3compactor):
//  - periodic, retention P: every P/10 (at most every 6 minutes) it notes
//    the store's revision; once P has passed since the last compaction (the
//    first time; then min(P, 1 hour)), it compacts to the revision noted P
//    ago, so that at least P of history is kept;
//  - revision, retention N: every 5 minutes it compacts to the current
//    revision minus N, unless that is not positive or is where it last
//    compacted.
// Only the leader compacts: on any other member the rounds come and go
// (periodic mode still notes revisions) but propose nothing, as etcd pauses
// its compactor when leadership is lost and resumes it when it is won.
// A compaction is an ordinary Compact request proposed through raft, so
// every member compacts at the same revision. One refused because that
// revision is already compacted counts as done (etcd's ErrCompacted);
// any other failure is logged and the round is tried again later.
// Log lines are etcd 3.5's zap messages and fields.
//
// Time comes from the injected clock: RunDue() runs the round that is due
// at the clock's now, so a test with a ManualClock drives the schedule
// without a thread; Start() runs the rounds on a thread of its own.
//
// Ownership: borrows the proposer, clock and logger, which must outlive
// it. Thread-safety: RunDue() is called by one thread at a time (the
// compactor's own once Start() ran); Stop() (or the destructor) joins that
// thread and may be called more than once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/logger.h"
#include "server/replication/proposer.h"

namespace server {

class AutoCompactor {
 public:
  enum class Mode { kPeriodic, kRevision };
  struct Options {
    Mode mode = Mode::kPeriodic;
    // Periodic: the history to keep. Must be at least 10ns.
    absl::Duration period = absl::Hours(1);
    // Revision: the number of revisions to keep. Must be positive.
    int64_t retention = 0;
    // Revision: the time between rounds (etcd's fixed 5 minutes; tests
    // shorten it).
    absl::Duration revision_interval = absl::Minutes(5);
    // How long a compaction may wait for raft (etcd's request timeout).
    absl::Duration request_timeout = absl::Seconds(7);
  };
  struct Sources {
    Proposer* proposer = nullptr;
    // The store's current revision.
    std::function<int64_t()> current_revision;
    // Whether this member leads now.
    std::function<bool()> leading;
    const base::Clock* clock = nullptr;
    base::Logger* logger = nullptr;
  };

  // Notes the current revision (periodic) and schedules the first round.
  AutoCompactor(Options opts, Sources src);
  ~AutoCompactor();
  AutoCompactor(const AutoCompactor&) = delete;
  AutoCompactor& operator=(const AutoCompactor&) = delete;

  void Start();
  void Stop();

  // Runs the round due at the clock's now, if one is; returns once its
  // compaction, if any, was answered.
  void RunDue();
  // When the next round is due.
  absl::Time NextRound() const;

 private:
  void Loop();
  void PeriodicRound(absl::Time now);
  void RevisionRound();
  // Proposes the compaction; OK also when `rev` was already compacted.
  absl::Status Compact(int64_t rev);

  const Options opts_;
  const Sources src_;
  // Periodic: the time between rounds (etcd's retry interval), and the
  // number of revisions noted (one per round) that span the period.
  const absl::Duration round_interval_;
  const size_t kept_samples_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;       // guarded by mu_
  absl::Time next_round_;       // guarded by mu_
  std::thread thread_;

  // The round's own state (one RunDue at a time).
  std::deque<int64_t> samples_;  // periodic: oldest first
  absl::Time last_success_;      // periodic
  absl::Duration wait_before_compacting_;  // periodic: the period, then min(period, 1h)
  int64_t last_compacted_ = 0;   // revision mode: etcd's `prev`
};

}  // namespace server
