#include "server/state/membership.h"

#include <algorithm>

#include "server/state/errors.h"
#include "storage/meta_schema.h"

namespace server {

std::map<uint64_t, serverpb::MemberAttributes> LoadRaftMembers(const storage::MvccStore& store) {
  std::map<uint64_t, serverpb::MemberAttributes> out;
  for (const auto& [key, value] : store.ListMeta(storage::kRaftMemberMetaPrefix)) {
    serverpb::MemberAttributes m;
    if (m.ParseFromString(value) && m.member_id() != 0) out[m.member_id()] = std::move(m);
  }
  return out;
}

size_t Membership::Learners() const {
  return std::count_if(members.begin(), members.end(), [](const auto& e) { return e.second.is_learner(); });
}

std::vector<uint64_t> Membership::Voters() const {
  std::vector<uint64_t> out;
  for (const auto& [id, m] : members) {
    if (!m.is_learner()) out.push_back(id);
  }
  return out;
}

bool Membership::IsLearner(uint64_t id) const {
  auto it = members.find(id);
  return it != members.end() && it->second.is_learner();
}

Membership LoadMembership(const storage::MvccStore& store) {
  Membership out;
  out.members = LoadRaftMembers(store);
  for (const auto& [key, value] : store.ListMeta(storage::kMemberMetaPrefix)) {
    serverpb::MemberAttributes published;
    if (!published.ParseFromString(value)) continue;
    auto it = out.members.find(published.member_id());
    if (it != out.members.end() && !published.name().empty()) it->second.set_name(published.name());
  }
  const std::string prefix = storage::kRemovedMemberMetaPrefix;
  for (const auto& [key, value] : store.ListMeta(prefix)) {
    if (auto id = storage::DecodeMetaId(std::string_view(key).substr(prefix.size()))) {
      out.removed.insert(*id);
    }
  }
  return out;
}

namespace {

bool UrlTaken(const Membership& m, uint64_t except, const std::string& url) {
  for (const auto& [id, member] : m.members) {
    if (id == except) continue;
    if (std::find(member.peer_urls().begin(), member.peer_urls().end(), url) != member.peer_urls().end()) {
      return true;
    }
  }
  return false;
}

// etcd's quorum test: `started` of `members` (future) voters must reach a majority.
absl::Status NeedQuorumStarted(size_t started, size_t members) {
  if (started < members / 2 + 1) return MemberNotEnoughStartedError();
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckAddMember(const Membership& m, const serverpb::MemberAttributes& added, size_t max_learners) {
  const uint64_t id = added.member_id();
  if (m.removed.count(id)) return MemberNotFoundError();
  if (m.members.count(id)) return MemberExistsError();
  for (const auto& url : added.peer_urls()) {
    if (UrlTaken(m, 0, url)) return PeerUrlExistsError();
  }
  if (added.is_learner() && m.Learners() + 1 > max_learners) return TooManyLearnersError();
  return absl::OkStatus();
}

absl::Status CheckRemoveMember(const Membership& m, uint64_t id) {
  if (m.removed.count(id) || !m.members.count(id)) return MemberNotFoundError();
  return absl::OkStatus();
}

absl::Status CheckUpdateMember(const Membership& m, uint64_t id, const std::vector<std::string>& peer_urls) {
  if (m.removed.count(id) || !m.members.count(id)) return MemberNotFoundError();
  for (const auto& url : peer_urls) {
    if (UrlTaken(m, id, url)) return PeerUrlExistsError();
  }
  return absl::OkStatus();
}

absl::Status CheckPromoteMember(const Membership& m, uint64_t id) {
  if (m.removed.count(id) || !m.members.count(id)) return MemberNotFoundError();
  if (!m.IsLearner(id)) return MemberNotLearnerError();
  return absl::OkStatus();
}

absl::Status CheckStartedForAddVoter(const Membership& m) {
  size_t voters = 0, started = 0;
  for (const auto& [id, member] : m.members) {
    if (member.is_learner()) continue;
    ++voters;
    if (!member.name().empty()) ++started;
  }
  // A second voter for a lone started voter (restoring data into a new
  // cluster) is etcd's one exception.
  if (started == 1 && voters == 1) return absl::OkStatus();
  return NeedQuorumStarted(started, voters + 1);
}

absl::Status CheckStartedForRemoveVoter(const Membership& m, uint64_t id) {
  size_t voters = 0, started = 0;
  for (const auto& [mid, member] : m.members) {
    if (member.is_learner() || mid == id) continue;
    ++voters;
    if (!member.name().empty()) ++started;
  }
  return NeedQuorumStarted(started, voters);
}

absl::Status CheckStartedForPromote(const Membership& m) {
  // The learner counts as a future voter and as started.
  size_t voters = 1, started = 1;
  for (const auto& [id, member] : m.members) {
    if (member.is_learner()) continue;
    ++voters;
    if (!member.name().empty()) ++started;
  }
  return NeedQuorumStarted(started, voters);
}

}  // namespace server
