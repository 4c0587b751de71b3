// Named outcomes of the MVCC store that callers are expected to handle.
// The server maps them to etcd's gRPC codes and strings at its edge; the
// messages here are etcd's internal mvcc messages, without "etcdserver: ".
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace storage {

inline constexpr absl::string_view kErrCompacted =
    "mvcc: required revision has been compacted";
inline constexpr absl::string_view kErrFutureRev =
    "mvcc: required revision is a future revision";

[[nodiscard]] inline absl::Status CompactedError() {
  return absl::OutOfRangeError(kErrCompacted);
}
[[nodiscard]] inline absl::Status FutureRevError() {
  return absl::OutOfRangeError(kErrFutureRev);
}
inline bool IsCompacted(const absl::Status& s) {
  return s.code() == absl::StatusCode::kOutOfRange && s.message() == kErrCompacted;
}
inline bool IsFutureRev(const absl::Status& s) {
  return s.code() == absl::StatusCode::kOutOfRange && s.message() == kErrFutureRev;
}

}  // namespace storage
