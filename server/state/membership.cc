#include "server/state/membership.h"

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

}  // namespace server
