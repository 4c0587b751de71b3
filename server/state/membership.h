// The raft membership as the state machine records it: every applied conf
// change writes (or, for a removal, deletes) the member's record in the
// store's meta table, in the same batch as the applied index. A restarted
// member finds its peers there (not in --initial-cluster, which etcd also
// ignores once a data dir exists), and a member installed from a snapshot
// gets the leader's records with the snapshot.
//
// A conf change entry's context carries the member's name and peer URLs as
// a serialized serverpb.MemberAttributes.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "serverpb/internal.pb.h"
#include "storage/mvcc_store.h"

namespace server {

inline constexpr char kRaftMemberMetaPrefix[] = "raft_member/";
std::string RaftMemberMetaKey(uint64_t member_id);

std::string EncodeConfChangeContext(const serverpb::MemberAttributes& member);
// Also reads the first format (the bare peer URL).
serverpb::MemberAttributes DecodeConfChangeContext(uint64_t member_id, const std::string& context);

// The recorded members, by id.
std::map<uint64_t, serverpb::MemberAttributes> LoadRaftMembers(const storage::MvccStore& store);

}  // namespace server
