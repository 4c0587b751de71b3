#include "storage/wal_bootstrap.h"

#include <map>

#include "absl/strings/match.h"
#include "raft/rawnode.h"

namespace storage {

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

absl::StatusOr<Wal::Opened> CreateBootstrappedWal(
    const std::string& wal_dir, const WalMetadata& identity,
    const std::vector<serverpb::MemberAttributes>& founding, const WalOptions& options) {
  auto created = Wal::Create(wal_dir, identity, options);
  if (!created.ok()) return created.status();
  std::vector<uint64_t> voters;
  std::map<uint64_t, const serverpb::MemberAttributes*> members;
  for (const auto& m : founding) {
    voters.push_back(m.member_id());
    members[m.member_id()] = &m;
  }
  raft::Bootstrap boot = raft::BootstrapCluster(voters);
  for (auto& e : boot.entries) {
    raftpb::ConfChange cc;
    if (cc.ParseFromString(e.data()) && members.count(cc.node_id())) {
      cc.set_context(EncodeConfChangeContext(*members[cc.node_id()]));
      e.set_data(cc.SerializeAsString());
    }
  }
  if (auto s = (*created)->Save(boot.hard_state, boot.entries); !s.ok()) return s;
  Wal::Opened out;
  out.wal = std::move(*created);
  out.state.metadata = identity;
  out.state.hard_state = boot.hard_state;
  out.state.entries = std::move(boot.entries);
  return out;
}

}  // namespace storage
