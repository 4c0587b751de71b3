// OpenRaftLog: a member's raft log, ready for a RaftMember: opens the WAL
// under <wal_dir> (repairing a torn tail) or, on a member's first start,
// creates it with the bootstrap membership (storage/wal_bootstrap.h); loads
// it into the in-memory log cache raft reads; and builds the RawNode at the
// store's applied index.
//
// Refuses a WAL of another member or cluster, a corrupt WAL, and a data dir
// whose store was written without a raft log. Finishes the installation of
// a snapshot interrupted between the store swap and the raft log's marker.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "base/logger.h"
#include "raft/rawnode.h"
#include "raft/storage.h"
#include "server/replication/raft_member.h"
#include "serverpb/internal.pb.h"
#include "storage/mvcc_store.h"

namespace server {

struct RaftLogOptions {
  std::string wal_dir;
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
  // Founding voters (id, name, peer URLs); used only when the WAL is created.
  std::vector<serverpb::MemberAttributes> initial_members;
  int election_tick = 10;
  uint64_t random_seed = 0;
  uint64_t wal_segment_bytes = 64ull << 20;
  // Where recoveries (a torn tail dropped, an interrupted snapshot install
  // finished) are reported. Not owned; null reports nothing.
  base::Logger* logger = nullptr;
};

struct RaftLog {
  std::unique_ptr<raft::MemoryStorage> cache;
  std::unique_ptr<RaftPersistence> persistence;
  std::unique_ptr<raft::RawNode> node;
};

[[nodiscard]] absl::StatusOr<RaftLog> OpenRaftLog(const RaftLogOptions& opts,
                                                  const storage::MvccStore& store);

}  // namespace server
