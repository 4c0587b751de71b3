#include "raft/storage.h"

#include <utility>

#include "raft/check.h"
#include "raft/errors.h"

namespace raft {

uint64_t EntrySize(const raftpb::Entry& e) { return e.ByteSizeLong(); }

void LimitSize(std::vector<raftpb::Entry>* entries, uint64_t max_bytes) {
  if (entries->empty() || max_bytes == kNoLimit) return;
  uint64_t size = EntrySize((*entries)[0]);
  size_t keep = 1;
  for (; keep < entries->size(); ++keep) {
    size += EntrySize((*entries)[keep]);
    if (size > max_bytes) break;
  }
  entries->resize(keep);
}

MemoryStorage::MemoryStorage() { entries_.emplace_back(); }

absl::StatusOr<InitialState> MemoryStorage::GetInitialState() const {
  return InitialState{hard_state_, snapshot_.metadata().conf_state()};
}

absl::StatusOr<std::vector<raftpb::Entry>> MemoryStorage::Entries(uint64_t lo, uint64_t hi,
                                                                  uint64_t max_bytes) const {
  if (lo <= offset()) return CompactedError();
  uint64_t last = offset() + entries_.size() - 1;
  if (hi > last + 1) return LogUnavailableError();
  std::vector<raftpb::Entry> out;
  if (lo >= hi) return out;
  uint64_t size = 0;
  for (uint64_t i = lo; i < hi; ++i) {
    const raftpb::Entry& e = entries_[i - offset()];
    size += EntrySize(e);
    if (!out.empty() && max_bytes != kNoLimit && size > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<uint64_t> MemoryStorage::Term(uint64_t i) const {
  if (i < offset()) return CompactedError();
  if (i - offset() >= entries_.size()) return LogUnavailableError();
  return entries_[i - offset()].term();
}

absl::StatusOr<uint64_t> MemoryStorage::FirstIndex() const { return offset() + 1; }

absl::StatusOr<uint64_t> MemoryStorage::LastIndex() const {
  return offset() + entries_.size() - 1;
}

absl::StatusOr<raftpb::Snapshot> MemoryStorage::Snapshot() const { return snapshot_; }

absl::Status MemoryStorage::ApplySnapshot(const raftpb::Snapshot& snap) {
  if (snap.metadata().index() < snapshot_.metadata().index()) return SnapshotOutOfDateError();
  snapshot_ = snap;
  entries_.clear();
  raftpb::Entry dummy;
  dummy.set_index(snap.metadata().index());
  dummy.set_term(snap.metadata().term());
  entries_.push_back(std::move(dummy));
  return absl::OkStatus();
}

absl::StatusOr<raftpb::Snapshot> MemoryStorage::CreateSnapshot(uint64_t i,
                                                               const raftpb::ConfState& cs,
                                                               std::string data) {
  if (i <= snapshot_.metadata().index()) return SnapshotOutOfDateError();
  uint64_t last = offset() + entries_.size() - 1;
  RAFT_CHECK_LE(i, last) << "snapshot index " << i << " is past the last index " << last;
  snapshot_.mutable_metadata()->set_index(i);
  snapshot_.mutable_metadata()->set_term(entries_[i - offset()].term());
  *snapshot_.mutable_metadata()->mutable_conf_state() = cs;
  snapshot_.set_data(std::move(data));
  return snapshot_;
}

absl::Status MemoryStorage::Compact(uint64_t compact_index) {
  if (compact_index <= offset()) return CompactedError();
  uint64_t last = offset() + entries_.size() - 1;
  RAFT_CHECK_LE(compact_index, last) << "compact " << compact_index << " is past the last index";
  // Keep the entry at compact_index as the new dummy: its index and term
  // answer Term(FirstIndex()-1).
  uint64_t k = compact_index - offset();
  raftpb::Entry dummy;
  dummy.set_index(entries_[k].index());
  dummy.set_term(entries_[k].term());
  std::vector<raftpb::Entry> rest;
  rest.reserve(entries_.size() - k);
  rest.push_back(std::move(dummy));
  for (size_t j = k + 1; j < entries_.size(); ++j) rest.push_back(std::move(entries_[j]));
  entries_ = std::move(rest);
  return absl::OkStatus();
}

absl::Status MemoryStorage::Append(const std::vector<raftpb::Entry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  uint64_t first = offset() + 1;
  uint64_t last_new = entries.back().index();
  if (last_new < first) return absl::OkStatus();  // all already compacted
  size_t skip = 0;
  if (entries.front().index() < first) skip = first - entries.front().index();
  uint64_t start = entries[skip].index();
  uint64_t last = offset() + entries_.size() - 1;
  RAFT_CHECK_LE(start, last + 1) << "gap in log: appending " << start << " after " << last;
  entries_.resize(start - offset());  // truncate the conflicting suffix
  for (size_t j = skip; j < entries.size(); ++j) entries_.push_back(entries[j]);
  return absl::OkStatus();
}

}  // namespace raft
