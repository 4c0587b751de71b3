#include "server/state/applier.h"

#include <utility>

namespace server {
namespace {

// The InternalResponse holding `got` (set into its field by `set`), or the error.
template <typename Resp, typename Set>
absl::StatusOr<serverpb::InternalResponse> Wrap(absl::StatusOr<Resp> got, Set set) {
  if (!got.ok()) return got.status();
  serverpb::InternalResponse out;
  set(out, std::move(*got));
  return out;
}

}  // namespace

absl::StatusOr<serverpb::InternalResponse> Applier::ApplyEntry(
    storage::WriteBatch& batch, const serverpb::InternalRequest& req) const {
  using R = serverpb::InternalResponse;
  if (auto s = Admit(batch, req); !s.ok()) return s;
  switch (req.request_case()) {
    case serverpb::InternalRequest::kPut:
      return Wrap(Put(batch, req.put()), [](R& o, auto v) { *o.mutable_put() = std::move(v); });
    case serverpb::InternalRequest::kDeleteRange:
      return Wrap(DeleteRange(batch, req.delete_range()),
                  [](R& o, auto v) { *o.mutable_delete_range() = std::move(v); });
    case serverpb::InternalRequest::kTxn:
      return Wrap(Txn(batch, req.txn()), [](R& o, auto v) { *o.mutable_txn() = std::move(v); });
    case serverpb::InternalRequest::kCompaction:
      return Wrap(Compaction(batch, req.compaction()),
                  [](R& o, auto v) { *o.mutable_compaction() = std::move(v); });
    case serverpb::InternalRequest::kMemberAttributes:
      return Wrap(SetMemberAttributes(batch, req.member_attributes()),
                  [](R& o, auto v) { *o.mutable_member_attributes() = std::move(v); });
    case serverpb::InternalRequest::kLeaseGrant:
      return Wrap(LeaseGrant(batch, req.lease_grant()),
                  [](R& o, auto v) { *o.mutable_lease_grant() = std::move(v); });
    case serverpb::InternalRequest::kLeaseRevoke:
      return Wrap(LeaseRevoke(batch, req.lease_revoke()),
                  [](R& o, auto v) { *o.mutable_lease_revoke() = std::move(v); });
    case serverpb::InternalRequest::kLeaseCheckpoint:
      return Wrap(LeaseCheckpoint(batch, req.lease_checkpoint()),
                  [](R& o, auto v) { *o.mutable_lease_checkpoint() = std::move(v); });
    case serverpb::InternalRequest::kAlarm:
      return Wrap(Alarm(batch, req.alarm()), [](R& o, auto v) { *o.mutable_alarm() = std::move(v); });
    case serverpb::InternalRequest::kAuthEnable:
    case serverpb::InternalRequest::kAuthDisable:
    case serverpb::InternalRequest::kAuthenticate:
    case serverpb::InternalRequest::kUserAdd:
    case serverpb::InternalRequest::kUserDelete:
    case serverpb::InternalRequest::kUserChangePassword:
    case serverpb::InternalRequest::kUserGrantRole:
    case serverpb::InternalRequest::kUserRevokeRole:
    case serverpb::InternalRequest::kUserGet:
    case serverpb::InternalRequest::kUserList:
    case serverpb::InternalRequest::kRoleAdd:
    case serverpb::InternalRequest::kRoleGrantPermission:
    case serverpb::InternalRequest::kRoleGet:
    case serverpb::InternalRequest::kRoleList:
    case serverpb::InternalRequest::kRoleDelete:
    case serverpb::InternalRequest::kRoleRevokePermission:
      return ApplyAuth(batch, req);
    case serverpb::InternalRequest::REQUEST_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("empty internal request");
}

}  // namespace server
