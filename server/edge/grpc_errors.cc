#include "server/edge/grpc_errors.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "server/state/errors.h"
#include "storage/errors.h"

namespace server {
namespace {

// Every error a client can provoke: its kind, etcd's gRPC code for it and
// etcd's message (api/v3rpc/rpctypes/error.go), which clients compare and
// so must match etcd's byte for byte.
struct EtcdError {
  base::ErrorKind kind;
  grpc::StatusCode code;
  absl::string_view message;
};

using K = base::ErrorKind;
constexpr EtcdError kEtcdErrors[] = {
    {K::kEmptyKey, grpc::StatusCode::INVALID_ARGUMENT, kErrEmptyKey},
    {K::kKeyNotFound, grpc::StatusCode::INVALID_ARGUMENT, kErrKeyNotFound},
    {K::kValueProvided, grpc::StatusCode::INVALID_ARGUMENT, kErrValueProvided},
    {K::kLeaseProvided, grpc::StatusCode::INVALID_ARGUMENT, kErrLeaseProvided},
    {K::kTooManyOps, grpc::StatusCode::INVALID_ARGUMENT, kErrTooManyOps},
    {K::kDuplicateKey, grpc::StatusCode::INVALID_ARGUMENT, kErrDuplicateKey},
    {K::kRequestTooLarge, grpc::StatusCode::INVALID_ARGUMENT, kErrRequestTooLarge},
    {K::kInvalidSortOption, grpc::StatusCode::INVALID_ARGUMENT, kErrInvalidSortOption},
    {K::kLeaseNotFound, grpc::StatusCode::NOT_FOUND, kErrLeaseNotFound},
    {K::kLeaseExists, grpc::StatusCode::FAILED_PRECONDITION, kErrLeaseExists},
    {K::kLeaseTtlTooLarge, grpc::StatusCode::OUT_OF_RANGE, kErrLeaseTtlTooLarge},
    {K::kStopped, grpc::StatusCode::UNAVAILABLE, kErrStopped},
    {K::kTimeout, grpc::StatusCode::UNAVAILABLE, kErrTimeout},
    {K::kNoLeader, grpc::StatusCode::UNAVAILABLE, kErrNoLeader},
    {K::kMemberExists, grpc::StatusCode::FAILED_PRECONDITION, kErrMemberExists},
    {K::kPeerUrlExists, grpc::StatusCode::FAILED_PRECONDITION, kErrPeerUrlExists},
    {K::kMemberNotEnoughStarted, grpc::StatusCode::FAILED_PRECONDITION, kErrMemberNotEnoughStarted},
    {K::kMemberBadUrls, grpc::StatusCode::INVALID_ARGUMENT, kErrMemberBadUrls},
    {K::kMemberNotFound, grpc::StatusCode::NOT_FOUND, kErrMemberNotFound},
    {K::kMemberNotLearner, grpc::StatusCode::FAILED_PRECONDITION, kErrMemberNotLearner},
    {K::kLearnerNotReady, grpc::StatusCode::FAILED_PRECONDITION, kErrLearnerNotReady},
    {K::kTooManyLearners, grpc::StatusCode::FAILED_PRECONDITION, kErrTooManyLearners},
    {K::kUnhealthy, grpc::StatusCode::UNAVAILABLE, kErrUnhealthy},
    {K::kNotSupportedForLearner, grpc::StatusCode::UNAVAILABLE, kErrNotSupportedForLearner},
    {K::kBadLeaderTransferee, grpc::StatusCode::FAILED_PRECONDITION, kErrBadLeaderTransferee},
    {K::kTimeoutLeaderTransfer, grpc::StatusCode::UNAVAILABLE, kErrTimeoutLeaderTransfer},
    {K::kNotLeader, grpc::StatusCode::FAILED_PRECONDITION, kErrNotLeader},
    {K::kNoSpace, grpc::StatusCode::RESOURCE_EXHAUSTED, kErrNoSpace},
    {K::kCorrupt, grpc::StatusCode::DATA_LOSS, kErrCorrupt},
    {K::kRootUserNotExist, grpc::StatusCode::FAILED_PRECONDITION, kErrRootUserNotExist},
    {K::kRootRoleNotExist, grpc::StatusCode::FAILED_PRECONDITION, kErrRootRoleNotExist},
    {K::kUserAlreadyExist, grpc::StatusCode::FAILED_PRECONDITION, kErrUserAlreadyExist},
    {K::kUserEmpty, grpc::StatusCode::INVALID_ARGUMENT, kErrUserEmpty},
    {K::kUserNotFound, grpc::StatusCode::FAILED_PRECONDITION, kErrUserNotFound},
    {K::kRoleAlreadyExist, grpc::StatusCode::FAILED_PRECONDITION, kErrRoleAlreadyExist},
    {K::kRoleNotFound, grpc::StatusCode::FAILED_PRECONDITION, kErrRoleNotFound},
    {K::kRoleEmpty, grpc::StatusCode::INVALID_ARGUMENT, kErrRoleEmpty},
    {K::kAuthFailed, grpc::StatusCode::INVALID_ARGUMENT, kErrAuthFailed},
    {K::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED, kErrPermissionDenied},
    {K::kRoleNotGranted, grpc::StatusCode::FAILED_PRECONDITION, kErrRoleNotGranted},
    {K::kPermissionNotGranted, grpc::StatusCode::FAILED_PRECONDITION, kErrPermissionNotGranted},
    {K::kAuthNotEnabled, grpc::StatusCode::FAILED_PRECONDITION, kErrAuthNotEnabled},
    {K::kInvalidAuthToken, grpc::StatusCode::UNAUTHENTICATED, kErrInvalidAuthToken},
    {K::kInvalidAuthMgmt, grpc::StatusCode::INVALID_ARGUMENT, kErrInvalidAuthMgmt},
    {K::kAuthOldRevision, grpc::StatusCode::INVALID_ARGUMENT, kErrAuthOldRevision},
    {K::kTooManyRequests, grpc::StatusCode::RESOURCE_EXHAUSTED, kErrTooManyRequests},
    {K::kCompacted, grpc::StatusCode::OUT_OF_RANGE, storage::kErrCompacted},
    {K::kFutureRev, grpc::StatusCode::OUT_OF_RANGE, storage::kErrFutureRev},
};

grpc::StatusCode FromAbslCode(absl::StatusCode c) {
  // absl and gRPC share the canonical code numbering.
  return static_cast<grpc::StatusCode>(static_cast<int>(c));
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  const base::ErrorKind kind = base::KindOf(s);
  for (const auto& e : kEtcdErrors) {
    if (e.kind == kind) return grpc::Status(e.code, absl::StrCat("etcdserver: ", e.message));
  }
  return grpc::Status(FromAbslCode(s.code()), std::string(s.message()));
}

absl::Status CheckLearner(const Proposer& proposer, bool supported) {
  if (supported || !proposer.Status().is_learner) return absl::OkStatus();
  return NotSupportedForLearnerError();
}

absl::Status CheckRequireLeader(const grpc::ServerContextBase& ctx, const Proposer& proposer) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("hasleader");
  if (it == md.end() || it->second != "true") return absl::OkStatus();
  if (proposer.Status().leader != 0) return absl::OkStatus();
  return NoLeaderError();
}

}  // namespace server
