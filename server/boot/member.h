// Member: one running ketcd member. The composition root: it builds the
// parts from a Config in dependency order (transport security, data dir and
// store, state machine, replication, services, listeners), owns all of them,
// and takes them down in reverse. Shutdown() (also run by the destructor)
// stops serving, fails or finishes pending requests, and closes the store
// cleanly. The clock and logger are the caller's and outlive the member.
#pragma once

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "base/clock.h"
#include "base/logger.h"
#include "server/boot/config.h"
#include "server/state/member_info.h"

namespace server {

class Member {
 public:
  // Certificates and flags that cannot work are refused before the data
  // dir is touched.
  // `on_removed` runs once, on an internal thread, when the member learns
  // that the cluster removed it (it must then be shut down).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Member>> Start(
      const Config& cfg, const base::Clock& clock, base::Logger& logger,
      std::function<void()> on_removed = {});
  ~Member();
  void Shutdown();

  // Test-only failpoint: drop all raft traffic to and from every peer
  // (as a network partition would) until called again with false.
  void IsolateForTest(bool isolated) { CutPeersForTest(isolated, isolated); }
  // The same, one direction at a time: what this member sends to its peers
  // (outbound) and what it receives from them (inbound); false heals.
  void CutPeersForTest(bool outbound, bool inbound);

  // Valid after Start, also after Shutdown.
  uint64_t member_id() const { return ids_.member_id; }
  uint64_t cluster_id() const { return ids_.cluster_id; }

  struct Parts;  // member_parts.h

 private:
  explicit Member(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;  // null once shut down
  MemberInfo ids_;
};

}  // namespace server
