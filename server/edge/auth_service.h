// AuthService: etcd's Auth gRPC service with etcd 3.4's semantics. Every
// call but AuthStatus goes through raft as in etcd (reads included, so
// UserGet/RoleGet/UserList/RoleList are linearizable and checked against
// the caller's permissions when applied: auth_applier.h). Passwords are
// hashed with bcrypt here, before proposing (--bcrypt-cost), so the log
// holds hashes only. Authenticate checks the password here, after a
// linearizable barrier, then proposes only the user name and a random token
// prefix; when the auth revision moved meanwhile it starts over (etcd).
// Authenticate is rate-limited per client and its bcrypt compares run on
// bounded workers (authenticate_limiter.h): `etcdserver: too many
// requests` beyond the bounds.
// Ownership: borrows the proposer, the gate and the header sources.
// Thread-safety: gRPC calls it from any thread.
#pragma once

#include "etcdserverpb/rpc.grpc.pb.h"
#include "base/clock.h"
#include "server/edge/auth_gate.h"
#include "server/edge/authenticate_limiter.h"
#include "server/edge/unary_call.h"
#include "server/replication/proposer.h"
#include "server/state/member_info.h"
#include "storage/mvcc_store.h"

namespace server {

class AuthService final : public etcdserverpb::Auth::CallbackService {
 public:
  AuthService(storage::MvccStore* store, Proposer* proposer, const AuthGate* gate, MemberInfo info,
              int bcrypt_cost, const base::Clock* clock,
              AuthenticateLimiter::Options limits = AuthenticateLimiter::Options())
      : proposer_(proposer), gate_(gate), bcrypt_cost_(bcrypt_cost),
        calls_(proposer, HeaderSource{info, proposer, store}), limiter_(clock, limits) {}

#define KETCD_AUTH_RPC(Name, Req, Resp)                                           \
  grpc::ServerUnaryReactor* Name(grpc::CallbackServerContext* ctx,               \
                                 const etcdserverpb::Req* req, etcdserverpb::Resp* resp) override;
  KETCD_AUTH_RPC(AuthEnable, AuthEnableRequest, AuthEnableResponse)
  KETCD_AUTH_RPC(AuthDisable, AuthDisableRequest, AuthDisableResponse)
  KETCD_AUTH_RPC(AuthStatus, AuthStatusRequest, AuthStatusResponse)
  KETCD_AUTH_RPC(Authenticate, AuthenticateRequest, AuthenticateResponse)
  KETCD_AUTH_RPC(UserAdd, AuthUserAddRequest, AuthUserAddResponse)
  KETCD_AUTH_RPC(UserGet, AuthUserGetRequest, AuthUserGetResponse)
  KETCD_AUTH_RPC(UserList, AuthUserListRequest, AuthUserListResponse)
  KETCD_AUTH_RPC(UserDelete, AuthUserDeleteRequest, AuthUserDeleteResponse)
  KETCD_AUTH_RPC(UserChangePassword, AuthUserChangePasswordRequest, AuthUserChangePasswordResponse)
  KETCD_AUTH_RPC(UserGrantRole, AuthUserGrantRoleRequest, AuthUserGrantRoleResponse)
  KETCD_AUTH_RPC(UserRevokeRole, AuthUserRevokeRoleRequest, AuthUserRevokeRoleResponse)
  KETCD_AUTH_RPC(RoleAdd, AuthRoleAddRequest, AuthRoleAddResponse)
  KETCD_AUTH_RPC(RoleGet, AuthRoleGetRequest, AuthRoleGetResponse)
  KETCD_AUTH_RPC(RoleList, AuthRoleListRequest, AuthRoleListResponse)
  KETCD_AUTH_RPC(RoleDelete, AuthRoleDeleteRequest, AuthRoleDeleteResponse)
  KETCD_AUTH_RPC(RoleGrantPermission, AuthRoleGrantPermissionRequest, AuthRoleGrantPermissionResponse)
  KETCD_AUTH_RPC(RoleRevokePermission, AuthRoleRevokePermissionRequest, AuthRoleRevokePermissionResponse)
#undef KETCD_AUTH_RPC

 private:
  // Stamps `ir` with the caller and proposes it; `pick` selects the
  // response field.
  template <typename Resp, typename Pick>
  grpc::ServerUnaryReactor* Propose(grpc::CallbackServerContext* ctx, serverpb::InternalRequest ir,
                                    Resp* resp, Pick pick);
  // Proposes `req` as the InternalRequest field `in`; answers with the
  // InternalResponse field `out`.
  template <typename Req, typename Resp>
  grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* ctx, const Req& req, Resp* resp,
                                    Req* (serverpb::InternalRequest::*in)(),
                                    Resp* (serverpb::InternalResponse::*out)());
  // One Authenticate round (see the header comment) for `client`;
  // `attempts` bounds the retries when the auth state keeps changing.
  void AuthenticateOnce(grpc::ServerUnaryReactor* reactor, etcdserverpb::AuthenticateRequest req,
                        etcdserverpb::AuthenticateResponse* resp, int attempts, std::string client);
  // Ends an Authenticate with an error; a wrong user or password counts
  // against `client`'s budget.
  void FinishAuthenticate(grpc::ServerUnaryReactor* reactor, const std::string& client,
                          const absl::Status& s);

  Proposer* proposer_;
  const AuthGate* gate_;
  const int bcrypt_cost_;
  UnaryCalls calls_;
  // Last: its workers stop (finishing queued compares) before the rest goes.
  AuthenticateLimiter limiter_;
};

}  // namespace server
