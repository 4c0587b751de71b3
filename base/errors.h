// Typed error identity. Every error that a caller is expected to tell apart
// (to retry on, to map to one of etcd's gRPC codes and strings, to refuse a
// data dir with) carries an ErrorKind in its absl::Status payload, so that
// no caller compares message strings. The message stays human-readable and
// free to change; the kind is the contract.
//
// Owners make their errors with MakeError (storage/errors.h for the store's,
// server/state/errors.h for the server's); the client edge maps kinds to
// etcd's codes and strings in one table (server/edge/grpc_errors.cc).
// A status without a kind is an unexpected failure and is reported as is.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace base {

// The numbers cross the peer wire (server/peer/wire_errors.h), where members
// of different builds may meet during an upgrade: append new kinds at the
// end and never renumber one.
enum class ErrorKind : int {
  kNone = 0,
  // A request etcd refuses before it runs.
  kEmptyKey,
  kKeyNotFound,
  kValueProvided,
  kLeaseProvided,
  kTooManyOps,
  kDuplicateKey,
  kRequestTooLarge,
  kInvalidSortOption,
  // Leases.
  kLeaseNotFound,
  kLeaseExists,
  kLeaseTtlTooLarge,
  // The member cannot answer now; a client may retry.
  kStopped,
  kTimeout,
  kNoLeader,
  kNotLeader,  // leader-only work asked of a follower (forwarded, retried)
  kApplying,   // the leader has not applied all it committed yet (retried soon)
  // The store.
  kCompacted,
  kFutureRev,
  // The data dir.
  kDataDirLocked,
  // Membership (the Cluster service).
  kMemberExists,
  kPeerUrlExists,
  kMemberNotEnoughStarted,
  kMemberBadUrls,
  kMemberNotFound,
  kMemberNotLearner,
  kLearnerNotReady,
  kTooManyLearners,
  kUnhealthy,
  kNotSupportedForLearner,
  kBadLeaderTransferee,
  kTimeoutLeaderTransfer,
  // Auth (etcd's auth store errors).
  kRootUserNotExist,
  kRootRoleNotExist,
  kUserAlreadyExist,
  kUserEmpty,
  kUserNotFound,
  kRoleAlreadyExist,
  kRoleNotFound,
  kRoleEmpty,
  kAuthFailed,
  kPermissionDenied,
  kRoleNotGranted,
  kPermissionNotGranted,
  kAuthNotEnabled,
  kInvalidAuthToken,
  kInvalidAuthMgmt,
  kAuthOldRevision,
  // Authenticate over its rate limit (etcd's ErrGRPCRequestTooManyRequests).
  kTooManyRequests,
  // Alarms (etcd's applierV3Capped and applierV3Corrupt).
  kNoSpace,
  kCorrupt,
  // A renewal of a lease past its deadline whose revocation is not applied
  // yet: retried until the lease is gone (or a new leader extended it).
  // Last, so that the numbers peers exchange for the others stay put.
  kLeaseExpiring,
};

inline constexpr char kErrorKindPayloadUrl[] = "type.ketcd/error-kind";

[[nodiscard]] inline absl::Status MakeError(ErrorKind kind, absl::StatusCode code,
                                            absl::string_view message) {
  absl::Status s(code, message);
  s.SetPayload(kErrorKindPayloadUrl, absl::Cord(std::to_string(static_cast<int>(kind))));
  return s;
}

inline ErrorKind KindOf(const absl::Status& s) {
  if (s.ok()) return ErrorKind::kNone;
  auto payload = s.GetPayload(kErrorKindPayloadUrl);
  if (!payload) return ErrorKind::kNone;
  int v = 0;
  for (char c : std::string(*payload)) {
    if (c < '0' || c > '9') return ErrorKind::kNone;
    v = v * 10 + (c - '0');
  }
  return static_cast<ErrorKind>(v);
}

inline bool IsError(const absl::Status& s, ErrorKind kind) { return KindOf(s) == kind; }

}  // namespace base
