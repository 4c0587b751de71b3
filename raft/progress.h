// Leader-side bookkeeping: per-follower Progress (match/next, the
// Probe/Replicate/Snapshot state machine, in-flight window) and the
// ProgressTracker, which holds the membership configuration and does the
// quorum arithmetic (commit index from match indexes, vote tallies,
// check-quorum activity).
//
// Ownership: the Raft state machine owns one tracker. Thread-safety: none.
#ifndef KETCD_RAFT_PROGRESS_H_
#define KETCD_RAFT_PROGRESS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raftpb/raft.pb.h"

namespace raft {

// Bounded window of in-flight MsgApp, identified by their last index. Flow
// control: a follower in Replicate state gets at most `capacity` appends
// that it has not acknowledged yet.
class Inflights {
 public:
  explicit Inflights(int capacity) : capacity_(capacity) {}
  void Add(uint64_t last_index);
  // Frees every in-flight append ending at or below index (acknowledged).
  void FreeLE(uint64_t index);
  void FreeFirstOne();
  bool Full() const { return static_cast<int>(buffer_.size()) >= capacity_; }
  int Count() const { return static_cast<int>(buffer_.size()); }
  void Reset() { buffer_.clear(); }

 private:
  int capacity_;
  std::vector<uint64_t> buffer_;  // ascending; small, so a vector is fine
};

enum class ProgressState { kProbe, kReplicate, kSnapshot };
const char* ProgressStateName(ProgressState s);

struct Progress {
  explicit Progress(int max_inflight) : inflights(max_inflight) {}

  // Highest index known replicated on the follower; next index to send.
  // Invariant: match < next.
  uint64_t match = 0;
  uint64_t next = 1;
  // Probe: one append per heartbeat interval until the follower's log
  //   position is found. Replicate: optimistic pipelining, next advances
  //   on send. Snapshot: waiting for the follower to install one.
  ProgressState state = ProgressState::kProbe;
  uint64_t pending_snapshot = 0;
  // Heard from since the last check-quorum round.
  bool recent_active = false;
  // In Probe: an append is outstanding, wait for a reply or a heartbeat.
  bool probe_sent = false;
  bool is_learner = false;
  Inflights inflights;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(uint64_t snapshot_index);
  // A successful append response up to n. Returns false if stale.
  bool MaybeUpdate(uint64_t n);
  void OptimisticUpdate(uint64_t n) { next = n + 1; }
  // A rejected append of `rejected` with the follower's hint. Returns false
  // if the rejection is stale (out of order or already superseded).
  bool MaybeDecrTo(uint64_t rejected, uint64_t match_hint);
  // No more appends to this follower until something unblocks it.
  bool IsPaused() const;
  std::string ToString() const;

 private:
  void ResetState(ProgressState s);
};

enum class VoteResult { kPending, kLost, kWon };

// Membership configuration plus per-member progress.
class ProgressTracker {
 public:
  explicit ProgressTracker(int max_inflight) : max_inflight_(max_inflight) {}

  // Replaces the configuration. New members start in Probe with next =
  // next_index; members that stay keep their progress.
  void SetConfig(const raftpb::ConfState& cs, uint64_t next_index);
  raftpb::ConfState ConfState() const;

  bool IsVoter(uint64_t id) const { return voters_.count(id) > 0; }
  bool IsLearner(uint64_t id) const { return learners_.count(id) > 0; }
  bool IsMember(uint64_t id) const { return IsVoter(id) || IsLearner(id); }
  const std::set<uint64_t>& voters() const { return voters_; }
  const std::set<uint64_t>& learners() const { return learners_; }
  size_t Quorum() const { return voters_.size() / 2 + 1; }

  Progress* Get(uint64_t id);
  const Progress* Get(uint64_t id) const;
  std::map<uint64_t, Progress>& progress() { return progress_; }
  const std::map<uint64_t, Progress>& progress() const { return progress_; }

  // The largest index replicated on a quorum of voters (learners ignored).
  // With no voters returns UINT64_MAX, which never commits anything since
  // it is past the log; callers only use it with voters.
  uint64_t Committed() const;
  // True if a quorum of voters was recently active (the caller counts
  // itself as active).
  bool QuorumActive() const;
  // Sets recent_active on every progress to `active`.
  void ResetRecentActive(bool active);

  void ResetVotes() { votes_.clear(); }
  // Records a vote from a voter (others are ignored), and tallies.
  void RecordVote(uint64_t id, bool granted);
  VoteResult TallyVotes(int* granted, int* rejected) const;
  // Is ids a quorum of the voters?
  bool IsQuorum(const std::set<uint64_t>& ids) const;

 private:
  int max_inflight_;
  std::set<uint64_t> voters_;
  std::set<uint64_t> learners_;
  std::map<uint64_t, Progress> progress_;
  std::map<uint64_t, bool> votes_;
};

}  // namespace raft

#endif  // KETCD_RAFT_PROGRESS_H_
