// Proposer: the "propose -> commit -> apply" seam every write goes through.
//
// Propose() hands a request to the replicated log; `done` runs exactly once,
// after the request is durable in the log and applied to the store (with its
// response), or with an error if it never will be (stopped, timed out, too
// large, not leader). Implementations: SingleMemberLog (one member, group
// commit) now; the raft-backed member later. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "serverpb/internal.pb.h"

namespace server {

using ProposeResult = absl::StatusOr<serverpb::InternalResponse>;
using ProposeDone = std::function<void(ProposeResult)>;

class Proposer {
 public:
  virtual ~Proposer() = default;
  virtual void Propose(serverpb::InternalRequest req, ProposeDone done) = 0;
  // The raft term reported in response headers.
  virtual uint64_t Term() const = 0;
  // Blocking convenience for synchronous callers: waits at most `timeout`.
  [[nodiscard]] ProposeResult ProposeAndWait(serverpb::InternalRequest req, absl::Duration timeout);
};

}  // namespace server
