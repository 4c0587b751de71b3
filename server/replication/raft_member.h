// RaftMember: the Proposer of a replicated member. One loop thread owns the
// raft::RawNode, its in-memory log cache and the durable raft log, and
// drives them by the Ready contract (raft/rawnode.h):
//
//   inbox (proposals, peer messages, read barriers, ticks)
//     -> RawNode -> Ready: persist (one fdatasync) -> send -> apply
//        (one MvccStore batch, applied index recorded with it, not synced:
//        the raft log is the durable record and is replayed past the
//        store's applied index after a crash) -> answer waiters -> Advance
//
// Requests and membership changes are answered by id when their entry is
// applied on this member; one whose entry never commits times out
// ("request timed out"), as in etcd. Linearizable reads use ReadIndex: all
// barriers that arrive in one loop turn share one round.
//
// Files: raft_member.cc (the public entry points), raft_loop.cc (the loop,
// the Ready handling, waiters), raft_apply.cc (applying committed entries
// and membership), raft_snapshots.cc (taking, sending, installing).
// Time comes from the injected clock and every line goes to the injected
// logger; a broken invariant (a failed fsync, an undecodable entry) stops
// the process through Logger::Fatal.
// Thread-safety: the public methods are thread-safe; callbacks run on the
// loop thread and must not block.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "base/clock.h"
#include "base/latency_histogram.h"
#include "base/logger.h"
#include "raft/rawnode.h"
#include "raft/storage.h"
#include "server/state/applier.h"
#include "server/peer/peer_transport.h"
#include "server/replication/proposer.h"
#include "server/replication/write_stages.h"
#include "storage/mvcc_store.h"

namespace server {

// The durable side of the raft log (the WAL), as the loop uses it.
class RaftPersistence {
 public:
  virtual ~RaftPersistence() = default;
  // One durable write of entries then hard state; fdatasync when `sync`.
  [[nodiscard]] virtual absl::Status Save(const std::optional<raftpb::HardState>& hs,
                                          const std::vector<raftpb::Entry>& entries,
                                          bool sync) = 0;
  [[nodiscard]] virtual absl::Status SaveSnapshotMarker(const raftpb::SnapshotMetadata& meta) = 0;
  // A snapshot received from the leader replaced the state machine: from
  // now on the log starts after it. Durable when it returns.
  [[nodiscard]] virtual absl::Status SaveInstalledSnapshot(const raftpb::SnapshotMetadata& meta) = 0;
  // Entries at or below `index` may be forgotten.
  [[nodiscard]] virtual absl::Status ReleaseTo(uint64_t index) = 0;
};

struct RaftMemberOptions {
  uint64_t id = 0;
  absl::Duration tick = absl::Milliseconds(100);  // --heartbeat-interval
  uint64_t snapshot_count = 100000;               // --snapshot-count
  // Entries kept behind a snapshot for slow followers.
  uint64_t snapshot_catchup_entries = 5000;
  absl::Duration request_timeout = absl::Seconds(7);
  // <data-dir>/member: where snapshots are staged (snapshot_install.h).
  // Empty for a member that never sends or installs snapshots (tests).
  std::string member_dir;
  // Called on the loop thread after a snapshot replaced the store, for the
  // state kept beside it (the lessor).
  std::function<void()> on_snapshot_installed;
  // Called once, on the loop thread, when this member applied its own
  // removal from the cluster: it must stop (etcd exits).
  std::function<void()> on_removed;
  // Ticks, request deadlines and request ids read this clock. Required.
  const base::Clock* clock = nullptr;
  // Required.
  base::Logger* logger = nullptr;
};

class RaftMember : public Proposer {
 public:
  // Borrows everything; all must outlive the member. `log_cache` already
  // holds what `persistence` recovered (or the bootstrap entries).
  RaftMember(RaftMemberOptions opts, std::unique_ptr<raft::RawNode> node,
             raft::MemoryStorage* log_cache, RaftPersistence* persistence,
             storage::MvccStore* store, const Applier* applier, PeerTransport* transport);
  ~RaftMember() override;

  void Start();
  void Stop();

  // Feeds messages received from a peer (any thread).
  void Deliver(std::vector<raftpb::Message> msgs);
  void ReportUnreachable(uint64_t peer);
  // The outcome of a snapshot transfer to `peer` (any thread).
  void ReportSnapshot(uint64_t peer, bool ok);

  void Propose(serverpb::InternalRequest req, ProposeDone done) override;
  void ProposeConfChange(raftpb::ConfChange cc, ConfChangeDone done) override;
  void ReadBarrier(std::function<void(absl::Status)> done) override;
  void CheckLearnerReady(uint64_t id, std::function<void(absl::Status)> done) override;
  void TransferLeadership(uint64_t target, std::function<void(absl::Status)> done) override;
  uint64_t Term() const override { return term_.load(std::memory_order_relaxed); }
  RaftStatus Status() const override;
  // Raft's configuration (voters, learners) as of the last Ready handled:
  // a change is in it once appended, before it is applied. Any thread.
  raftpb::ConfState ConfState() const;

  // Durable raft-log writes so far (each one fdatasync at most); for tests
  // and stats: concurrent proposals share them (group commit).
  uint64_t LogWrites() const { return log_writes_.load(std::memory_order_relaxed); }
  // Durations of the raft log's synced writes (its fdatasync and the write
  // before it) and of the store's batch commits, for /metrics.
  const base::LatencyHistogram& WalFsyncDurations() const { return wal_fsync_; }
  const base::LatencyHistogram& BackendCommitDurations() const { return backend_commit_; }
  // Where this member's own writes spend their time (write_stages.h).
  const WriteStages& Stages() const { return stages_; }
  // Entries whose apply took longer than 100 ms (etcd_server_slow_apply_total).
  uint64_t SlowApplies() const { return slow_applies_.load(std::memory_order_relaxed); }

  // Unique request ids across the cluster: member id bits, then a counter.
  uint64_t NextRequestId();

 private:
  struct Waiter {
    ProposeDone done;
    absl::Time deadline;
    absl::Time accepted;  // InfinitePast: not timed (a forwarded change)
  };
  struct ReadWaiter {
    std::function<void(absl::Status)> done;
    absl::Time deadline;
  };
  // What goes into the log: a request, or a membership change.
  struct Proposal {
    serverpb::InternalRequest req;
    std::optional<raftpb::ConfChange> conf_change;  // set: a membership change
    ProposeDone done;
    absl::Time accepted = absl::InfinitePast();  // when Propose took it
    uint64_t id() const { return conf_change ? conf_change->id() : req.id(); }
  };
  struct Inbox {
    std::vector<raftpb::Message> messages;
    // When each Deliver's messages arrived, and how many (peer_wait).
    std::vector<std::pair<absl::Time, size_t>> message_arrivals;
    std::vector<uint64_t> unreachable;
    std::vector<std::pair<uint64_t, bool>> snapshot_reports;
    std::vector<Proposal> proposals;
    std::vector<std::function<void(absl::Status)>> reads;
    std::vector<std::function<void(bool stopped)>> tasks;  // run on the loop thread
    bool empty() const {
      return messages.empty() && unreachable.empty() && snapshot_reports.empty() &&
             proposals.empty() && reads.empty() && tasks.empty();
    }
  };

  void Enqueue(Proposal p);
  // Runs `task(false)` on the loop thread, or `task(true)` once stopping.
  void RunOnLoop(std::function<void(bool stopped)> task);
  void Loop();
  void CampaignIfSoleVoter();
  // `now`: when the loop took `in` from the inbox.
  void HandleInbox(Inbox& in, absl::Time now);
  void HandleReady();
  // Ready steps 1 and 2 (raft/rawnode.h): persist, and send what waits
  // for the disk.
  void Persist(raft::Ready& rd, std::vector<raftpb::Message> out, bool leading);
  void Apply(const std::vector<raftpb::Entry>& committed);
  // Answers the waiters of `results`, applied at `written`.
  void Answer(std::vector<std::pair<uint64_t, ProposeResult>>& results, absl::Time written);
  // Records the change in `wb` and the peer directory; returns its id.
  uint64_t ApplyConfChange(storage::WriteBatch& wb, const raftpb::Entry& e);
  void PublishConfState();
  // Leader: checkpoints the store and streams it to m.to() in place of the
  // log it no longer has (m's metadata is rewritten to the checkpoint's).
  void SendSnapshot(raftpb::Message m);
  // Follower: replaces the store with the received snapshot raft accepted.
  void InstallSnapshot(const raftpb::Snapshot& snap);
  void ReloadPeers();
  void MaybeSnapshot();
  void ServeReads();
  void ExpireWaiters(absl::Time now);
  // Requests that arrived while no leader was known wait here (up to their
  // deadline) and are retried when one is, as etcd makes them wait.
  void RetryParked();
  [[noreturn]] void Fatal(const std::string& what, const absl::Status& s);

  const RaftMemberOptions opts_;
  const base::Clock& clock_;
  base::Logger& logger_;
  std::unique_ptr<raft::RawNode> node_;
  raft::MemoryStorage* log_cache_;
  RaftPersistence* persistence_;
  storage::MvccStore* store_;
  const Applier* applier_;
  PeerTransport* transport_;

  std::mutex mu_;
  std::condition_variable cv_;
  Inbox inbox_;          // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread loop_;

  // Loop-thread state.
  std::map<uint64_t, Waiter> waiters_;                           // request id -> waiter
  std::map<std::string, std::vector<ReadWaiter>> read_rounds_;   // ctx -> barriers
  std::vector<std::pair<uint64_t, std::vector<ReadWaiter>>> ready_reads_;  // index -> barriers
  struct ParkedProposal {
    Proposal p;
    absl::Time deadline;
  };
  std::vector<ParkedProposal> parked_proposals_;
  std::vector<ReadWaiter> parked_reads_;
  struct TransferWaiter {
    uint64_t target;
    ReadWaiter w;
  };
  std::vector<TransferWaiter> transfers_;
  // Leader: entries [first, last] began to be persisted and sent at
  // `appended` and are not committed yet (the replication stage).
  struct Appended {
    uint64_t first;
    uint64_t last;
    absl::Time appended;
  };
  std::deque<Appended> appended_;
  uint64_t next_read_ctx_ = 1;
  uint64_t snapshot_index_ = 0;
  bool removed_ = false;           // this member's removal was applied
  bool removal_reported_ = false;  // on_removed has run

  std::atomic<uint64_t> term_{0};
  std::atomic<uint64_t> leader_{0};
  std::atomic<uint64_t> commit_index_{0};
  std::atomic<uint64_t> request_seq_;
  std::atomic<uint64_t> log_writes_{0};
  std::atomic<uint64_t> leader_changes_{0};
  std::atomic<bool> is_learner_{false};
  std::atomic<uint64_t> slow_applies_{0};
  base::LatencyHistogram wal_fsync_;
  base::LatencyHistogram backend_commit_;
  WriteStages stages_;
  mutable std::mutex conf_mu_;
  raftpb::ConfState conf_state_;  // guarded by conf_mu_
};

}  // namespace server
