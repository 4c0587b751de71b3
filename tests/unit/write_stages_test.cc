// The write-stage histograms (server/replication/write_stages.h) and the
// finer, weighted base::LatencyHistogram they are made of.
#include <future>
#include <string>
#include <tuple>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "base/latency_histogram.h"
#include "tests/unit/applier_fixture.h"
#include "tests/unit/local_member.h"
#include "tests/unit/store_util.h"
#include "tests/common/temp_dir.h"

namespace {

using namespace ketcd_test;

uint64_t Count(const base::LatencyHistogram& h) { return h.Read().count; }
double Sum(const base::LatencyHistogram& h) { return h.Read().sum_seconds; }

// A started single-member raft log over a fresh store.
struct LoneLeader {
  LoneLeader() { log->Start(); }
  TempDir dir;
  std::unique_ptr<storage::MvccStore> store = OpenStore(dir.Sub("db"));
  server::KvApplier applier{[](int64_t) { return false; }};
  std::unique_ptr<LocalMember> log = NewLog(store.get(), &applier);
};

}  // namespace

TEST_CASE("LatencyHistogram: finer buckets and weighted observations", "[write_stages]") {
  base::LatencyHistogram etcd_bounds;
  auto d = etcd_bounds.Read();
  REQUIRE(d.upper_bounds.size() == 14);
  CHECK(d.upper_bounds.front() == 0.001);
  CHECK(d.cumulative_counts.size() == 15);

  base::LatencyHistogram h(10e-6, 1.5, 27);
  h.Observe(absl::Microseconds(5));
  h.Observe(absl::Microseconds(20), 3);  // in (15 µs, 22.5 µs]
  h.Observe(absl::Seconds(10));          // past the last bound: +Inf only
  h.Observe(absl::Microseconds(1), 0);   // nothing
  auto s = h.Read();
  REQUIRE(s.upper_bounds.size() == 27);
  CHECK(s.upper_bounds[2] == Approx(22.5e-6));
  CHECK(s.cumulative_counts[0] == 1);
  CHECK(s.cumulative_counts[1] == 1);
  CHECK(s.cumulative_counts[2] == 4);
  CHECK(s.cumulative_counts[26] == 4);
  CHECK(s.cumulative_counts[27] == 5);
  CHECK(s.count == 5);
  CHECK(s.sum_seconds == Approx(10.000065));

  base::LatencyHistogram wide(1e-6, 2, 1000);  // clamped
  CHECK(wide.Read().upper_bounds.size() == static_cast<size_t>(base::LatencyHistogram::kMaxBuckets));
}

TEST_CASE("Write stages: each write of a lone leader is timed once in every stage", "[write_stages]") {
  LoneLeader leader;
  auto& log = leader.log;
  const server::WriteStages& st = log->member().Stages();
  const base::LatencyHistogram* all[] = {&st.propose_wait, &st.wal_append, &st.replication,
                                         &st.apply,        &st.respond,    &st.total};
  std::vector<uint64_t> before;
  std::vector<double> sums_before;
  for (const auto* h : all) {
    before.push_back(Count(*h));
    sums_before.push_back(Sum(*h));
  }
  // Concurrent writers, so that entries share Readys, syncs and applies:
  // batches still count once per write.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = log->ProposeAndWait(Wrap(MakePut("s" + std::to_string(t) + "/" + std::to_string(i), "v")),
                                     absl::Seconds(30));
        if (!r.ok()) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  log->Stop();
  for (int f : failures) CHECK(f == 0);
  constexpr uint64_t kWrites = kThreads * kPerThread;
  const char* names[] = {"propose_wait", "wal_append", "replication", "apply", "respond", "total"};
  std::vector<double> sums;
  for (size_t i = 0; i < std::size(all); ++i) {
    INFO(names[i]);
    CHECK(Count(*all[i]) - before[i] == kWrites);
    sums.push_back(Sum(*all[i]) - sums_before[i]);
  }
  // The stages follow each other: for every write, propose_wait +
  // replication + apply + respond <= total (wal_append is inside
  // replication), so the sums are ordered the same way.
  CHECK(sums[0] + sums[2] + sums[3] + sums[4] <= sums[5] + 1e-9);
  CHECK(sums[1] <= sums[2] + 1e-9);
  CHECK(sums[5] > 0);
}

TEST_CASE("Write stages: a write is counted before its answer leaves", "[write_stages]") {
  // A client that scrapes /metrics as soon as it has its answer must find
  // its write counted (bench.breakdown_smoke once saw 399 of 400).
  LoneLeader leader;
  auto& log = leader.log;
  const server::WriteStages& st = log->member().Stages();
  REQUIRE(log->ProposeAndWait(Wrap(MakePut("warm", "v")), absl::Seconds(30)).ok());
  constexpr int kWrites = 20;
  for (int i = 0; i < kWrites; ++i) {
    const uint64_t respond_before = Count(st.respond);
    const uint64_t total_before = Count(st.total);
    // Read on the answering thread, where the answer is handed over.
    std::promise<std::tuple<bool, uint64_t, uint64_t>> seen;
    log->member().Propose(Wrap(MakePut("k" + std::to_string(i), "v")), [&](server::ProposeResult r) {
      seen.set_value({r.ok(), Count(st.respond), Count(st.total)});
    });
    auto got = seen.get_future();
    REQUIRE(got.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    const auto [ok, respond, total] = got.get();
    CHECK(ok);
    CHECK(respond == respond_before + 1);
    CHECK(total == total_before + 1);
  }
  log->Stop();
}

TEST_CASE("Write stages: a peer's messages are timed from arrival until the loop takes them", "[write_stages]") {
  LoneLeader leader;
  auto& log = leader.log;
  const server::WriteStages& st = log->member().Stages();
  const uint64_t before = Count(st.peer_wait);
  // Stale answers (term 1; the lone leader campaigned to term 2) from a
  // member it does not track: raft drops them, but the hand-off to the
  // loop is timed for every one.
  auto stray = [](int n) {
    std::vector<raftpb::Message> msgs;
    for (int i = 0; i < n; ++i) {
      raftpb::Message m;
      m.set_type(raftpb::MSG_APP_RESP);
      m.set_from(9);
      m.set_to(1);
      m.set_term(1);
      m.set_index(static_cast<uint64_t>(i));
      msgs.push_back(std::move(m));
    }
    return msgs;
  };
  log->member().Deliver(stray(3));
  log->member().Deliver(stray(2));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Count(st.peer_wait) < before + 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(Count(st.peer_wait) == before + 5);  // once per message, not per delivery
  // Still serving: the stray answers changed nothing.
  CHECK(log->ProposeAndWait(Wrap(MakePut("after", "v")), absl::Seconds(30)).ok());
  CHECK(Count(st.peer_wait) == before + 5);  // a lone leader's own write crosses no peer
}
