#include "raft/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "raft/check.h"

namespace raft {

void Inflights::Add(uint64_t last_index) {
  RAFT_CHECK(!Full()) << "inflights overflow";
  RAFT_CHECK(buffer_.empty() || buffer_.back() < last_index) << "inflights out of order";
  buffer_.push_back(last_index);
}

void Inflights::FreeLE(uint64_t index) {
  auto it = std::upper_bound(buffer_.begin(), buffer_.end(), index);
  buffer_.erase(buffer_.begin(), it);
}

void Inflights::FreeFirstOne() {
  if (!buffer_.empty()) buffer_.erase(buffer_.begin());
}

const char* ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe: return "Probe";
    case ProgressState::kReplicate: return "Replicate";
    case ProgressState::kSnapshot: return "Snapshot";
  }
  return "?";
}

void Progress::ResetState(ProgressState s) {
  probe_sent = false;
  pending_snapshot = 0;
  state = s;
  inflights.Reset();
}

void Progress::BecomeProbe() {
  // After a snapshot the follower has at least the snapshot index; probing
  // from there saves a round trip.
  if (state == ProgressState::kSnapshot) {
    uint64_t pending = pending_snapshot;
    ResetState(ProgressState::kProbe);
    next = std::max(match + 1, pending + 1);
  } else {
    ResetState(ProgressState::kProbe);
    next = match + 1;
  }
}

void Progress::BecomeReplicate() {
  ResetState(ProgressState::kReplicate);
  next = match + 1;
}

void Progress::BecomeSnapshot(uint64_t snapshot_index) {
  ResetState(ProgressState::kSnapshot);
  pending_snapshot = snapshot_index;
}

bool Progress::MaybeUpdate(uint64_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;  // the follower answered: probing may resume
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::MaybeDecrTo(uint64_t rejected, uint64_t match_hint) {
  if (state == ProgressState::kReplicate) {
    // Rejection of an index at or below match is stale.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // In Probe only the latest probe (next-1) counts.
  if (next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe: return probe_sent;
    case ProgressState::kReplicate: return inflights.Full();
    case ProgressState::kSnapshot: return true;
  }
  return true;
}

std::string Progress::ToString() const {
  return absl::StrCat(ProgressStateName(state), " match=", match, " next=", next,
                      is_learner ? " learner" : "", probe_sent ? " paused" : "",
                      pending_snapshot ? absl::StrCat(" pendingSnap=", pending_snapshot) : "",
                      " inflight=", inflights.Count());
}

// ---- ProgressTracker ----------------------------------------------------

void ProgressTracker::SetConfig(const raftpb::ConfState& cs, uint64_t next_index) {
  voters_ = std::set<uint64_t>(cs.voters().begin(), cs.voters().end());
  learners_ = std::set<uint64_t>(cs.learners().begin(), cs.learners().end());
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (!IsMember(it->first)) {
      it = progress_.erase(it);
    } else {
      ++it;
    }
  }
  auto add = [&](uint64_t id, bool learner) {
    auto it = progress_.find(id);
    if (it == progress_.end()) {
      it = progress_.emplace(id, Progress(max_inflight_)).first;
      it->second.next = std::max<uint64_t>(next_index, 1);
      // A new member gets a grace period before check-quorum counts it as
      // silent, as if it had just answered.
      it->second.recent_active = true;
    }
    it->second.is_learner = learner;
  };
  for (uint64_t id : voters_) add(id, false);
  for (uint64_t id : learners_) add(id, true);
  for (auto it = votes_.begin(); it != votes_.end();) {
    it = voters_.count(it->first) ? std::next(it) : votes_.erase(it);
  }
}

raftpb::ConfState ProgressTracker::ConfState() const {
  raftpb::ConfState cs;
  for (uint64_t id : voters_) cs.add_voters(id);
  for (uint64_t id : learners_) cs.add_learners(id);
  return cs;
}

Progress* ProgressTracker::Get(uint64_t id) {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

const Progress* ProgressTracker::Get(uint64_t id) const {
  auto it = progress_.find(id);
  return it == progress_.end() ? nullptr : &it->second;
}

uint64_t ProgressTracker::Committed() const {
  if (voters_.empty()) return UINT64_MAX;
  std::vector<uint64_t> matches;
  matches.reserve(voters_.size());
  for (uint64_t id : voters_) {
    const Progress* pr = Get(id);
    matches.push_back(pr ? pr->match : 0);
  }
  // Sorted descending, the Quorum()-th value is replicated on a quorum.
  std::sort(matches.begin(), matches.end(), std::greater<uint64_t>());
  return matches[Quorum() - 1];
}

bool ProgressTracker::QuorumActive() const {
  std::set<uint64_t> active;
  for (uint64_t id : voters_) {
    const Progress* pr = Get(id);
    if (pr && pr->recent_active) active.insert(id);
  }
  return IsQuorum(active);
}

void ProgressTracker::ResetRecentActive(bool active) {
  for (auto& [id, pr] : progress_) pr.recent_active = active;
}

bool ProgressTracker::IsQuorum(const std::set<uint64_t>& ids) const {
  size_t n = 0;
  for (uint64_t id : ids) n += voters_.count(id);
  return !voters_.empty() && n >= Quorum();
}

void ProgressTracker::RecordVote(uint64_t id, bool granted) {
  if (!IsVoter(id)) return;  // learners and strangers never count
  votes_.emplace(id, granted);  // first answer wins; duplicates are ignored
}

VoteResult ProgressTracker::TallyVotes(int* granted, int* rejected) const {
  int g = 0, r = 0;
  for (const auto& [id, v] : votes_) (v ? g : r)++;
  if (granted) *granted = g;
  if (rejected) *rejected = r;
  size_t q = Quorum();
  if (static_cast<size_t>(g) >= q) return VoteResult::kWon;
  if (voters_.size() - r < q) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace raft
