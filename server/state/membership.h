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

// The records' keys are storage::RaftMemberMetaKey (storage/meta_schema.h).
// The context's encoding is storage::EncodeConfChangeContext
// (storage/wal_bootstrap.h), which also writes the founding members'.

// The recorded members, by id.
std::map<uint64_t, serverpb::MemberAttributes> LoadRaftMembers(const storage::MvccStore& store);

}  // namespace server
