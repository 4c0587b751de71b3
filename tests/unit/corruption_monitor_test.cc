// CorruptionMonitor (server/replication/corruption_check.h) with a fake
// proposer and a fake peer hasher over a real store: which answers etcd
// 3.4's checkHashKV finds different, the CORRUPT alarm it raises (member 0,
// once per check), its schedule on the injected clock, and a Stop() that
// does not wait for a check's barrier or a huge period.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "base/logger.h"
#include "server/replication/corruption_check.h"
#include "server/state/kv_hash.h"
#include "tests/unit/applier_fixture.h"
#include "tests/unit/stub_proposer.h"

namespace ketcd_test {
namespace {

// Answers proposals at once; read barriers at once, or never.
class FakeProposer final : public StubProposer {
 public:
  FakeProposer() { leader = 1; }
  void Propose(serverpb::InternalRequest req, server::ProposeDone done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      proposed_.push_back(req);
    }
    done(serverpb::InternalResponse());
  }
  void ReadBarrier(std::function<void(absl::Status)> done) override {
    if (answer_barriers) {
      done(absl::OkStatus());
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      held_.push_back(std::move(done));  // answered by the destructor
    }
  }
  ~FakeProposer() override {
    for (auto& done : held_) done(absl::CancelledError("gone"));
  }
  std::vector<serverpb::InternalRequest> proposed() {
    std::lock_guard<std::mutex> lock(mu_);
    return proposed_;
  }

  std::atomic<bool> answer_barriers{true};

 private:
  std::mutex mu_;
  std::vector<serverpb::InternalRequest> proposed_;
  std::vector<std::function<void(absl::Status)>> held_;
};

class FakeHasher final : public server::PeerHasher {
 public:
  std::vector<server::PeerHashAnswer> Ask(int64_t rev) override {
    asked_at = rev;
    ++asks;
    return answers;
  }
  void Cancel() override { cancelled = true; }

  std::vector<server::PeerHashAnswer> answers;
  std::atomic<int64_t> asked_at{0};
  std::atomic<int> asks{0};
  std::atomic<bool> cancelled{false};
};

etcdserverpb::HashKVResponse Answer(const server::KvHash& h) {
  etcdserverpb::HashKVResponse r;
  r.mutable_header()->set_revision(h.rev);
  r.set_hash(h.hash);
  r.set_compact_revision(h.compact_rev);
  return r;
}

class MonitorFixture : public ApplierFixture {
 public:
  MonitorFixture() {
    Put("a", "1");
    Put("b", "2");
    auto h = server::HashKv(*store_, 0);
    REQUIRE(h.ok());
    local_ = *h;
  }
  // A monitor on the fixture's store; `hasher_` stays readable.
  std::unique_ptr<server::CorruptionMonitor> Make(absl::Duration period = absl::Minutes(1)) {
    auto hasher = std::make_unique<FakeHasher>();
    hasher->answers = answers_;
    hasher_ = hasher.get();
    server::CorruptionCheckOptions opts;
    opts.cluster_id = 7;
    opts.self_id = 1;
    opts.timeout = absl::Hours(1);  // on the manual clock: never, unless moved
    return std::make_unique<server::CorruptionMonitor>(opts, period, store_.get(), std::move(hasher),
                                                       &proposer_, clock_, &logger_);
  }
  // The CORRUPT alarms proposed, by the member they name.
  std::vector<uint64_t> CorruptAlarms() {
    std::vector<uint64_t> out;
    for (const auto& r : proposer_.proposed()) {
      if (r.has_alarm() && r.alarm().alarm() == etcdserverpb::CORRUPT &&
          r.alarm().action() == etcdserverpb::AlarmRequest::ACTIVATE) {
        out.push_back(r.alarm().memberid());
      }
    }
    return out;
  }

  server::KvHash local_;
  std::vector<server::PeerHashAnswer> answers_;
  FakeHasher* hasher_ = nullptr;
  FakeProposer proposer_;
  base::ManualClock clock_;
  base::Logger logger_{&clock_, base::LogFormat::kText, base::LogLevel::kError};
};

TEST_CASE_METHOD(MonitorFixture, "CheckOnce: a peer hashing differently at the same compaction revision "
                                 "raises CORRUPT for member 0, as etcd 3.4.23",
                 "[corruption]") {
  auto same = Answer(local_);
  auto differs = same;
  differs.set_hash(local_.hash + 1);
  answers_ = {{2, same}, {3, differs}};
  auto monitor = Make();
  CHECK(monitor->CheckOnce() == std::vector<uint64_t>{3});
  CHECK(hasher_->asked_at == local_.rev);
  CHECK(CorruptAlarms() == std::vector<uint64_t>{0});
}

TEST_CASE_METHOD(MonitorFixture, "CheckOnce: a peer ahead of the leader, or compacted past it, is different",
                 "[corruption]") {
  auto ahead = Answer(local_);
  ahead.mutable_header()->set_revision(local_.rev + 1);
  auto compacted = Answer(local_);
  compacted.set_compact_revision(local_.compact_rev + 1);
  compacted.set_hash(local_.hash + 1);  // another compaction: the hash is not compared
  auto differs = Answer(local_);
  differs.set_hash(local_.hash ^ 0xff);
  answers_ = {{2, ahead}, {3, compacted}, {4, differs}};
  auto monitor = Make();
  CHECK(monitor->CheckOnce() == std::vector<uint64_t>{2, 3, 4});
  // Several members found different: still one alarm, for member 0.
  CHECK(CorruptAlarms() == std::vector<uint64_t>{0});
}

TEST_CASE_METHOD(MonitorFixture, "CheckOnce: equal, unreachable, lagging or older-compaction peers pass",
                 "[corruption]") {
  auto older = Answer(local_);
  older.set_compact_revision(local_.compact_rev - 1);
  older.set_hash(local_.hash + 5);  // hashed over more history: not compared
  answers_ = {{2, Answer(local_)},
              {3, absl::UnavailableError("down")},
              {4, absl::OutOfRangeError("future revision")},
              {5, older}};
  auto monitor = Make();
  CHECK(monitor->CheckOnce().empty());
  CHECK(CorruptAlarms().empty());
}

TEST_CASE_METHOD(MonitorFixture, "CheckOnce: no read barrier, no verdict", "[corruption]") {
  auto differs = Answer(local_);
  differs.set_hash(local_.hash + 1);
  answers_ = {{2, differs}};
  auto monitor = Make();
  proposer_.answer_barriers = false;
  // The barrier's timeout runs on the injected clock: moved past it from
  // another thread, the check gives up.
  std::atomic<bool> done{false};
  std::thread mover([this, &done] {
    while (!done) {
      clock_.Advance(absl::Hours(2));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  CHECK(monitor->CheckOnce().empty());
  done = true;
  mover.join();
  CHECK(CorruptAlarms().empty());
}

TEST_CASE_METHOD(MonitorFixture, "RunDue: one check a period of the injected clock, by the leader only",
                 "[corruption]") {
  auto monitor = Make(absl::Minutes(5));
  monitor->RunDue();
  CHECK(hasher_->asks == 0);
  clock_.Advance(absl::Minutes(4));
  monitor->RunDue();
  CHECK(hasher_->asks == 0);
  clock_.Advance(absl::Minutes(1));
  monitor->RunDue();
  CHECK(hasher_->asks == 1);
  CHECK(monitor->NextCheck() == clock_.Now() + absl::Minutes(5));
  monitor->RunDue();
  CHECK(hasher_->asks == 1);
  proposer_.leader = 2;
  clock_.Advance(absl::Minutes(5));
  monitor->RunDue();
  CHECK(hasher_->asks == 1);  // a follower does not check, and waits a period again
  CHECK(monitor->NextCheck() == clock_.Now() + absl::Minutes(5));
}

TEST_CASE_METHOD(MonitorFixture, "The monitor's thread: a huge period never checks, and Stop() is prompt",
                 "[corruption]") {
  // Go's largest duration, what --experimental-corrupt-check-time takes.
  auto monitor = Make(absl::Nanoseconds(INT64_MAX));
  CHECK(monitor->NextCheck() > clock_.Now() + absl::Hours(2'000'000));
  monitor->Start();
  // A few rounds of the loop (each naps at most a second of real time).
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(absl::Hours(1));
    monitor->RunDue();
  }
  const auto start = std::chrono::steady_clock::now();
  monitor->Stop();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  CHECK(hasher_->asks == 0);
}

TEST_CASE_METHOD(MonitorFixture, "Stop() ends a check waiting for its barrier, and cancels the peer calls",
                 "[corruption]") {
  auto monitor = Make(absl::Seconds(1));
  proposer_.answer_barriers = false;  // and the timeout (1h of the manual clock) never passes
  monitor->Start();
  clock_.Advance(absl::Seconds(1));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (hasher_->asks == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  REQUIRE(hasher_->asks == 1);
  const auto start = std::chrono::steady_clock::now();
  monitor->Stop();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  CHECK(hasher_->cancelled);
  CHECK(CorruptAlarms().empty());
}

}  // namespace
}  // namespace ketcd_test
