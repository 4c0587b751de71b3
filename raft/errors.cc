#include "raft/errors.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace raft {
namespace {

// Each named outcome has a fixed code and message prefix; the predicates
// check both so an unrelated status with the same code never matches.
constexpr char kCompacted[] = "raft: requested index is unavailable due to compaction";
constexpr char kUnavailable[] = "raft: requested entry at index is unavailable";
constexpr char kSnapTemp[] = "raft: snapshot is temporarily unavailable";
constexpr char kSnapOld[] = "raft: requested index is older than the existing snapshot";
constexpr char kDropped[] = "raft proposal dropped";
constexpr char kConfRejected[] = "raft: conf change rejected";
constexpr char kConfBusy[] = "not yet: ";

bool Matches(const absl::Status& s, absl::StatusCode code, absl::string_view prefix) {
  return s.code() == code && absl::StartsWith(s.message(), prefix);
}

}  // namespace

absl::Status CompactedError() { return absl::OutOfRangeError(kCompacted); }
bool IsCompacted(const absl::Status& s) {
  return Matches(s, absl::StatusCode::kOutOfRange, kCompacted);
}

absl::Status LogUnavailableError() { return absl::NotFoundError(kUnavailable); }
bool IsLogUnavailable(const absl::Status& s) {
  return Matches(s, absl::StatusCode::kNotFound, kUnavailable);
}

absl::Status SnapshotTemporarilyUnavailableError() { return absl::UnavailableError(kSnapTemp); }
bool IsSnapshotTemporarilyUnavailable(const absl::Status& s) {
  return Matches(s, absl::StatusCode::kUnavailable, kSnapTemp);
}

absl::Status SnapshotOutOfDateError() { return absl::FailedPreconditionError(kSnapOld); }
bool IsSnapshotOutOfDate(const absl::Status& s) {
  return Matches(s, absl::StatusCode::kFailedPrecondition, kSnapOld);
}

absl::Status ProposalDroppedError() { return absl::AbortedError(kDropped); }
bool IsProposalDropped(const absl::Status& s) {
  return Matches(s, absl::StatusCode::kAborted, kDropped);
}

absl::Status ConfChangeRejectedError(absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(kConfRejected, ": ", why));
}
bool IsConfChangeRejected(const absl::Status& s) {
  return Matches(s, absl::StatusCode::kFailedPrecondition, kConfRejected);
}

absl::Status ConfChangeBusyError(absl::string_view why) {
  return ConfChangeRejectedError(absl::StrCat(kConfBusy, why));
}
bool IsConfChangeBusy(const absl::Status& s) {
  return Matches(s, absl::StatusCode::kFailedPrecondition, absl::StrCat(kConfRejected, ": ", kConfBusy));
}

}  // namespace raft
