#include "server/state/membership.h"

#include <cstdio>

#include "absl/strings/match.h"

namespace server {

std::string RaftMemberMetaKey(uint64_t member_id) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s%016llx", kRaftMemberMetaPrefix,
                static_cast<unsigned long long>(member_id));
  return buf;
}

std::string EncodeConfChangeContext(const serverpb::MemberAttributes& member) {
  return member.SerializeAsString();
}

serverpb::MemberAttributes DecodeConfChangeContext(uint64_t member_id, const std::string& context) {
  serverpb::MemberAttributes m;
  if (absl::StartsWith(context, "http://") || absl::StartsWith(context, "https://") ||
      !m.ParseFromString(context)) {
    m.Clear();
    if (!context.empty()) m.add_peer_urls(context);
  }
  m.set_member_id(member_id);
  return m;
}

std::map<uint64_t, serverpb::MemberAttributes> LoadRaftMembers(const storage::MvccStore& store) {
  std::map<uint64_t, serverpb::MemberAttributes> out;
  for (const auto& [key, value] : store.ListMeta(kRaftMemberMetaPrefix)) {
    serverpb::MemberAttributes m;
    if (m.ParseFromString(value) && m.member_id() != 0) out[m.member_id()] = std::move(m);
  }
  return out;
}

}  // namespace server
