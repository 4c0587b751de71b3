// The header every etcd response carries (cluster_id, member_id,
// raft_term, revision), filled the same way by every client-facing service
// (KV, Lease, Watch, Cluster, Maintenance).
//
// The revision is the one field whose source differs: an applied or read
// response already carries the revision its write or read saw (the applier
// sets it), which must be kept; an answer tied to no single write (lease
// calls, member list, status) reports the store's revision now, as etcd does.
// Thread-safety: FillHeader is thread-safe; the pointees must outlive every
// call.
#pragma once

#include "etcdserverpb/rpc.pb.h"
#include "server/replication/proposer.h"
#include "server/state/member_info.h"
#include "storage/mvcc_store.h"

namespace server {

// Where a header's fields come from. Not owned.
struct HeaderSource {
  MemberInfo info;
  const Proposer* proposer = nullptr;
  const storage::MvccStore* store = nullptr;
};

enum class HeaderRevision {
  kKeep,     // the revision already in the header (set by the applier)
  kCurrent,  // the store's current revision
};

void FillHeader(const HeaderSource& src, HeaderRevision revision, etcdserverpb::ResponseHeader* h);

}  // namespace server
