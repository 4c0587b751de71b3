// QuotaGate: etcd's quotaKVServer and quotaLeaseServer in front of Put, Txn
// and LeaseGrant. A request whose cost does not fit the backend quota
// (server/state/backend_quota.h) is not proposed: the member raises the
// NOSPACE alarm for itself through the log (ACTIVATE, member id = its own)
// and, once that is applied (or failed), answers "etcdserver: mvcc:
// database space exceeded", as etcd waits for its alarm request.
// Ownership: borrows the quota and the proposer. Thread-safety: thread-safe.
#pragma once

#include <cstdint>

#include "grpcpp/support/server_callback.h"
#include "server/replication/proposer.h"
#include "server/state/backend_quota.h"

namespace server {

class QuotaGate {
 public:
  QuotaGate(const BackendQuota* quota, Proposer* proposer, uint64_t member_id)
      : quota_(quota), proposer_(proposer), member_id_(member_id) {}

  // True when a request of `cost` may be proposed; otherwise raises the
  // alarm, finishes `reactor` with the refusal and returns false.
  bool Admit(int64_t cost, grpc::ServerUnaryReactor* reactor);

 private:
  const BackendQuota* quota_;
  Proposer* proposer_;
  const uint64_t member_id_;
};

// The request that raises NOSPACE for `member_id` (also proposed by the
// apply loop's quota watch, alarm_guard.h).
serverpb::InternalRequest NoSpaceAlarmRequest(uint64_t member_id);

}  // namespace server
