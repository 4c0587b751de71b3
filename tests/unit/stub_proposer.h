// StubProposer: a server::Proposer for unit tests that answers what a test
// does not script at once: proposals dropped, conf changes refused
// (Unimplemented), read barriers, learner checks and leadership transfers
// OK, the term `term`, a status naming `leader`. Tests derive from it and
// override what they script. Thread-safety: as the overrides; the base is.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "server/replication/proposer.h"

namespace ketcd_test {

class StubProposer : public server::Proposer {
 public:
  void Propose(serverpb::InternalRequest, server::ProposeDone) override {}
  void ProposeConfChange(raftpb::ConfChange, server::ConfChangeDone done) override {
    done(absl::UnimplementedError("stub proposer"));
  }
  void ReadBarrier(std::function<void(absl::Status)> done) override { done(absl::OkStatus()); }
  void CheckLearnerReady(uint64_t, std::function<void(absl::Status)> done) override { done(absl::OkStatus()); }
  void TransferLeadership(uint64_t, std::function<void(absl::Status)> done) override {
    done(absl::OkStatus());
  }
  uint64_t Term() const override { return term; }
  server::RaftStatus Status() const override {
    server::RaftStatus s;
    s.leader = leader;
    return s;
  }

  std::atomic<uint64_t> term{1};
  std::atomic<uint64_t> leader{0};
};

}  // namespace ketcd_test
