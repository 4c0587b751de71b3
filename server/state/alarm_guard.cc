#include "server/state/alarm_guard.h"

#include "server/state/errors.h"

namespace server {

absl::Status AlarmGuard::Refusal(int64_t cost) const {
  if (alarms_->Active(etcdserverpb::CORRUPT)) return CorruptError();
  if (cost > 0 && alarms_->Active(etcdserverpb::NOSPACE)) return NoSpaceError();
  return absl::OkStatus();
}

void AlarmGuard::WatchQuota(int64_t cost) const {
  if (quota_ == nullptr || !over_quota_ || quota_->Available(cost)) return;
  if (alarms_->Active(etcdserverpb::NOSPACE)) return;
  over_quota_();
}

absl::StatusOr<etcdserverpb::PutResponse> AlarmGuard::Put(storage::WriteBatch& batch,
                                                          const etcdserverpb::PutRequest& r) const {
  const int64_t cost = BackendQuota::Cost(r);
  if (auto s = Refusal(cost); !s.ok()) return s;
  auto got = next().Put(batch, r);
  if (got.ok()) WatchQuota(cost);
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
  auto got = next().Txn(batch, r);
  if (got.ok()) WatchQuota(cost);
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
  auto got = next().LeaseGrant(batch, r);
  if (got.ok()) WatchQuota(cost);
  return got;
}

absl::StatusOr<etcdserverpb::LeaseRevokeResponse> AlarmGuard::LeaseRevoke(
    storage::WriteBatch& batch, const etcdserverpb::LeaseRevokeRequest& r) const {
  if (auto s = Refusal(0); !s.ok()) return s;
  return next().LeaseRevoke(batch, r);
}

}  // namespace server
