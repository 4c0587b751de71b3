// AlarmGuard: the applier decorator that makes the active alarms bite, as
// etcd's applierV3Corrupt and applierV3Capped do, on every member alike
// (the alarms are replicated, so every member refuses the same entries):
//  - CORRUPT (any member's): Put, DeleteRange, every Txn that reaches the
//    log, Compaction, LeaseGrant and LeaseRevoke fail with "corrupt
//    cluster";
//  - NOSPACE (any member's): what adds data fails with "mvcc: database
//    space exceeded": Put, a Txn with a put on either branch, LeaseGrant.
//    Deletes, compaction, revokes and read-only txns pass, so that an
//    operator can make room.
// Reads served from the store (Range, read-only Txn) never reach it, as
// etcd serves them from its base applier.
//
// It also watches the quota while applying, as etcd's quotaApplierV3: a
// Put, Txn or LeaseGrant whose cost does not fit this member's quota when
// it is applied (the store grew since the request passed the gate) is
// applied all the same (it is in the log and applies on every member: its
// changes stay in the batch) but answered "mvcc: database space exceeded",
// and `over_quota` is called (on the apply loop; it must not block) so
// that the member raises NOSPACE for itself (quota_gate.h's NoSpaceRaise,
// which also holds that answer until the alarm is raised). This is the one
// error with the entry's changes kept (applier.h's contract).
//
// Ownership: borrows the next applier, the alarm store and the quota.
// Thread-safety: as Applier.
#pragma once

#include <functional>

#include "server/state/alarms.h"
#include "server/state/applier.h"
#include "server/state/backend_quota.h"

namespace server {

class AlarmGuard final : public ApplierDecorator {
 public:
  // `quota` and `over_quota` may be null (no quota watch on apply).
  AlarmGuard(const Applier* next, const AlarmStore* alarms, const BackendQuota* quota,
             std::function<void()> over_quota)
      : ApplierDecorator(next), alarms_(alarms), quota_(quota), over_quota_(std::move(over_quota)) {}

  // The alarm's refusal of an entry of a kind it guards comes before the
  // next applier's admission (auth), as etcd's capped and corrupt appliers
  // wrap its auth applier: under NOSPACE or CORRUPT an unpermitted write is
  // refused for the alarm, not for the permission.
  absl::Status Admit(const storage::WriteBatch& batch,
                     const serverpb::InternalRequest& req) const override;
  absl::StatusOr<etcdserverpb::PutResponse> Put(
      storage::WriteBatch& batch, const etcdserverpb::PutRequest& r) const override;
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      storage::WriteBatch& batch, const etcdserverpb::DeleteRangeRequest& r) const override;
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(
      storage::WriteBatch& batch, const etcdserverpb::TxnRequest& r) const override;
  absl::StatusOr<etcdserverpb::CompactionResponse> Compaction(
      storage::WriteBatch& batch, const etcdserverpb::CompactionRequest& r) const override;
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(
      storage::WriteBatch& batch, const etcdserverpb::LeaseGrantRequest& r) const override;
  absl::StatusOr<etcdserverpb::LeaseRevokeResponse> LeaseRevoke(
      storage::WriteBatch& batch, const etcdserverpb::LeaseRevokeRequest& r) const override;

 private:
  // The refusal for a request that adds `cost` bytes (0: adds nothing),
  // or OK.
  absl::Status Refusal(int64_t cost) const;
  // Whether a write of `cost` fits the quota (always, without one).
  bool Fits(int64_t cost) const;
  // A write that did not fit was applied: raise NOSPACE; its answer.
  absl::Status Crossed() const;

  const AlarmStore* alarms_;
  const BackendQuota* quota_;
  const std::function<void()> over_quota_;
};

}  // namespace server
