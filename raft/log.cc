#include "raft/log.h"

#include <algorithm>

#include "raft/check.h"
#include "raft/errors.h"

namespace raft {

// ---- Unstable ---------------------------------------------------------

std::optional<uint64_t> Unstable::MaybeFirstIndex() const {
  if (snapshot_) return snapshot_->metadata().index() + 1;
  return std::nullopt;
}

std::optional<uint64_t> Unstable::MaybeLastIndex() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->metadata().index();
  return std::nullopt;
}

std::optional<uint64_t> Unstable::MaybeTerm(uint64_t i) const {
  if (i < offset_) {
    if (snapshot_ && snapshot_->metadata().index() == i) return snapshot_->metadata().term();
    return std::nullopt;
  }
  auto last = MaybeLastIndex();
  if (!last || i > *last) return std::nullopt;
  if (entries_.empty()) return snapshot_->metadata().term();  // i == snapshot index
  return entries_[i - offset_].term();
}

void Unstable::StableTo(uint64_t i, uint64_t t) {
  auto gt = MaybeTerm(i);
  // Only drop entries if (i, t) is still what we hold: a newer leader may
  // have replaced them after the Ready that carried them was produced.
  if (!gt || *gt != t || i < offset_) return;
  entries_.erase(entries_.begin(), entries_.begin() + (i + 1 - offset_));
  offset_ = i + 1;
}

void Unstable::StableSnapTo(uint64_t i) {
  if (snapshot_ && snapshot_->metadata().index() == i) snapshot_.reset();
}

void Unstable::Restore(const raftpb::Snapshot& s) {
  offset_ = s.metadata().index() + 1;
  entries_.clear();
  snapshot_ = s;
}

void Unstable::TruncateAndAppend(const std::vector<raftpb::Entry>& entries) {
  uint64_t after = entries.front().index();
  if (after == offset_ + entries_.size()) {
    entries_.insert(entries_.end(), entries.begin(), entries.end());
  } else if (after <= offset_) {
    // Replaces everything unstable; storage's overlapping suffix is
    // overwritten when these entries are persisted.
    offset_ = after;
    entries_ = entries;
  } else {
    entries_.resize(after - offset_);
    entries_.insert(entries_.end(), entries.begin(), entries.end());
  }
}

void Unstable::Slice(uint64_t lo, uint64_t hi, std::vector<raftpb::Entry>* out) const {
  RAFT_CHECK(lo >= offset_ && hi <= offset_ + entries_.size() && lo <= hi)
      << "unstable slice [" << lo << "," << hi << ") out of [" << offset_ << ","
      << offset_ + entries_.size() << ")";
  out->insert(out->end(), entries_.begin() + (lo - offset_), entries_.begin() + (hi - offset_));
}

// ---- RaftLog ------------------------------------------------------------

namespace {

uint64_t MustIndex(const absl::StatusOr<uint64_t>& i) {
  RAFT_CHECK(i.ok()) << "storage unreadable: " << i.status();
  return *i;
}

}  // namespace

RaftLog::RaftLog(const Storage* storage, uint64_t max_next_ents_size)
    : storage_(storage),
      unstable_(MustIndex(storage->LastIndex()) + 1),
      committed_(MustIndex(storage->FirstIndex()) - 1),
      applied_(committed_),
      max_next_ents_size_(max_next_ents_size) {}

uint64_t RaftLog::FirstIndex() const {
  if (auto i = unstable_.MaybeFirstIndex()) return *i;
  auto i = storage_->FirstIndex();
  RAFT_CHECK(i.ok()) << i.status();
  return *i;
}

uint64_t RaftLog::LastIndex() const {
  if (auto i = unstable_.MaybeLastIndex()) return *i;
  auto i = storage_->LastIndex();
  RAFT_CHECK(i.ok()) << i.status();
  return *i;
}

absl::StatusOr<uint64_t> RaftLog::Term(uint64_t i) const {
  uint64_t dummy = FirstIndex() - 1;
  if (i < dummy) return CompactedError();
  if (i > LastIndex()) return 0;
  if (auto t = unstable_.MaybeTerm(i)) return *t;
  auto t = storage_->Term(i);
  if (t.ok()) return *t;
  if (IsCompacted(t.status()) || IsLogUnavailable(t.status())) return t.status();
  RAFT_FATAL() << "storage Term(" << i << "): " << t.status();
}

uint64_t RaftLog::TermOrZero(uint64_t i) const {
  auto t = Term(i);
  if (t.ok()) return *t;
  RAFT_CHECK(IsCompacted(t.status())) << t.status();
  return 0;
}

uint64_t RaftLog::LastTerm() const {
  auto t = Term(LastIndex());
  RAFT_CHECK(t.ok()) << "term of the last entry: " << t.status();
  return *t;
}

bool RaftLog::MatchTerm(uint64_t i, uint64_t term) const {
  auto t = Term(i);
  return t.ok() && *t == term;
}

bool RaftLog::IsUpToDate(uint64_t last_index, uint64_t term) const {
  uint64_t lt = LastTerm();
  return term > lt || (term == lt && last_index >= LastIndex());
}

std::optional<RaftLog::AppendResult> RaftLog::MaybeAppend(
    uint64_t index, uint64_t log_term, uint64_t committed,
    const std::vector<raftpb::Entry>& entries) {
  if (!MatchTerm(index, log_term)) return std::nullopt;
  uint64_t last_new = index + entries.size();
  uint64_t ci = FindConflict(entries);
  uint64_t from = 0;
  if (ci != 0) {
    RAFT_CHECK_GT(ci, committed_) << "entry " << ci << " conflicts with a committed entry";
    std::vector<raftpb::Entry> rest(entries.begin() + (ci - index - 1), entries.end());
    Append(rest);
    from = ci;
  }
  CommitTo(std::min(committed, last_new));
  return AppendResult{last_new, from};
}

uint64_t RaftLog::Append(const std::vector<raftpb::Entry>& entries) {
  if (entries.empty()) return LastIndex();
  uint64_t after = entries.front().index() - 1;
  RAFT_CHECK_GE(after, committed_) << "append would truncate committed entry " << after + 1;
  unstable_.TruncateAndAppend(entries);
  return LastIndex();
}

uint64_t RaftLog::FindConflict(const std::vector<raftpb::Entry>& entries) const {
  for (const auto& e : entries) {
    if (!MatchTerm(e.index(), e.term())) return e.index();
  }
  return 0;
}

std::pair<uint64_t, uint64_t> RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  for (; index > 0; --index) {
    auto t = Term(index);
    if (!t.ok()) return {index, 0};  // compacted: let the leader decide
    if (*t <= term) return {index, *t};
  }
  return {0, 0};
}

bool RaftLog::HasNextCommittedEntries() const {
  uint64_t off = std::max(applied_ + 1, FirstIndex());
  return committed_ + 1 > off;
}

std::vector<raftpb::Entry> RaftLog::NextCommittedEntries() const {
  uint64_t off = std::max(applied_ + 1, FirstIndex());
  if (committed_ + 1 <= off) return {};
  auto ents = Slice(off, committed_ + 1, max_next_ents_size_);
  RAFT_CHECK(ents.ok()) << "committed entries unreadable: " << ents.status();
  return *std::move(ents);
}

absl::StatusOr<std::vector<raftpb::Entry>> RaftLog::Entries(uint64_t i,
                                                            uint64_t max_bytes) const {
  if (i > LastIndex()) return std::vector<raftpb::Entry>{};
  return Slice(i, LastIndex() + 1, max_bytes);
}

absl::StatusOr<std::vector<raftpb::Entry>> RaftLog::Slice(uint64_t lo, uint64_t hi,
                                                          uint64_t max_bytes) const {
  RAFT_CHECK_LE(lo, hi) << "invalid slice";
  if (lo < FirstIndex()) return CompactedError();
  RAFT_CHECK_LE(hi, LastIndex() + 1) << "slice [" << lo << "," << hi << ") past the last index";
  std::vector<raftpb::Entry> out;
  if (lo == hi) return out;
  uint64_t uoff = unstable_.offset();
  if (lo < uoff) {
    auto stored = storage_->Entries(lo, std::min(hi, uoff), max_bytes);
    if (!stored.ok()) {
      if (IsCompacted(stored.status())) return stored.status();
      RAFT_FATAL() << "storage Entries(" << lo << "," << std::min(hi, uoff)
                 << "): " << stored.status();
    }
    out = *std::move(stored);
    // Storage returned fewer than asked for: the size limit was hit.
    if (out.size() < std::min(hi, uoff) - lo) return out;
  }
  if (hi > uoff) unstable_.Slice(std::max(lo, uoff), hi, &out);
  LimitSize(&out, max_bytes);
  return out;
}

absl::StatusOr<raftpb::Snapshot> RaftLog::Snapshot() const {
  if (unstable_.snapshot()) return *unstable_.snapshot();
  return storage_->Snapshot();
}

void RaftLog::CommitTo(uint64_t index) {
  if (committed_ >= index) return;  // never decrease commit
  RAFT_CHECK_LE(index, LastIndex()) << "commit " << index << " is past the last index";
  committed_ = index;
}

bool RaftLog::MaybeCommit(uint64_t max_index, uint64_t term) {
  if (max_index > committed_ && TermOrZero(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::AppliedTo(uint64_t index) {
  if (index == 0) return;
  RAFT_CHECK(committed_ >= index && index >= applied_)
      << "applied " << index << " out of range [" << applied_ << "," << committed_ << "]";
  applied_ = index;
}

void RaftLog::Restore(const raftpb::Snapshot& s) {
  committed_ = s.metadata().index();
  unstable_.Restore(s);
}

void RaftLog::CheckInvariants() const {
  RAFT_CHECK_LE(applied_, committed_);
  RAFT_CHECK_LE(committed_, LastIndex());
  RAFT_CHECK_LE(FirstIndex() - 1, committed_);
}

}  // namespace raft
