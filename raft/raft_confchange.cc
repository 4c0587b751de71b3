// Membership changes: one voter at a time, in effect as soon as appended.
// The safety argument is in raft.h ("Membership").
#include "raft/raft.h"

#include <algorithm>

#include "raft/check.h"
#include "raft/errors.h"

namespace raft {
namespace {

bool Contains(const google::protobuf::RepeatedField<uint64_t>& ids, uint64_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

void Erase(google::protobuf::RepeatedField<uint64_t>* ids, uint64_t id) {
  auto it = std::remove(ids->begin(), ids->end(), id);
  ids->Truncate(static_cast<int>(it - ids->begin()));
}

// The configuration after cc. Validation happened at the leader that
// appended cc against this same configuration (log matching makes every
// node see the same history), so anything odd here is a no-op.
raftpb::ConfState ApplyChange(const raftpb::ConfState& cs, const raftpb::ConfChange& cc) {
  raftpb::ConfState out = cs;
  uint64_t id = cc.node_id();
  if (id == kNone) return out;
  switch (cc.type()) {
    case raftpb::CONF_CHANGE_ADD_NODE:
      Erase(out.mutable_learners(), id);
      if (!Contains(out.voters(), id)) out.add_voters(id);
      break;
    case raftpb::CONF_CHANGE_ADD_LEARNER_NODE:
      if (!Contains(out.voters(), id) && !Contains(out.learners(), id)) out.add_learners(id);
      break;
    case raftpb::CONF_CHANGE_REMOVE_NODE:
      Erase(out.mutable_voters(), id);
      Erase(out.mutable_learners(), id);
      break;
    default:
      break;
  }
  std::sort(out.mutable_voters()->begin(), out.mutable_voters()->end());
  std::sort(out.mutable_learners()->begin(), out.mutable_learners()->end());
  return out;
}

}  // namespace

absl::Status Raft::ValidateConfChange(const raftpb::ConfChange& cc) const {
  if (conf_history_.back().first > log_.committed()) {
    return ConfChangeBusyError("a previous membership change is not committed yet");
  }
  if (!CommittedEntryInCurrentTerm()) {
    return ConfChangeBusyError("the leader has not committed an entry in its term yet");
  }
  uint64_t id = cc.node_id();
  if (id == kNone) return ConfChangeRejectedError("node id 0");
  switch (cc.type()) {
    case raftpb::CONF_CHANGE_ADD_NODE:
      if (trk_.IsVoter(id)) return ConfChangeRejectedError("already a voter");
      break;
    case raftpb::CONF_CHANGE_ADD_LEARNER_NODE:
      if (trk_.IsVoter(id)) return ConfChangeRejectedError("cannot demote a voter to learner");
      if (trk_.IsLearner(id)) return ConfChangeRejectedError("already a learner");
      break;
    case raftpb::CONF_CHANGE_REMOVE_NODE:
      if (!trk_.IsMember(id)) return ConfChangeRejectedError("not a member");
      if (trk_.IsVoter(id) && trk_.voters().size() == 1) {
        return ConfChangeRejectedError("cannot remove the last voter");
      }
      break;
    case raftpb::CONF_CHANGE_UPDATE_NODE:
      if (!trk_.IsMember(id)) return ConfChangeRejectedError("not a member");
      break;
    default:
      return ConfChangeRejectedError("unknown change type");
  }
  return absl::OkStatus();
}

void Raft::ApplyConfEntries(const std::vector<raftpb::Entry>& entries) {
  for (const auto& e : entries) {
    if (e.type() != raftpb::ENTRY_CONF_CHANGE) continue;
    raftpb::ConfChange cc;
    RAFT_CHECK(cc.ParseFromString(e.data())) << "corrupt ConfChange at index " << e.index();
    raftpb::ConfState next = ApplyChange(conf_history_.back().second, cc);
    RAFT_CHECK_GT(e.index(), conf_history_.back().first) << "configuration entries out of order";
    conf_history_.emplace_back(e.index(), std::move(next));
  }
}

void Raft::TruncateConfHistory(uint64_t index) {
  while (conf_history_.size() > 1 && conf_history_.back().first > index) {
    // RaftLog already refuses to truncate a committed entry.
    conf_history_.pop_back();
  }
}

void Raft::OnApplied(uint64_t applied) {
  // Keep the latest configuration at or below applied as the base.
  while (conf_history_.size() > 1 && conf_history_[1].first <= applied) {
    conf_history_.erase(conf_history_.begin());
  }
}

bool Raft::CanCampaign() const {
  if (Promotable()) return true;
  size_t n = conf_history_.size();
  if (n < 2 || conf_history_.back().first <= log_.committed()) return false;
  const auto& prev = conf_history_[n - 2].second.voters();
  return std::find(prev.begin(), prev.end(), id_) != prev.end();
}

raftpb::ConfState Raft::ConfStateAt(uint64_t index) const {
  RAFT_CHECK_GE(index, conf_history_.front().first) << "configuration history already forgotten";
  raftpb::ConfState cs = conf_history_.front().second;
  for (const auto& [i, c] : conf_history_) {
    if (i <= index) cs = c;
  }
  return cs;
}

void Raft::SwitchToCurrentConfig() {
  trk_.SetConfig(conf_state(), log_.LastIndex() + 1);
  if (state_ != StateType::kLeader) return;
  if (Progress* self = trk_.Get(id_)) {
    if (self->state != ProgressState::kReplicate) self->BecomeReplicate();
    self->recent_active = true;
  }
  if (lead_transferee_ != kNone && !trk_.IsVoter(lead_transferee_)) AbortLeaderTransfer();
}

void Raft::MaybeStepDownAfterRemoval() {
  if (state_ != StateType::kLeader || trk_.IsVoter(id_)) return;
  if (conf_history_.back().first > log_.committed()) return;  // removal not committed yet
  // Hand over to the most up-to-date voter so the cluster does not wait a
  // whole election timeout, then stop leading.
  uint64_t best = kNone;
  uint64_t best_match = 0;
  for (uint64_t id : trk_.voters()) {
    const Progress* pr = trk_.Get(id);
    if (pr && pr->match >= best_match) {
      best = id;
      best_match = pr->match;
    }
  }
  if (best != kNone && best_match == log_.LastIndex()) SendTimeoutNow(best);
  BecomeFollower(term_, kNone);
}

}  // namespace raft
