// LeaseExpirer revokes an expired lease only once a read barrier has
// confirmed that this member still leads: a leader paused past its
// followers' election wakes believing it leads, with deadlines the new
// leader's keep-alives have moved (found by tests/robustness --leases;
// etcd issue 15247).
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "server/replication/lease_expirer.h"
#include "tests/unit/lessor_fixture.h"
#include "tests/unit/stub_proposer.h"

namespace ketcd_test {
namespace {

constexpr uint64_t kSelf = 1;

// Leads as kSelf; read barriers wait until the test answers them; records
// the leases proposed for revocation.
class BarrierProposer final : public StubProposer {
 public:
  BarrierProposer() {
    term = 2;
    leader = kSelf;
  }
  void Propose(serverpb::InternalRequest req, server::ProposeDone) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (req.has_lease_revoke()) revoked_.push_back(req.lease_revoke().id());
  }
  void ReadBarrier(std::function<void(absl::Status)> done) override {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(done));
  }

  size_t Pending() {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_.size();
  }
  void AnswerAll(const absl::Status& s) {
    std::vector<std::function<void(absl::Status)>> answers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      answers.swap(pending_);
    }
    for (auto& done : answers) done(s);
  }
  std::vector<int64_t> Revoked() {
    std::lock_guard<std::mutex> lock(mu_);
    return revoked_;
  }

 private:
  std::mutex mu_;
  std::vector<std::function<void(absl::Status)>> pending_;
  std::vector<int64_t> revoked_;
};

// Polls `cond` for up to 5 s of real time (the expirer's own thread moves).
bool Eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 500; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

}  // namespace

TEST_CASE("an expired lease is revoked only after a barrier confirms leadership",
          "[lease][lease_expirer]") {
  server::Lessor::Options lo;
  lo.min_ttl = 2;
  lo.extend = absl::Seconds(1);
  LessorFixture f{lo};
  f.Grant(5, 2);
  auto& lessor = f.lessor;
  auto& clock = f.clock;

  BarrierProposer proposer;
  server::LeaseExpirer::Options opts;
  opts.period = absl::Milliseconds(5);
  server::LeaseExpirer expirer(&lessor, &proposer, clock, kSelf, opts);

  // Promotion waits for its own barrier.
  REQUIRE(Eventually([&] { return proposer.Pending() > 0; }));
  proposer.AnswerAll(absl::OkStatus());
  REQUIRE(Eventually([&] { return lessor.primary(); }));

  // Expired, but the barrier says another member leads: nothing revoked.
  clock.Advance(absl::Seconds(10));
  REQUIRE(Eventually([&] { return proposer.Pending() > 0; }));
  proposer.AnswerAll(absl::UnavailableError("etcdserver: leader changed"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(proposer.Revoked().empty());

  // Reported again after the retry interval; a confirmed barrier revokes it.
  clock.Advance(absl::Seconds(8));
  REQUIRE(Eventually([&] { return proposer.Pending() > 0; }));
  CHECK(proposer.Revoked().empty());
  proposer.AnswerAll(absl::OkStatus());
  REQUIRE(Eventually([&] { return !proposer.Revoked().empty(); }));
  CHECK(proposer.Revoked() == std::vector<int64_t>{5});
  expirer.Stop();
}

TEST_CASE("a confirmed revocation is proposed when its barrier passes, not a period later",
          "[lease][lease_expirer]") {
  server::Lessor::Options lo;
  lo.min_ttl = 2;
  LessorFixture f{lo};
  f.Grant(7, 2);
  auto& lessor = f.lessor;
  auto& clock = f.clock;

  BarrierProposer proposer;
  server::LeaseExpirer::Options opts;
  opts.period = absl::Seconds(2);  // a round's wait far longer than the bound below
  server::LeaseExpirer expirer(&lessor, &proposer, clock, kSelf, opts);
  REQUIRE(Eventually([&] { return proposer.Pending() > 0; }));
  auto answered = std::chrono::steady_clock::now();
  proposer.AnswerAll(absl::OkStatus());
  REQUIRE(Eventually([&] { return lessor.primary(); }));
  CHECK(std::chrono::steady_clock::now() - answered < std::chrono::milliseconds(1000));

  clock.Advance(absl::Seconds(10));
  REQUIRE(Eventually([&] { return proposer.Pending() > 0; }));
  answered = std::chrono::steady_clock::now();
  proposer.AnswerAll(absl::OkStatus());
  REQUIRE(Eventually([&] { return !proposer.Revoked().empty(); }));
  CHECK(std::chrono::steady_clock::now() - answered < std::chrono::milliseconds(1000));
  CHECK(proposer.Revoked() == std::vector<int64_t>{7});
  expirer.Stop();
}

}  // namespace ketcd_test
