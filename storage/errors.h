// Named outcomes of the MVCC store that callers are expected to handle.
// Each carries a base::ErrorKind (base/errors.h): callers test the kind with
// IsCompacted/IsFutureRev, never the message. The server maps the kinds to
// etcd's gRPC codes and strings at its edge; the messages here are etcd's
// internal mvcc messages, without "etcdserver: ".
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/errors.h"

namespace storage {

inline constexpr absl::string_view kErrCompacted =
    "mvcc: required revision has been compacted";
inline constexpr absl::string_view kErrFutureRev =
    "mvcc: required revision is a future revision";

[[nodiscard]] inline absl::Status CompactedError() {
  return base::MakeError(base::ErrorKind::kCompacted, absl::StatusCode::kOutOfRange, kErrCompacted);
}
[[nodiscard]] inline absl::Status FutureRevError() {
  return base::MakeError(base::ErrorKind::kFutureRev, absl::StatusCode::kOutOfRange, kErrFutureRev);
}
inline bool IsCompacted(const absl::Status& s) {
  return base::IsError(s, base::ErrorKind::kCompacted);
}
inline bool IsFutureRev(const absl::Status& s) {
  return base::IsError(s, base::ErrorKind::kFutureRev);
}

}  // namespace storage
