#include "server/state/alarm_guard.h"

#include "server/state/errors.h"

namespace server {

absl::Status AlarmGuard::Refusal(int64_t cost) const {
  if (alarms_->Active(etcdserverpb::CORRUPT)) return CorruptError();
  if (cost > 0 && alarms_->Active(etcdserverpb::NOSPACE)) return NoSpaceError();
  return absl::OkStatus();
}

absl::Status AlarmGuard::Admit(const storage::WriteBatch& batch, const serverpb::InternalRequest& req) const {
  absl::Status refusal;
  switch (req.request_case()) {
    case serverpb::InternalRequest::kPut: refusal = Refusal(BackendQuota::Cost(req.put())); break;
    case serverpb::InternalRequest::kTxn: refusal = Refusal(BackendQuota::Cost(req.txn())); break;
    case serverpb::InternalRequest::kLeaseGrant: refusal = Refusal(BackendQuota::Cost(req.lease_grant())); break;
    case serverpb::InternalRequest::kDeleteRange:
    case serverpb::InternalRequest::kCompaction:
    case serverpb::InternalRequest::kLeaseRevoke: refusal = Refusal(0); break;
    default: break;  // not guarded: the alarms themselves, auth, members, checkpoints
  }
  if (!refusal.ok()) return refusal;
  return next().Admit(batch, req);
}

bool AlarmGuard::Fits(int64_t cost) const { return quota_ == nullptr || quota_->Available(cost); }

absl::Status AlarmGuard::Crossed() const {
  // The alarm refuses before applying: none is active when a write crossed.
  if (over_quota_ && !alarms_->Active(etcdserverpb::NOSPACE)) over_quota_();
  return NoSpaceError();
}

absl::StatusOr<etcdserverpb::PutResponse> AlarmGuard::Put(storage::WriteBatch& batch,
                                                          const etcdserverpb::PutRequest& r) const {
  const int64_t cost = BackendQuota::Cost(r);
  if (auto s = Refusal(cost); !s.ok()) return s;
  const bool fits = Fits(cost);  // measured before, as etcd's quotaApplierV3
  auto got = next().Put(batch, r);
  if (got.ok() && !fits) return Crossed();
  return got;
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> AlarmGuard::DeleteRange(
    storage::WriteBatch& batch, const etcdserverpb::DeleteRangeRequest& r) const {
  if (auto s = Refusal(0); !s.ok()) return s;
  return next().DeleteRange(batch, r);
}

absl::StatusOr<etcdserverpb::TxnResponse> AlarmGuard::Txn(storage::WriteBatch& batch,
                                                          const etcdserverpb::TxnRequest& r) const {
  const int64_t cost = BackendQuota::Cost(r);
  if (auto s = Refusal(cost); !s.ok()) return s;
  const bool fits = Fits(cost);
  auto got = next().Txn(batch, r);
  if (got.ok() && !fits) return Crossed();
  return got;
}

absl::StatusOr<etcdserverpb::CompactionResponse> AlarmGuard::Compaction(
    storage::WriteBatch& batch, const etcdserverpb::CompactionRequest& r) const {
  if (auto s = Refusal(0); !s.ok()) return s;
  return next().Compaction(batch, r);
}

absl::StatusOr<etcdserverpb::LeaseGrantResponse> AlarmGuard::LeaseGrant(
    storage::WriteBatch& batch, const etcdserverpb::LeaseGrantRequest& r) const {
  const int64_t cost = BackendQuota::Cost(r);
  if (auto s = Refusal(cost); !s.ok()) return s;
  const bool fits = Fits(cost);
  auto got = next().LeaseGrant(batch, r);
  if (got.ok() && !fits) return Crossed();
  return got;
}

absl::StatusOr<etcdserverpb::LeaseRevokeResponse> AlarmGuard::LeaseRevoke(
    storage::WriteBatch& batch, const etcdserverpb::LeaseRevokeRequest& r) const {
  if (auto s = Refusal(0); !s.ok()) return s;
  return next().LeaseRevoke(batch, r);
}

}  // namespace server
