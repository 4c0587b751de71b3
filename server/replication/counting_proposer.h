// CountingProposer: a Proposer decorator that keeps etcd's proposal gauges
// for /metrics:
//   etcd_server_proposals_pending      requests proposed and not answered yet;
//   etcd_server_proposals_failed_total requests whose entry never applied
//                                      in time ("request timed out", also
//                                      while no leader appears), as etcd
//                                      counts its proposals that fail or time out.
// An error that the applied entry itself returns (a failed compare, a
// missing lease) is an answer, not a failed proposal. Everything else
// (reads, conf changes, status) passes through.
// Ownership: borrows `inner`, which must outlive it. Thread-safety: as `inner`.
#pragma once

#include <atomic>
#include <cstdint>

#include "server/replication/proposer.h"

namespace server {

class CountingProposer final : public ForwardingProposer {
 public:
  explicit CountingProposer(Proposer* inner) : ForwardingProposer(inner) {}

  void Propose(serverpb::InternalRequest req, ProposeDone done) override;

  int64_t pending() const { return pending_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> pending_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace server
