// The first contents of a founding member's raft log, and the encoding of
// a membership change's context in the log.
//
// A new cluster's log starts with one committed ENTRY_CONF_CHANGE per
// founding voter at term 1 (raft::BootstrapCluster); each carries the
// member's name and peer URLs in its context, so that members find each
// other from the log (and then the store) alone. Writing it here, beside
// the WAL, lets a tool create or restore a data dir by linking storage/
// alone; the server only opens what this created.
// Thread-safety: free functions; the WAL they create is owned by the caller.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "serverpb/internal.pb.h"
#include "storage/wal.h"

namespace storage {

// A conf change's context: a serialized serverpb.MemberAttributes.
std::string EncodeConfChangeContext(const serverpb::MemberAttributes& member);
// Also reads the first format (the bare peer URL). The result carries
// `member_id` whatever the context says.
serverpb::MemberAttributes DecodeConfChangeContext(uint64_t member_id, const std::string& context);

// Creates the WAL in `wal_dir` (which must not hold one) for member
// `identity.member_id` of cluster `identity.cluster_id`, holding the
// bootstrap entries and HardState of a cluster of `founding` voters, durable
// before it returns. The returned state is what Wal::Open would read back.
[[nodiscard]] absl::StatusOr<Wal::Opened> CreateBootstrappedWal(
    const std::string& wal_dir, const WalMetadata& identity,
    const std::vector<serverpb::MemberAttributes>& founding, const WalOptions& options);

}  // namespace storage
