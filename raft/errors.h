// Named outcomes of the raft core.
//
// Contract: every expected, recoverable outcome crossing the raft API is one
// of the statuses below, recognisable with the matching Is*() predicate.
// Anything else returned by a Storage is treated as fatal by the core.
// Thread-safety: pure functions, safe anywhere.
#ifndef KETCD_RAFT_ERRORS_H_
#define KETCD_RAFT_ERRORS_H_

#include "absl/status/status.h"

namespace raft {

// The requested index is older than the first index kept by storage.
absl::Status CompactedError();
bool IsCompacted(const absl::Status& s);

// The requested index is newer than the last index in storage.
absl::Status LogUnavailableError();
bool IsLogUnavailable(const absl::Status& s);

// The snapshot is being built; the leader retries later.
absl::Status SnapshotTemporarilyUnavailableError();
bool IsSnapshotTemporarilyUnavailable(const absl::Status& s);

// A snapshot older than the one storage already holds.
absl::Status SnapshotOutOfDateError();
bool IsSnapshotOutOfDate(const absl::Status& s);

// The proposal could not be accepted: no known leader, a leader transfer is
// in progress, or this node is no longer a member. The caller retries.
absl::Status ProposalDroppedError();
bool IsProposalDropped(const absl::Status& s);

// A membership change was refused (another change is still uncommitted,
// the leader has not committed in its term yet, or the change is invalid).
absl::Status ConfChangeRejectedError(absl::string_view why);
bool IsConfChangeRejected(const absl::Status& s);
// A refusal that passes by itself (the previous change or the new leader's
// first entry is not committed yet): the same change may be proposed again
// soon. Also IsConfChangeRejected.
absl::Status ConfChangeBusyError(absl::string_view why);
bool IsConfChangeBusy(const absl::Status& s);

}  // namespace raft

#endif  // KETCD_RAFT_ERRORS_H_
