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

class CountingProposer final : public Proposer {
 public:
  explicit CountingProposer(Proposer* inner) : inner_(inner) {}

  void Propose(serverpb::InternalRequest req, ProposeDone done) override;
  void ProposeConfChange(raftpb::ConfChange cc, ConfChangeDone done) override {
    inner_->ProposeConfChange(std::move(cc), std::move(done));
  }
  void ReadBarrier(std::function<void(absl::Status)> done) override { inner_->ReadBarrier(std::move(done)); }
  void CheckLearnerReady(uint64_t id, std::function<void(absl::Status)> done) override {
    inner_->CheckLearnerReady(id, std::move(done));
  }
  void TransferLeadership(uint64_t target, std::function<void(absl::Status)> done) override {
    inner_->TransferLeadership(target, std::move(done));
  }
  uint64_t Term() const override { return inner_->Term(); }
  RaftStatus Status() const override { return inner_->Status(); }

  int64_t pending() const { return pending_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  Proposer* const inner_;
  std::atomic<int64_t> pending_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace server
