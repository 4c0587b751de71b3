// The server's named errors. Each carries its base::ErrorKind (the contract
// callers test with base::IsError / base::KindOf), an absl code and etcd's
// message without the "etcdserver: " prefix the edge adds (grpc_errors.h).
// Messages are etcd's wire strings and must not change; callers never
// compare them -- they test the kind.
// Thread-safety: stateless.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/errors.h"

namespace server {

inline constexpr absl::string_view kErrEmptyKey = "key is not provided";
inline constexpr absl::string_view kErrKeyNotFound = "key not found";
inline constexpr absl::string_view kErrValueProvided = "value is provided";
inline constexpr absl::string_view kErrLeaseProvided = "lease is provided";
inline constexpr absl::string_view kErrTooManyOps = "too many operations in txn request";
inline constexpr absl::string_view kErrDuplicateKey = "duplicate key given in txn request";
inline constexpr absl::string_view kErrLeaseNotFound = "requested lease not found";
inline constexpr absl::string_view kErrRequestTooLarge = "request is too large";
inline constexpr absl::string_view kErrStopped = "server stopped";
inline constexpr absl::string_view kErrTimeout = "request timed out";
inline constexpr absl::string_view kErrNoLeader = "no leader";
inline constexpr absl::string_view kErrInvalidSortOption = "invalid sort option";
inline constexpr absl::string_view kErrLeaseExists = "lease already exists";
inline constexpr absl::string_view kErrLeaseTtlTooLarge = "too large lease TTL";
// Not etcd wire strings: a follower asked for leader-only lease work (the
// lease service forwards), and a leader that has not applied all it
// committed yet (the lease service retries soon).
inline constexpr absl::string_view kErrNotLeader = "not leader";
// Membership (etcd 3.4's wire strings; "exist" without an s is etcd's).
inline constexpr absl::string_view kErrMemberExists = "member ID already exist";
inline constexpr absl::string_view kErrPeerUrlExists = "Peer URLs already exists";
inline constexpr absl::string_view kErrMemberNotEnoughStarted =
    "re-configuration failed due to not enough started members";
inline constexpr absl::string_view kErrMemberBadUrls = "given member URLs are invalid";
inline constexpr absl::string_view kErrMemberNotFound = "member not found";
inline constexpr absl::string_view kErrMemberNotLearner = "can only promote a learner member";
inline constexpr absl::string_view kErrLearnerNotReady =
    "can only promote a learner member which is in sync with leader";
inline constexpr absl::string_view kErrTooManyLearners = "too many learner members in cluster";
inline constexpr absl::string_view kErrUnhealthy = "unhealthy cluster";
inline constexpr absl::string_view kErrNotSupportedForLearner = "rpc not supported for learner";
inline constexpr absl::string_view kErrBadLeaderTransferee = "bad leader transferee";
inline constexpr absl::string_view kErrTimeoutLeaderTransfer = "request timed out, leader transfer took too long";
inline constexpr absl::string_view kErrApplying = "applying";
// Internal only (retried until the revocation lands; a client never sees it).
inline constexpr absl::string_view kErrLeaseExpiring = "lease expiring";
// Alarms: NOSPACE refuses what adds data, CORRUPT every write.
inline constexpr absl::string_view kErrNoSpace = "mvcc: database space exceeded";
inline constexpr absl::string_view kErrCorrupt = "corrupt cluster";
// Auth (etcd 3.4's rpctypes strings).
inline constexpr absl::string_view kErrRootUserNotExist = "root user does not exist";
inline constexpr absl::string_view kErrRootRoleNotExist = "root user does not have root role";
inline constexpr absl::string_view kErrUserAlreadyExist = "user name already exists";
inline constexpr absl::string_view kErrUserEmpty = "user name is empty";
inline constexpr absl::string_view kErrUserNotFound = "user name not found";
inline constexpr absl::string_view kErrRoleAlreadyExist = "role name already exists";
inline constexpr absl::string_view kErrRoleNotFound = "role name not found";
inline constexpr absl::string_view kErrRoleEmpty = "role name is empty";
inline constexpr absl::string_view kErrAuthFailed = "authentication failed, invalid user ID or password";
inline constexpr absl::string_view kErrPermissionDenied = "permission denied";
inline constexpr absl::string_view kErrRoleNotGranted = "role is not granted to the user";
inline constexpr absl::string_view kErrPermissionNotGranted = "permission is not granted to the role";
inline constexpr absl::string_view kErrAuthNotEnabled = "authentication is not enabled";
inline constexpr absl::string_view kErrInvalidAuthToken = "invalid auth token";
inline constexpr absl::string_view kErrInvalidAuthMgmt = "invalid auth management";
inline constexpr absl::string_view kErrAuthOldRevision = "revision of auth store is old";
inline constexpr absl::string_view kErrTooManyRequests = "too many requests";

// ---- requests etcd refuses (InvalidArgument)
[[nodiscard]] inline absl::Status EmptyKeyError() {
  return base::MakeError(base::ErrorKind::kEmptyKey, absl::StatusCode::kInvalidArgument, kErrEmptyKey);
}
[[nodiscard]] inline absl::Status KeyNotFoundError() {
  return base::MakeError(base::ErrorKind::kKeyNotFound, absl::StatusCode::kInvalidArgument,
                         kErrKeyNotFound);
}
[[nodiscard]] inline absl::Status ValueProvidedError() {
  return base::MakeError(base::ErrorKind::kValueProvided, absl::StatusCode::kInvalidArgument,
                         kErrValueProvided);
}
[[nodiscard]] inline absl::Status LeaseProvidedError() {
  return base::MakeError(base::ErrorKind::kLeaseProvided, absl::StatusCode::kInvalidArgument,
                         kErrLeaseProvided);
}
[[nodiscard]] inline absl::Status TooManyOpsError() {
  return base::MakeError(base::ErrorKind::kTooManyOps, absl::StatusCode::kInvalidArgument,
                         kErrTooManyOps);
}
[[nodiscard]] inline absl::Status DuplicateKeyError() {
  return base::MakeError(base::ErrorKind::kDuplicateKey, absl::StatusCode::kInvalidArgument,
                         kErrDuplicateKey);
}
[[nodiscard]] inline absl::Status RequestTooLargeError() {
  return base::MakeError(base::ErrorKind::kRequestTooLarge, absl::StatusCode::kInvalidArgument,
                         kErrRequestTooLarge);
}
[[nodiscard]] inline absl::Status InvalidSortOptionError() {
  return base::MakeError(base::ErrorKind::kInvalidSortOption, absl::StatusCode::kInvalidArgument,
                         kErrInvalidSortOption);
}

// ---- leases
[[nodiscard]] inline absl::Status LeaseNotFoundError() {
  return base::MakeError(base::ErrorKind::kLeaseNotFound, absl::StatusCode::kNotFound,
                         kErrLeaseNotFound);
}
[[nodiscard]] inline absl::Status LeaseExistsError() {
  return base::MakeError(base::ErrorKind::kLeaseExists, absl::StatusCode::kFailedPrecondition,
                         kErrLeaseExists);
}
[[nodiscard]] inline absl::Status LeaseTtlTooLargeError() {
  return base::MakeError(base::ErrorKind::kLeaseTtlTooLarge, absl::StatusCode::kOutOfRange,
                         kErrLeaseTtlTooLarge);
}

// ---- the member cannot answer now (a client or the caller may retry)
[[nodiscard]] inline absl::Status StoppedError() {
  return base::MakeError(base::ErrorKind::kStopped, absl::StatusCode::kUnavailable, kErrStopped);
}
[[nodiscard]] inline absl::Status TimeoutError() {
  return base::MakeError(base::ErrorKind::kTimeout, absl::StatusCode::kUnavailable, kErrTimeout);
}
[[nodiscard]] inline absl::Status NoLeaderError() {
  return base::MakeError(base::ErrorKind::kNoLeader, absl::StatusCode::kUnavailable, kErrNoLeader);
}
[[nodiscard]] inline absl::Status NotLeaderError() {
  return base::MakeError(base::ErrorKind::kNotLeader, absl::StatusCode::kFailedPrecondition,
                         kErrNotLeader);
}
[[nodiscard]] inline absl::Status ApplyingError() {
  return base::MakeError(base::ErrorKind::kApplying, absl::StatusCode::kUnavailable, kErrApplying);
}
[[nodiscard]] inline absl::Status LeaseExpiringError() {
  return base::MakeError(base::ErrorKind::kLeaseExpiring, absl::StatusCode::kUnavailable,
                         kErrLeaseExpiring);
}

// ---- membership (the Cluster service)
[[nodiscard]] inline absl::Status MemberExistsError() {
  return base::MakeError(base::ErrorKind::kMemberExists, absl::StatusCode::kFailedPrecondition,
                         kErrMemberExists);
}
[[nodiscard]] inline absl::Status PeerUrlExistsError() {
  return base::MakeError(base::ErrorKind::kPeerUrlExists, absl::StatusCode::kFailedPrecondition,
                         kErrPeerUrlExists);
}
[[nodiscard]] inline absl::Status MemberNotEnoughStartedError() {
  return base::MakeError(base::ErrorKind::kMemberNotEnoughStarted,
                         absl::StatusCode::kFailedPrecondition, kErrMemberNotEnoughStarted);
}
[[nodiscard]] inline absl::Status MemberBadUrlsError() {
  return base::MakeError(base::ErrorKind::kMemberBadUrls, absl::StatusCode::kInvalidArgument,
                         kErrMemberBadUrls);
}
[[nodiscard]] inline absl::Status MemberNotFoundError() {
  return base::MakeError(base::ErrorKind::kMemberNotFound, absl::StatusCode::kNotFound,
                         kErrMemberNotFound);
}
[[nodiscard]] inline absl::Status MemberNotLearnerError() {
  return base::MakeError(base::ErrorKind::kMemberNotLearner, absl::StatusCode::kFailedPrecondition,
                         kErrMemberNotLearner);
}
[[nodiscard]] inline absl::Status LearnerNotReadyError() {
  return base::MakeError(base::ErrorKind::kLearnerNotReady, absl::StatusCode::kFailedPrecondition,
                         kErrLearnerNotReady);
}
[[nodiscard]] inline absl::Status TooManyLearnersError() {
  return base::MakeError(base::ErrorKind::kTooManyLearners, absl::StatusCode::kFailedPrecondition,
                         kErrTooManyLearners);
}
[[nodiscard]] inline absl::Status UnhealthyError() {
  return base::MakeError(base::ErrorKind::kUnhealthy, absl::StatusCode::kUnavailable, kErrUnhealthy);
}
[[nodiscard]] inline absl::Status NotSupportedForLearnerError() {
  return base::MakeError(base::ErrorKind::kNotSupportedForLearner, absl::StatusCode::kUnavailable,
                         kErrNotSupportedForLearner);
}

[[nodiscard]] inline absl::Status BadLeaderTransfereeError() {
  return base::MakeError(base::ErrorKind::kBadLeaderTransferee, absl::StatusCode::kFailedPrecondition,
                         kErrBadLeaderTransferee);
}
[[nodiscard]] inline absl::Status TimeoutLeaderTransferError() {
  return base::MakeError(base::ErrorKind::kTimeoutLeaderTransfer, absl::StatusCode::kUnavailable,
                         kErrTimeoutLeaderTransfer);
}

// ---- auth: one maker per kind; the edge maps each to etcd's code and string.
[[nodiscard]] inline absl::Status AuthError(base::ErrorKind kind, absl::string_view message) {
  return base::MakeError(kind, absl::StatusCode::kFailedPrecondition, message);
}
// etcd does not map this one to a gRPC error: clients see code Unknown and
// the auth package's own text.
[[nodiscard]] inline absl::Status TooManyRequestsError() {
  return base::MakeError(base::ErrorKind::kTooManyRequests, absl::StatusCode::kResourceExhausted,
                         kErrTooManyRequests);
}
[[nodiscard]] inline absl::Status NoPasswordUserError() {
  return absl::UnknownError("auth: authentication failed, password was given for no password user");
}

// ---- alarms (etcd's rpctypes: ResourceExhausted and DataLoss)
[[nodiscard]] inline absl::Status NoSpaceError() {
  return base::MakeError(base::ErrorKind::kNoSpace, absl::StatusCode::kResourceExhausted, kErrNoSpace);
}
[[nodiscard]] inline absl::Status CorruptError() {
  return base::MakeError(base::ErrorKind::kCorrupt, absl::StatusCode::kDataLoss, kErrCorrupt);
}

}  // namespace server
