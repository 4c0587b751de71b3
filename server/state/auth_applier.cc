#include "server/state/auth_applier.h"

#include <utility>

namespace server {
namespace {

using Req = serverpb::InternalRequest;

// The auth requests only root may make (etcd's needAdminPermission).
bool NeedsAdmin(Req::RequestCase c) {
  switch (c) {
    case Req::kAuthEnable:
    case Req::kAuthDisable:
    case Req::kUserAdd:
    case Req::kUserDelete:
    case Req::kUserChangePassword:
    case Req::kUserGrantRole:
    case Req::kUserRevokeRole:
    case Req::kRoleAdd:
    case Req::kRoleGrantPermission:
    case Req::kRoleRevokePermission:
    case Req::kRoleDelete:
    case Req::kUserList:
    case Req::kRoleList:
      return true;
    default:
      return false;
  }
}

absl::Status CheckOps(const AuthState& st, const AuthInfo& who,
                      const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) {
  for (const auto& op : ops) {
    absl::Status s;
    switch (op.request_case()) {
      case etcdserverpb::RequestOp::kRequestRange:
        s = CheckPermitted(st, who, op.request_range().key(), op.request_range().range_end(),
                           PermAccess::kRead);
        break;
      case etcdserverpb::RequestOp::kRequestPut:
        s = CheckPermitted(st, who, op.request_put().key(), "", PermAccess::kWrite);
        break;
      case etcdserverpb::RequestOp::kRequestDeleteRange: {
        const auto& d = op.request_delete_range();
        if (d.prev_kv()) s = CheckPermitted(st, who, d.key(), d.range_end(), PermAccess::kRead);
        if (s.ok()) s = CheckPermitted(st, who, d.key(), d.range_end(), PermAccess::kWrite);
        break;
      }
      case etcdserverpb::RequestOp::kRequestTxn:
        s = CheckTxnPermitted(st, who, op.request_txn());
        break;
      case etcdserverpb::RequestOp::REQUEST_NOT_SET:
        break;
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// etcd's checkLeasePuts: write on every key attached to the lease.
absl::Status CheckLeaseKeys(const AuthState& st, const AuthInfo& who,
                            const storage::WriteBatch& batch, int64_t lease) {
  if (lease == 0 || !st.enabled) return absl::OkStatus();
  auto keys = batch.LeaseKeys(lease);
  if (!keys.ok()) return keys.status();
  for (const auto& k : *keys) {
    if (auto s = CheckPermitted(st, who, k, "", PermAccess::kWrite); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Wraps one typed response into the InternalResponse field `set` fills.
template <typename Resp, typename Set>
absl::StatusOr<serverpb::InternalResponse> Wrap(absl::StatusOr<Resp> got, Set set) {
  if (!got.ok()) return got.status();
  serverpb::InternalResponse out;
  *set(out) = std::move(*got);
  return out;
}

}  // namespace

absl::Status CheckTxnPermitted(const AuthState& state, const AuthInfo& who,
                               const etcdserverpb::TxnRequest& txn) {
  for (const auto& c : txn.compare()) {
    if (auto s = CheckPermitted(state, who, c.key(), c.range_end(), PermAccess::kRead); !s.ok()) return s;
  }
  if (auto s = CheckOps(state, who, txn.success()); !s.ok()) return s;
  return CheckOps(state, who, txn.failure());
}

absl::Status AuthApplier::Admit(const storage::WriteBatch& batch, const Req& req) const {
  if (auto s = next().Admit(batch, req); !s.ok()) return s;
  if (!req.has_auth()) return absl::OkStatus();  // the member's own request
  auto st = auth_->State();
  const AuthInfo who{req.auth().username(), req.auth().auth_revision()};
  if (NeedsAdmin(req.request_case())) return CheckAdmin(*st, who);
  switch (req.request_case()) {
    case Req::kPut: {
      const auto& p = req.put();
      if (auto s = CheckPermitted(*st, who, p.key(), "", PermAccess::kWrite); !s.ok()) return s;
      if (auto s = CheckLeaseKeys(*st, who, batch, p.lease()); !s.ok()) return s;
      if (p.prev_kv()) return CheckPermitted(*st, who, p.key(), "", PermAccess::kRead);
      return absl::OkStatus();
    }
    case Req::kDeleteRange: {
      const auto& d = req.delete_range();
      if (auto s = CheckPermitted(*st, who, d.key(), d.range_end(), PermAccess::kWrite); !s.ok()) return s;
      if (d.prev_kv()) return CheckPermitted(*st, who, d.key(), d.range_end(), PermAccess::kRead);
      return absl::OkStatus();
    }
    case Req::kTxn:
      return CheckTxnPermitted(*st, who, req.txn());
    case Req::kLeaseRevoke:
      return CheckLeaseKeys(*st, who, batch, req.lease_revoke().id());
    case Req::kUserGet:
      // A user may read itself (etcd checks admin first and keeps its error).
      if (auto s = CheckAdmin(*st, who); !s.ok() && req.user_get().name() != who.username) return s;
      return absl::OkStatus();
    case Req::kRoleGet:
      if (auto s = CheckAdmin(*st, who); !s.ok() && !st->HasRole(who.username, req.role_get().role())) {
        return s;
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::StatusOr<serverpb::InternalResponse> AuthApplier::ApplyAuth(storage::WriteBatch& b,
                                                                  const Req& req) const {
  using R = serverpb::InternalResponse;
  AuthStore& a = *auth_;
  switch (req.request_case()) {
    case Req::kAuthEnable:
      return Wrap(a.ApplyEnable(b), [](R& o) { return o.mutable_auth_enable(); });
    case Req::kAuthDisable:
      return Wrap(a.ApplyDisable(b), [](R& o) { return o.mutable_auth_disable(); });
    case Req::kAuthenticate:
      return Wrap(a.ApplyAuthenticate(req.authenticate(), req.id()),
                  [](R& o) { return o.mutable_authenticate(); });
    case Req::kUserAdd:
      return Wrap(a.ApplyUserAdd(b, req.user_add()), [](R& o) { return o.mutable_user_add(); });
    case Req::kUserDelete:
      return Wrap(a.ApplyUserDelete(b, req.user_delete()), [](R& o) { return o.mutable_user_delete(); });
    case Req::kUserChangePassword:
      return Wrap(a.ApplyUserChangePassword(b, req.user_change_password()),
                  [](R& o) { return o.mutable_user_change_password(); });
    case Req::kUserGrantRole:
      return Wrap(a.ApplyUserGrantRole(b, req.user_grant_role()),
                  [](R& o) { return o.mutable_user_grant_role(); });
    case Req::kUserRevokeRole:
      return Wrap(a.ApplyUserRevokeRole(b, req.user_revoke_role()),
                  [](R& o) { return o.mutable_user_revoke_role(); });
    case Req::kUserGet:
      return Wrap(a.UserGet(req.user_get()), [](R& o) { return o.mutable_user_get(); });
    case Req::kUserList:
      return Wrap(absl::StatusOr<etcdserverpb::AuthUserListResponse>(a.UserList()),
                  [](R& o) { return o.mutable_user_list(); });
    case Req::kRoleAdd:
      return Wrap(a.ApplyRoleAdd(b, req.role_add()), [](R& o) { return o.mutable_role_add(); });
    case Req::kRoleGrantPermission:
      return Wrap(a.ApplyRoleGrantPermission(b, req.role_grant_permission()),
                  [](R& o) { return o.mutable_role_grant_permission(); });
    case Req::kRoleGet:
      return Wrap(a.RoleGet(req.role_get()), [](R& o) { return o.mutable_role_get(); });
    case Req::kRoleList:
      return Wrap(absl::StatusOr<etcdserverpb::AuthRoleListResponse>(a.RoleList()),
                  [](R& o) { return o.mutable_role_list(); });
    case Req::kRoleDelete:
      return Wrap(a.ApplyRoleDelete(b, req.role_delete()), [](R& o) { return o.mutable_role_delete(); });
    case Req::kRoleRevokePermission:
      return Wrap(a.ApplyRoleRevokePermission(b, req.role_revoke_permission()),
                  [](R& o) { return o.mutable_role_revoke_permission(); });
    default:
      return next().ApplyAuth(b, req);
  }
}

}  // namespace server
