// RaftLog: the replicated log as one node sees it, i.e. the stable part in
// Storage plus the unstable suffix (and possibly a snapshot) that raft has
// produced but the application has not persisted yet.
//
// Invariants (checked by CheckInvariants and on every mutation):
//   applied <= committed <= LastIndex()
//   FirstIndex() - 1 <= committed  (a snapshot is only ever committed state)
//   a committed entry is never truncated.
// Ownership: borrows Storage. Thread-safety: none, single-threaded.
#ifndef KETCD_RAFT_LOG_H_
#define KETCD_RAFT_LOG_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/storage.h"
#include "raftpb/raft.pb.h"

namespace raft {

// Entries and/or a snapshot not yet handed to (or not yet acknowledged by)
// the application's durable storage.
class Unstable {
 public:
  explicit Unstable(uint64_t offset) : offset_(offset) {}

  std::optional<uint64_t> MaybeFirstIndex() const;
  std::optional<uint64_t> MaybeLastIndex() const;
  std::optional<uint64_t> MaybeTerm(uint64_t i) const;

  void StableTo(uint64_t i, uint64_t t);
  void StableSnapTo(uint64_t i);
  void Restore(const raftpb::Snapshot& s);
  void TruncateAndAppend(const std::vector<raftpb::Entry>& entries);
  // Entries [lo, hi), all of which must be in the unstable part.
  void Slice(uint64_t lo, uint64_t hi, std::vector<raftpb::Entry>* out) const;

  uint64_t offset() const { return offset_; }
  const std::vector<raftpb::Entry>& entries() const { return entries_; }
  const std::optional<raftpb::Snapshot>& snapshot() const { return snapshot_; }

 private:
  std::optional<raftpb::Snapshot> snapshot_;
  std::vector<raftpb::Entry> entries_;
  uint64_t offset_;  // index of entries_[0]
};

class RaftLog {
 public:
  RaftLog(const Storage* storage, uint64_t max_next_ents_size);

  uint64_t FirstIndex() const;
  uint64_t LastIndex() const;
  uint64_t LastTerm() const;
  // Term of entry i. 0 (ok) if i is past the end; CompactedError if i is
  // before FirstIndex()-1.
  absl::StatusOr<uint64_t> Term(uint64_t i) const;
  // Term(i), with "compacted" read as 0; any other error is fatal.
  uint64_t TermOrZero(uint64_t i) const;
  bool MatchTerm(uint64_t i, uint64_t term) const;
  // Election restriction (§5.4.1): is (last_index, term) at least as
  // up-to-date as this log?
  bool IsUpToDate(uint64_t last_index, uint64_t term) const;

  struct AppendResult {
    uint64_t last_new_index;
    uint64_t appended_from;  // first index actually written, 0 if none
  };
  // Follower side of AppendEntries: if entry `index` has `log_term`, merges
  // entries (truncating a conflicting uncommitted suffix) and advances the
  // commit index to min(committed, last new index).
  std::optional<AppendResult> MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                          const std::vector<raftpb::Entry>& entries);
  // Appends at entries[0].index(), truncating after it. Returns LastIndex().
  uint64_t Append(const std::vector<raftpb::Entry>& entries);
  // First index in entries whose term differs from the log's, or 0.
  uint64_t FindConflict(const std::vector<raftpb::Entry>& entries) const;
  // The largest index <= `index` whose term is <= `term`, with that term.
  // Used for the fast back-off of a rejected AppendEntries: both sides skip
  // a whole term at a time instead of one entry per round trip.
  std::pair<uint64_t, uint64_t> FindConflictByTerm(uint64_t index, uint64_t term) const;

  const std::vector<raftpb::Entry>& UnstableEntries() const { return unstable_.entries(); }
  // Last index known to be in Storage (persisted, per the Ready contract).
  uint64_t StableLastIndex() const { return unstable_.offset() - 1; }
  const std::optional<raftpb::Snapshot>& UnstableSnapshot() const { return unstable_.snapshot(); }
  bool HasNextCommittedEntries() const;
  std::vector<raftpb::Entry> NextCommittedEntries() const;
  // Entries from i to the end, at most max_bytes (but at least one).
  absl::StatusOr<std::vector<raftpb::Entry>> Entries(uint64_t i, uint64_t max_bytes) const;
  absl::StatusOr<std::vector<raftpb::Entry>> Slice(uint64_t lo, uint64_t hi,
                                                   uint64_t max_bytes) const;
  absl::StatusOr<raftpb::Snapshot> Snapshot() const;

  void CommitTo(uint64_t index);
  // Commits max_index if its entry is from `term` (the current term):
  // Raft never commits an older-term entry by counting replicas (§5.4.2).
  bool MaybeCommit(uint64_t max_index, uint64_t term);
  void AppliedTo(uint64_t index);
  void StableTo(uint64_t i, uint64_t t) { unstable_.StableTo(i, t); }
  void StableSnapTo(uint64_t i) { unstable_.StableSnapTo(i); }
  void Restore(const raftpb::Snapshot& s);

  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }

  void CheckInvariants() const;

 private:
  const Storage* storage_;
  Unstable unstable_;
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
  uint64_t max_next_ents_size_;
};

}  // namespace raft

#endif  // KETCD_RAFT_LOG_H_
