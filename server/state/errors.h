// Named request errors raised inside the server, before the service edge
// turns them into etcd's gRPC codes and strings (see grpc_errors.h).
// Messages are etcd's, without the "etcdserver: " prefix the edge adds.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

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

[[nodiscard]] inline absl::Status RequestError(absl::string_view etcd_message) {
  return absl::InvalidArgumentError(etcd_message);
}
[[nodiscard]] inline absl::Status LeaseNotFoundError() {
  return absl::NotFoundError(kErrLeaseNotFound);
}
[[nodiscard]] inline absl::Status StoppedError() { return absl::UnavailableError(kErrStopped); }
[[nodiscard]] inline absl::Status TimeoutError() { return absl::UnavailableError(kErrTimeout); }
[[nodiscard]] inline absl::Status NoLeaderError() { return absl::UnavailableError(kErrNoLeader); }

}  // namespace server
