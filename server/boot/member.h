// Member: one running ketcd member, wiring the store, the applier, the
// proposer and the gRPC services from a Config. Owns everything it starts;
// Shutdown() (also run by the destructor) stops serving, fails or finishes
// pending requests, and closes the store cleanly.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "server/boot/config.h"

namespace server {

class Member {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Member>> Start(const Config& cfg);
  ~Member();
  void Shutdown();

  // Test-only failpoint: drop all raft traffic to and from every peer
  // (as a network partition would) until called again with false.
  void IsolateForTest(bool isolated);

  uint64_t member_id() const;
  uint64_t cluster_id() const;

 public:
  struct Parts;  // defined in member.cc

 private:
  explicit Member(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace server
