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
inline constexpr absl::string_view kErrApplying = "applying";

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

}  // namespace server
