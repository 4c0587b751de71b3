// Log storage as the raft core sees it, and an in-memory implementation.
//
// Contract: raft only *reads* Storage. The application owns every write: it
// appends Ready::entries, sets Ready::hard_state and installs Ready::snapshot
// before calling RawNode::Advance, and compacts after it has made the state
// machine durable through the compaction index. Expected outcomes are the
// named errors of errors.h (compacted, unavailable, snapshot temporarily
// unavailable); raft aborts on any other error, because a storage that can
// no longer read its own log cannot take part in consensus safely.
// Ownership: RawNode borrows the Storage; it must outlive the RawNode.
// Thread-safety: none. MemoryStorage is used from the raft thread only.
#ifndef KETCD_RAFT_STORAGE_H_
#define KETCD_RAFT_STORAGE_H_

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raftpb/raft.pb.h"

namespace raft {

inline constexpr uint64_t kNoLimit = std::numeric_limits<uint64_t>::max();

struct InitialState {
  raftpb::HardState hard_state;
  // Membership as of the snapshot. Raft replays the configuration entries
  // still in the log on top of it (see raft.h, "Membership").
  raftpb::ConfState conf_state;
};

class Storage {
 public:
  virtual ~Storage() = default;

  [[nodiscard]] virtual absl::StatusOr<InitialState> GetInitialState() const = 0;

  // Entries in [lo, hi), at least one if any exist, and no more than
  // max_bytes in total otherwise. CompactedError if lo < FirstIndex();
  // UnavailableError if hi > LastIndex() + 1.
  [[nodiscard]] virtual absl::StatusOr<std::vector<raftpb::Entry>> Entries(
      uint64_t lo, uint64_t hi, uint64_t max_bytes) const = 0;

  // Term of entry i, for i in [FirstIndex()-1, LastIndex()]. The term of
  // FirstIndex()-1 is the snapshot's term.
  [[nodiscard]] virtual absl::StatusOr<uint64_t> Term(uint64_t i) const = 0;

  // Index of the oldest entry still available (snapshot index + 1).
  [[nodiscard]] virtual absl::StatusOr<uint64_t> FirstIndex() const = 0;
  [[nodiscard]] virtual absl::StatusOr<uint64_t> LastIndex() const = 0;

  // The most recent snapshot. SnapshotTemporarilyUnavailableError while one
  // is being built.
  [[nodiscard]] virtual absl::StatusOr<raftpb::Snapshot> Snapshot() const = 0;
};

// Storage kept in memory: a snapshot plus the entries after it. Used by
// tests, by the simulation as each node's "disk", and as the raft log cache.
class MemoryStorage : public Storage {
 public:
  MemoryStorage();

  absl::StatusOr<InitialState> GetInitialState() const override;
  absl::StatusOr<std::vector<raftpb::Entry>> Entries(uint64_t lo, uint64_t hi,
                                                     uint64_t max_bytes) const override;
  absl::StatusOr<uint64_t> Term(uint64_t i) const override;
  absl::StatusOr<uint64_t> FirstIndex() const override;
  absl::StatusOr<uint64_t> LastIndex() const override;
  absl::StatusOr<raftpb::Snapshot> Snapshot() const override;

  void SetHardState(const raftpb::HardState& hs) { hard_state_ = hs; }
  const raftpb::HardState& hard_state() const { return hard_state_; }

  // Replaces the whole content with the snapshot. SnapshotOutOfDateError if
  // it is older than the snapshot already held. An index-0 snapshot is how a
  // new cluster is bootstrapped with its initial ConfState.
  [[nodiscard]] absl::Status ApplySnapshot(const raftpb::Snapshot& snap);

  // Records a snapshot of the state machine at applied index i (which must
  // be in the log) without dropping entries; Compact drops them.
  [[nodiscard]] absl::StatusOr<raftpb::Snapshot> CreateSnapshot(
      uint64_t i, const raftpb::ConfState& cs, std::string data);

  // Drops entries before compact_index. CompactedError if already dropped.
  [[nodiscard]] absl::Status Compact(uint64_t compact_index);

  // Appends entries, truncating any existing suffix they conflict with.
  // Entries older than the first index are ignored.
  [[nodiscard]] absl::Status Append(const std::vector<raftpb::Entry>& entries);

 private:
  uint64_t offset() const { return entries_.front().index(); }

  raftpb::HardState hard_state_;
  raftpb::Snapshot snapshot_;
  // entries_[0] is a dummy holding the snapshot's index and term, so that
  // Term(FirstIndex()-1) needs no special case. entries_[k].index() ==
  // offset() + k.
  std::vector<raftpb::Entry> entries_;
};

// Sum of the serialized sizes of entries, as flow control counts bytes.
uint64_t EntrySize(const raftpb::Entry& e);

// Keeps the longest prefix of entries whose total size is at most max_bytes,
// but always at least one entry.
void LimitSize(std::vector<raftpb::Entry>* entries, uint64_t max_bytes);

}  // namespace raft

#endif  // KETCD_RAFT_STORAGE_H_
