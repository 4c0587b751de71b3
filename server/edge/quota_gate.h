// QuotaGate: etcd's quotaKVServer and quotaLeaseServer in front of Put, Txn
// and LeaseGrant. A request whose cost does not fit the backend quota
// (server/state/backend_quota.h) is not proposed: the member raises the
// NOSPACE alarm for itself through the log (ACTIVATE, member id = its own)
// and, once that is applied (or failed), answers "etcdserver: mvcc:
// database space exceeded", as etcd waits for its alarm request.
//
// NoSpaceRaise: the other way in, etcd's applyEntryNormal. A write that
// fitted at the gate but not when applied (the store grew meanwhile) is
// applied all the same and answered NOSPACE (alarm_guard.h); the member
// then raises NOSPACE for itself, one proposal at a time, and the answers
// to such writes wait until that proposal is done, as etcd triggers the
// waiter only once its alarm request returned: a client told NOSPACE finds
// the alarm in `alarm list`.
// Ownership: borrows the quota, the proposer, the raise and the logger.
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "base/logger.h"
#include "grpcpp/support/server_callback.h"
#include "server/replication/proposer.h"
#include "server/state/backend_quota.h"

namespace server {

class NoSpaceRaise {
 public:
  NoSpaceRaise(uint64_t member_id, int64_t quota_bytes, base::Logger* logger)
      : member_id_(member_id), quota_bytes_(quota_bytes), logger_(logger) {}

  // On the apply loop (does not block): proposes NOSPACE for this member
  // through `proposer` unless a raise is in flight; nothing when `proposer`
  // is null (raft not built yet).
  void Raise(Proposer* proposer);
  // Runs `then` once no raise is in flight: at once when none is.
  void AfterRaise(std::function<void()> then);

 private:
  void Done();

  const uint64_t member_id_;
  const int64_t quota_bytes_;
  base::Logger* logger_;
  std::mutex mu_;
  bool raising_ = false;                       // guarded by mu_
  std::vector<std::function<void()>> after_;  // guarded by mu_
};

class QuotaGate {
 public:
  // `raise` may be null: NOSPACE answers are not deferred.
  QuotaGate(const BackendQuota* quota, Proposer* proposer, uint64_t member_id, NoSpaceRaise* raise = nullptr)
      : quota_(quota), proposer_(proposer), member_id_(member_id), raise_(raise) {}

  // True when a request of `cost` may be proposed; otherwise raises the
  // alarm, finishes `reactor` with the refusal and returns false.
  bool Admit(int64_t cost, grpc::ServerUnaryReactor* reactor);

  // `done`, deferred while the member raises NOSPACE when its result is
  // NOSPACE (see NoSpaceRaise).
  ProposeDone DeferNoSpace(ProposeDone done) const;
  // DeferNoSpace of `gate` as a function (UnaryCalls' filter); empty when
  // `gate` is null.
  static std::function<ProposeDone(ProposeDone)> Filter(const QuotaGate* gate);

 private:
  const BackendQuota* quota_;
  Proposer* proposer_;
  const uint64_t member_id_;
  NoSpaceRaise* const raise_;
};

// The request that raises NOSPACE for `member_id`.
serverpb::InternalRequest NoSpaceAlarmRequest(uint64_t member_id);

}  // namespace server
