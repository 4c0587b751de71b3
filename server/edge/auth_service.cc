#include "server/edge/auth_service.h"

#include <random>
#include <string>
#include <utility>

#include "server/edge/grpc_errors.h"
#include "server/state/errors.h"
#include "server/state/password.h"

namespace server {
namespace {

using R = serverpb::InternalResponse;

// etcd's simple token prefix: 16 random letters. The OS's random source,
// drawn per call (no shared generator).
std::string NewTokenPrefix() {
  static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::random_device rd;
  std::uniform_int_distribution<int> pick(0, sizeof(kLetters) - 2);
  std::string out(16, 'a');
  for (char& c : out) c = kLetters[pick(rd)];
  return out;
}

}  // namespace

template <typename Resp, typename Pick>
grpc::ServerUnaryReactor* AuthService::Propose(grpc::CallbackServerContext* ctx,
                                               serverpb::InternalRequest ir, Resp* resp, Pick pick) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = CheckRequireLeader(*ctx, *proposer_); !s.ok()) return UnaryCalls::Fail(ctx, s);
  if (auto s = gate_->Stamp(*ctx, &ir); !s.ok()) return UnaryCalls::Fail(ctx, s);
  auto* reactor = ctx->DefaultReactor();
  calls_.ProposeAndAnswer(std::move(ir), reactor, resp, pick, HeaderRevision::kCurrent);
  return reactor;
}

template <typename Req, typename Resp>
grpc::ServerUnaryReactor* AuthService::Forward(grpc::CallbackServerContext* ctx, const Req& req,
                                               Resp* resp, Req* (serverpb::InternalRequest::*in)(),
                                               Resp* (serverpb::InternalResponse::*out)()) {
  serverpb::InternalRequest ir;
  *(ir.*in)() = req;
  return Propose(ctx, std::move(ir), resp, [out](R& r) { return (r.*out)(); });
}

grpc::ServerUnaryReactor* AuthService::AuthEnable(grpc::CallbackServerContext* ctx,
                                                  const etcdserverpb::AuthEnableRequest* req,
                                                  etcdserverpb::AuthEnableResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_auth_enable, &R::mutable_auth_enable);
}

grpc::ServerUnaryReactor* AuthService::AuthDisable(grpc::CallbackServerContext* ctx,
                                                   const etcdserverpb::AuthDisableRequest* req,
                                                   etcdserverpb::AuthDisableResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_auth_disable, &R::mutable_auth_disable);
}

grpc::ServerUnaryReactor* AuthService::AuthStatus(grpc::CallbackServerContext* ctx,
                                                  const etcdserverpb::AuthStatusRequest*,
                                                  etcdserverpb::AuthStatusResponse* resp) {
  // etcd 3.5: a linearizable read of the flag and revision, for anyone.
  auto* reactor = ctx->DefaultReactor();
  proposer_->ReadBarrier([this, reactor, resp](absl::Status barrier) {
    if (!barrier.ok()) return reactor->Finish(ToGrpcStatus(barrier));
    auto st = gate_->store().State();
    etcdserverpb::AuthStatusResponse out;
    out.set_enabled(st->enabled);
    out.set_authrevision(st->revision);
    calls_.Answer(reactor, resp, absl::StatusOr<etcdserverpb::AuthStatusResponse>(std::move(out)),
                  HeaderRevision::kCurrent);
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuthService::Authenticate(grpc::CallbackServerContext* ctx,
                                                    const etcdserverpb::AuthenticateRequest* req,
                                                    etcdserverpb::AuthenticateResponse* resp) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) return UnaryCalls::Fail(ctx, s);
  std::string client = AuthenticateLimiter::ClientOf(ctx->peer());
  if (!limiter_.Admit(client)) return UnaryCalls::Fail(ctx, TooManyRequestsError());
  auto* reactor = ctx->DefaultReactor();
  AuthenticateOnce(reactor, *req, resp, 5, std::move(client));
  return reactor;
}

void AuthService::FinishAuthenticate(grpc::ServerUnaryReactor* reactor, const std::string& client,
                                     const absl::Status& s) {
  if (base::KindOf(s) == base::ErrorKind::kAuthFailed) limiter_.Failed(client);
  reactor->Finish(ToGrpcStatus(s));
}

void AuthService::AuthenticateOnce(grpc::ServerUnaryReactor* reactor, etcdserverpb::AuthenticateRequest req,
                                   etcdserverpb::AuthenticateResponse* resp, int attempts, std::string client) {
  proposer_->ReadBarrier([this, reactor, req = std::move(req), resp, attempts,
                          client = std::move(client)](absl::Status barrier) {
    if (!barrier.ok()) return FinishAuthenticate(reactor, client, barrier);
    // bcrypt runs on the limiter's workers, never on raft's or gRPC's threads.
    const bool queued = limiter_.Submit([this, reactor, req, resp, attempts, client](bool stopped) {
      if (stopped) return FinishAuthenticate(reactor, client, StoppedError());
      auto checked = gate_->store().CheckPassword(req.name(), req.password());
      if (!checked.ok()) return FinishAuthenticate(reactor, client, checked.status());
      serverpb::InternalRequest ir;
      ir.mutable_authenticate()->set_name(req.name());
      ir.mutable_authenticate()->set_simple_token(NewTokenPrefix());
      const uint64_t checked_rev = *checked;
      calls_.Propose(std::move(ir), [this, reactor, req, resp, attempts, checked_rev, client](ProposeResult r) {
        if (!r.ok()) return FinishAuthenticate(reactor, client, r.status());
        // The password was checked against an auth state that changed before
        // the token was made (etcd retries; so do we, a few times).
        if (checked_rev != gate_->store().Revision() && attempts > 1) {
          return AuthenticateOnce(reactor, req, resp, attempts - 1, client);
        }
        calls_.Answer(reactor, resp, absl::StatusOr<etcdserverpb::AuthenticateResponse>(
                                         std::move(*r->mutable_authenticate())),
                      HeaderRevision::kCurrent);
      });
    });
    if (!queued) FinishAuthenticate(reactor, client, TooManyRequestsError());
  });
}

grpc::ServerUnaryReactor* AuthService::UserAdd(grpc::CallbackServerContext* ctx,
                                               const etcdserverpb::AuthUserAddRequest* req,
                                               etcdserverpb::AuthUserAddResponse* resp) {
  serverpb::InternalRequest ir;
  auto* add = ir.mutable_user_add();
  add->set_name(req->name());
  *add->mutable_options() = req->options();
  if (!req->options().no_password()) {
    auto hashed = HashPassword(req->password(), bcrypt_cost_);
    if (!hashed.ok()) return UnaryCalls::Fail(ctx, hashed.status());
    add->set_hashedpassword(std::move(*hashed));
  }
  return Propose(ctx, std::move(ir), resp, [](R& r) { return r.mutable_user_add(); });
}

grpc::ServerUnaryReactor* AuthService::UserGet(grpc::CallbackServerContext* ctx,
                                               const etcdserverpb::AuthUserGetRequest* req,
                                               etcdserverpb::AuthUserGetResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_user_get, &R::mutable_user_get);
}

grpc::ServerUnaryReactor* AuthService::UserList(grpc::CallbackServerContext* ctx,
                                                const etcdserverpb::AuthUserListRequest* req,
                                                etcdserverpb::AuthUserListResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_user_list, &R::mutable_user_list);
}

grpc::ServerUnaryReactor* AuthService::UserDelete(grpc::CallbackServerContext* ctx,
                                                  const etcdserverpb::AuthUserDeleteRequest* req,
                                                  etcdserverpb::AuthUserDeleteResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_user_delete, &R::mutable_user_delete);
}

grpc::ServerUnaryReactor* AuthService::UserChangePassword(
    grpc::CallbackServerContext* ctx, const etcdserverpb::AuthUserChangePasswordRequest* req,
    etcdserverpb::AuthUserChangePasswordResponse* resp) {
  serverpb::InternalRequest ir;
  auto* change = ir.mutable_user_change_password();
  change->set_name(req->name());
  auto hashed = HashPassword(req->password(), bcrypt_cost_);
  if (!hashed.ok()) return UnaryCalls::Fail(ctx, hashed.status());
  change->set_hashedpassword(std::move(*hashed));
  return Propose(ctx, std::move(ir), resp, [](R& r) { return r.mutable_user_change_password(); });
}

grpc::ServerUnaryReactor* AuthService::UserGrantRole(grpc::CallbackServerContext* ctx,
                                                     const etcdserverpb::AuthUserGrantRoleRequest* req,
                                                     etcdserverpb::AuthUserGrantRoleResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_user_grant_role, &R::mutable_user_grant_role);
}

grpc::ServerUnaryReactor* AuthService::UserRevokeRole(grpc::CallbackServerContext* ctx,
                                                      const etcdserverpb::AuthUserRevokeRoleRequest* req,
                                                      etcdserverpb::AuthUserRevokeRoleResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_user_revoke_role, &R::mutable_user_revoke_role);
}

grpc::ServerUnaryReactor* AuthService::RoleAdd(grpc::CallbackServerContext* ctx,
                                               const etcdserverpb::AuthRoleAddRequest* req,
                                               etcdserverpb::AuthRoleAddResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_role_add, &R::mutable_role_add);
}

grpc::ServerUnaryReactor* AuthService::RoleGet(grpc::CallbackServerContext* ctx,
                                               const etcdserverpb::AuthRoleGetRequest* req,
                                               etcdserverpb::AuthRoleGetResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_role_get, &R::mutable_role_get);
}

grpc::ServerUnaryReactor* AuthService::RoleList(grpc::CallbackServerContext* ctx,
                                                const etcdserverpb::AuthRoleListRequest* req,
                                                etcdserverpb::AuthRoleListResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_role_list, &R::mutable_role_list);
}

grpc::ServerUnaryReactor* AuthService::RoleDelete(grpc::CallbackServerContext* ctx,
                                                  const etcdserverpb::AuthRoleDeleteRequest* req,
                                                  etcdserverpb::AuthRoleDeleteResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_role_delete, &R::mutable_role_delete);
}

grpc::ServerUnaryReactor* AuthService::RoleGrantPermission(
    grpc::CallbackServerContext* ctx, const etcdserverpb::AuthRoleGrantPermissionRequest* req,
    etcdserverpb::AuthRoleGrantPermissionResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_role_grant_permission, &R::mutable_role_grant_permission);
}

grpc::ServerUnaryReactor* AuthService::RoleRevokePermission(
    grpc::CallbackServerContext* ctx, const etcdserverpb::AuthRoleRevokePermissionRequest* req,
    etcdserverpb::AuthRoleRevokePermissionResponse* resp) {
  return Forward(ctx, *req, resp, &serverpb::InternalRequest::mutable_role_revoke_permission, &R::mutable_role_revoke_permission);
}

}  // namespace server
