// Validation of client requests before they are proposed, as etcd's v3rpc
// layer does it: empty keys, ignore_* flag misuse, txn op limits and the
// put/delete overlap rule inside one txn ("duplicate key given in txn request").
#pragma once

#include "absl/status/status.h"
#include "etcdserverpb/rpc.pb.h"

namespace server {

[[nodiscard]] absl::Status CheckRange(const etcdserverpb::RangeRequest& r);
[[nodiscard]] absl::Status CheckPut(const etcdserverpb::PutRequest& r);
[[nodiscard]] absl::Status CheckDeleteRange(const etcdserverpb::DeleteRangeRequest& r);
// Op limits and per-op checks, then the overlap rule for both branches.
[[nodiscard]] absl::Status CheckTxn(const etcdserverpb::TxnRequest& r, int max_txn_ops);

// True when no branch at any depth writes: such a txn is served as a read.
bool IsTxnReadOnly(const etcdserverpb::TxnRequest& r);

}  // namespace server
