// WatchHub against a model: random puts, deletes, multi-key txns and
// compactions with watchers added (in the past, now, in the future) and
// cancelled at random, on streams that are often full. Every watcher must
// get exactly the model's events for its range from its start revision, in
// order — or a prefix of them and then a compaction cancel.
//
// The hub runs with no thread: each test calls Step() for a round, at
// chosen points, on a ManualClock, so every run is the same and nothing
// sleeps.
#include <chrono>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "base/logger.h"
#include "server/state/watch_hub.h"
#include "tests/unit/store_util.h"
#include "tests/common/temp_dir.h"

namespace ketcd_test {
namespace {

struct ModelEvent {
  int64_t rev;
  std::string key;
  bool put;
  std::string value;
};

// A stream that takes `capacity` responses until the test drains it.
class FakeSink : public server::WatchSink {
 public:
  explicit FakeSink(int capacity) : capacity_(capacity) {}
  bool Enqueue(etcdserverpb::WatchResponse resp, bool force) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!force && queued_ >= capacity_) return false;
    ++queued_;
    // What a client receives: the hub may hand over events pre-serialized.
    etcdserverpb::WatchResponse wire;
    REQUIRE(wire.ParseFromString(resp.SerializeAsString()));
    got_.push_back(std::move(wire));
    return true;
  }
  bool Full() override {
    std::lock_guard<std::mutex> lock(mu_);
    return queued_ >= capacity_;
  }
  void FillHeader(etcdserverpb::ResponseHeader*) override {}
  void Drain() {
    std::lock_guard<std::mutex> lock(mu_);
    queued_ = 0;
  }
  std::vector<etcdserverpb::WatchResponse> Got() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }

 private:
  std::mutex mu_;
  const int capacity_;
  int queued_ = 0;
  std::vector<etcdserverpb::WatchResponse> got_;
};

struct ModelWatcher {
  std::shared_ptr<FakeSink> sink;
  int64_t id;
  server::WatchSpec spec;
  bool cancelled = false;
  int64_t compact_at_add = 0;
  int64_t rev_at_add = 0;
};

}  // namespace

TEST_CASE("the watch hub gives every watcher its model events exactly once, in order", "[watch]") {
  const auto seed = GENERATE(1, 2, 3, 4, 5);
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  // Rounds after every step, or after one step in two or three on average.
  const size_t step_odds = 1 + static_cast<size_t>(seed) % 3;
  TempDir tmp;
  auto store = OpenStore(tmp.Sub("db"));
  base::ManualClock clock;
  base::Logger logger(&clock);
  server::WatchHub::Options opts;
  opts.batch_revs = 3;  // several catch-up rounds per watcher
  opts.progress_interval = absl::Hours(1);
  opts.run_thread = false;
  server::WatchHub hub(store.get(), clock, &logger, opts);
  store->SetCommitListener([&] { hub.Notify(); });

  const std::vector<std::string> keys = {"a", "b", "b/1", "b/2", "c", "d"};
  const std::vector<storage::KeyRange> ranges = {
      storage::KeyRange::FromEtcd("b", ""), storage::KeyRange::FromEtcd("b/", "b0"),
      storage::KeyRange::FromEtcd("\0", std::string(1, '\0')), storage::KeyRange::FromEtcd("a", "c")};
  std::vector<ModelEvent> history;
  std::map<std::string, bool> live;
  std::vector<ModelWatcher> watchers;
  std::vector<std::shared_ptr<FakeSink>> sinks = {std::make_shared<FakeSink>(2),
                                                  std::make_shared<FakeSink>(1000)};
  uint64_t applied = 1;
  int64_t compact = 0;
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };

  for (int step = 0; step < 400; ++step) {
    const size_t op = pick(100);
    if (op < 55) {
      // A write of 1..3 changes in one revision.
      auto wb = store->Write();
      auto txn = wb->BeginTxn();
      const size_t n = 1 + pick(3);
      for (size_t i = 0; i < n; ++i) {
        const std::string& k = keys[pick(keys.size())];
        if (pick(4) == 0) {
          auto del = txn.DeleteRange(storage::KeyRange::FromEtcd(k, ""));
          REQUIRE(del.ok());
          if (!del->empty()) {
            history.push_back({txn.write_rev(), k, false, ""});
            live[k] = false;
          }
        } else {
          const std::string v = std::to_string(step) + "." + std::to_string(i);
          REQUIRE(txn.Put(k, v, 0).ok());
          history.push_back({txn.write_rev(), k, true, v});
          live[k] = true;
        }
      }
      wb->EndTxn(txn);
      REQUIRE(wb->Commit(++applied, false).ok());
    } else if (op < 60 && store->Rev() > compact + 3) {
      auto wb = store->Write();
      compact = store->Rev() - 1 - static_cast<int64_t>(pick(3));
      REQUIRE(wb->Compact(compact).ok());
      REQUIRE(wb->Commit(++applied, false).ok());
    } else if (op < 80) {
      ModelWatcher w;
      w.sink = sinks[pick(sinks.size())];
      w.id = static_cast<int64_t>(watchers.size());
      w.spec.range = ranges[pick(ranges.size())];
      const int64_t rev = store->Rev();
      switch (pick(3)) {
        case 0: w.spec.start_rev = rev + 1; break;                                  // now
        case 1: w.spec.start_rev = std::max<int64_t>(1, rev - static_cast<int64_t>(pick(12))); break;
        default: w.spec.start_rev = rev + 1 + static_cast<int64_t>(pick(5)); break;  // future
      }
      w.spec.prev_kv = pick(2) == 0;
      w.compact_at_add = compact;
      w.rev_at_add = rev;
      hub.Add(w.sink, w.id, w.spec);
      watchers.push_back(std::move(w));
    } else if (op < 85 && !watchers.empty()) {
      auto& w = watchers[pick(watchers.size())];
      if (!w.cancelled) {
        hub.Remove(w.sink.get(), w.id);
        w.cancelled = true;
      }
    } else {
      for (auto& s : sinks) s->Drain();
    }
    if (pick(step_odds) == 0) hub.Step();
  }

  // Let every live watcher finish: keep draining until the hub is quiet.
  const int64_t final_rev = store->Rev();
  auto finished = [&](const ModelWatcher& w) {
    if (w.cancelled) return true;
    for (const auto& r : w.sink->Got()) {
      if (r.watch_id() != w.id) continue;
      if (r.compact_revision() != 0) return true;
      for (const auto& e : r.events()) {
        if (e.kv().mod_revision() == final_rev) return true;
      }
    }
    // Nothing of its range at the end: it is done once the hub is idle.
    bool wants_more = false;
    for (const auto& e : history) {
      if (e.rev >= w.spec.start_rev && w.spec.range.Contains(e.key) && e.rev == final_rev) wants_more = true;
    }
    return !wants_more;
  };
  for (int i = 0; i < 2000; ++i) {
    for (auto& s : sinks) s->Drain();
    hub.Step();
    bool all = true;
    for (const auto& w : watchers) all = all && finished(w);
    if (all) break;
  }
  // Two more rounds: anything still sent would show up as an extra event.
  for (int i = 0; i < 2; ++i) {
    for (auto& s : sinks) s->Drain();
    hub.Step();
  }
  hub.Stop();

  for (const auto& w : watchers) {
    INFO("added at rev " << w.rev_at_add << " compact " << w.compact_at_add);
    INFO("watcher " << w.id << " start " << w.spec.start_rev << " range " << w.spec.range.key << ".."
                    << w.spec.range.end << " cancelled " << w.cancelled);
    std::vector<ModelEvent> want;
    for (const auto& e : history) {
      if (e.rev >= w.spec.start_rev && w.spec.range.Contains(e.key)) want.push_back(e);
    }
    std::vector<std::tuple<int64_t, std::string, bool, std::string>> got;
    int64_t compacted_at = 0;
    for (const auto& r : w.sink->Got()) {
      if (r.watch_id() != w.id) continue;
      REQUIRE(compacted_at == 0);  // nothing after a compaction cancel
      if (r.compact_revision() != 0) {
        compacted_at = r.compact_revision();
        continue;
      }
      for (const auto& e : r.events()) {
        got.emplace_back(e.kv().mod_revision(), e.kv().key(), e.type() == mvccpb::Event::PUT,
                         e.kv().value());
      }
    }
    REQUIRE(got.size() <= want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("event " << i);
      CHECK(std::get<0>(got[i]) == want[i].rev);
      CHECK(std::get<1>(got[i]) == want[i].key);
      CHECK(std::get<2>(got[i]) == want[i].put);
      CHECK(std::get<3>(got[i]) == want[i].value);
    }
    if (compacted_at != 0) {
      // Cancelled only while behind the compaction: everything it got came before.
      CHECK(w.spec.start_rev < compacted_at);
      if (!got.empty()) CHECK(std::get<0>(got.back()) < compacted_at);
    } else if (!w.cancelled) {
      CHECK(got.size() == want.size());
    }
  }
}

}  // namespace ketcd_test

namespace ketcd_test {

namespace {

// A hub over a fresh store that notifies it on every commit: with no
// thread (the test runs its rounds) on a manual clock, or with its thread
// on the real one.
template <typename ClockType, bool kThread>
struct HubFixture {
  static server::WatchHub::Options HubOptions() {
    server::WatchHub::Options opts;
    opts.progress_interval = absl::Hours(1);
    opts.run_thread = kThread;
    return opts;
  }
  HubFixture() { store->SetCommitListener([this] { hub.Notify(); }); }
  ~HubFixture() { hub.Stop(); }

  TempDir tmp;
  std::unique_ptr<storage::MvccStore> store = OpenStore(tmp.Sub("db"));
  ClockType clock;
  base::Logger logger{&clock};
  server::WatchHub hub{store.get(), clock, &logger, HubOptions()};
};
using SteppedHub = HubFixture<base::ManualClock, false>;
using ThreadedHub = HubFixture<base::RealClock, true>;

}  // namespace

TEST_CASE_METHOD(SteppedHub, "a compaction committed with the writes before it does not cancel up-to-date watchers",
          "[watch]") {
  auto sink = std::make_shared<FakeSink>(1000);
  server::WatchSpec spec;
  spec.range = storage::KeyRange::FromEtcd("k", "l");
  spec.start_rev = store->Rev() + 1;  // 2: up to date
  hub.Add(sink, 1, spec);
  {
    // One apply batch (group commit): puts at 2..6 and a compaction at 4.
    auto wb = store->Write();
    for (int i = 0; i < 5; ++i) {
      auto txn = wb->BeginTxn();
      REQUIRE(txn.Put("k" + std::to_string(i), "v", 0).ok());
      wb->EndTxn(txn);
      if (i == 2) REQUIRE(wb->Compact(4).ok());
    }
    REQUIRE(wb->Commit(1, false).ok());
  }
  // Physical compaction waits for the hub's hold (still at revision 1):
  // the round reads 2..6 while they are all there and moves the hold past
  // the compaction, which then runs.
  CHECK(store->PhysicallyCompactedRev() < 4);
  hub.Step();
  store->WaitCompacted(4);
  std::vector<int64_t> revs;
  for (const auto& r : sink->Got()) {
    REQUIRE(r.compact_revision() == 0);
    for (const auto& e : r.events()) revs.push_back(e.kv().mod_revision());
  }
  CHECK(revs == std::vector<int64_t>{2, 3, 4, 5, 6});
  // A watcher that starts below the compaction afterwards is cancelled.
  auto late = std::make_shared<FakeSink>(1000);
  spec.start_rev = 3;
  hub.Add(late, 2, spec);
  hub.Step();
  bool cancelled = false;
  for (const auto& r : late->Got()) cancelled |= r.compact_revision() == 4;
  CHECK(cancelled);
  hub.Stop();
}

}  // namespace ketcd_test

namespace ketcd_test {

TEST_CASE("periodic progress follows the injected clock", "[watch]") {
  TempDir tmp;
  auto store = OpenStore(tmp.Sub("db"));
  base::ManualClock clock;
  base::Logger logger(&clock);
  server::WatchHub::Options opts;
  opts.progress_interval = absl::Minutes(10);
  opts.run_thread = false;
  server::WatchHub hub(store.get(), clock, &logger, opts);
  auto sink = std::make_shared<FakeSink>(1000);
  server::WatchSpec spec;
  spec.range = storage::KeyRange::FromEtcd("k", "l");
  spec.start_rev = store->Rev() + 1;
  spec.progress_notify = true;
  hub.Add(sink, 1, spec);
  auto progress_count = [&] {
    int n = 0;
    for (const auto& r : sink->Got()) n += r.events_size() == 0 && r.watch_id() == 1;
    return n;
  };
  // Nothing is due before the interval, and the hub says when it will be.
  CHECK(hub.Step() == clock.Now() + absl::Minutes(10));
  clock.Advance(absl::Minutes(9));
  hub.Step();
  CHECK(progress_count() == 0);
  clock.Advance(absl::Minutes(1));
  hub.Step();
  REQUIRE(progress_count() == 1);
  CHECK(sink->Got().back().header().revision() == store->Rev());
  // An interval with events owes no progress notification; the next one does.
  {
    auto wb = store->Write();
    auto txn = wb->BeginTxn();
    REQUIRE(txn.Put("k1", "v", 0).ok());
    wb->EndTxn(txn);
    REQUIRE(wb->Commit(1, false).ok());
  }
  hub.Step();
  clock.Advance(absl::Minutes(10));
  hub.Step();
  CHECK(progress_count() == 1);
  clock.Advance(absl::Minutes(10));
  hub.Step();
  CHECK(progress_count() == 2);
  hub.Stop();
}

}  // namespace ketcd_test

namespace ketcd_test {

namespace {

void PutOne(storage::MvccStore& store, const std::string& key) {
  auto wb = store.Write();
  auto txn = wb->BeginTxn();
  REQUIRE(txn.Put(key, "v", 0).ok());
  wb->EndTxn(txn);
  REQUIRE(wb->Commit(1, false).ok());
}

std::vector<int64_t> EventRevs(FakeSink& sink) {
  std::vector<int64_t> revs;
  for (const auto& r : sink.Got()) {
    for (const auto& e : r.events()) revs.push_back(e.kv().mod_revision());
  }
  return revs;
}

}  // namespace

TEST_CASE_METHOD(SteppedHub, "a hub with no watcher holds no compaction, and a watcher added later starts from the store",
          "[watch]") {
  constexpr int64_t kNoHold = std::numeric_limits<int64_t>::max();
  // Revisions 2..6, no round in between: nothing waits for a watcher.
  for (int i = 0; i < 5; ++i) PutOne(*store, "k" + std::to_string(i));
  CHECK(store->HoldLimit() == kNoHold);

  auto now = std::make_shared<FakeSink>(1000);
  server::WatchSpec spec;
  spec.range = storage::KeyRange::FromEtcd("k", "l");
  spec.start_rev = store->Rev() + 1;  // 7
  hub.Add(now, 1, spec);
  // Held from here: what the watcher is owed is kept.
  CHECK(store->HoldLimit() == 6);
  auto past = std::make_shared<FakeSink>(1000);
  spec.start_rev = 4;
  hub.Add(past, 2, spec);
  PutOne(*store, "k9");
  hub.Step();
  CHECK(EventRevs(*now) == std::vector<int64_t>{7});
  CHECK(EventRevs(*past) == std::vector<int64_t>{4, 5, 6, 7});
  CHECK(store->HoldLimit() == 7);

  CHECK(hub.Remove(now.get(), 1));
  CHECK(store->HoldLimit() == 7);
  hub.RemoveSink(past.get());
  CHECK(store->HoldLimit() == kNoHold);
  hub.Stop();
}

TEST_CASE_METHOD(ThreadedHub, "commits wake the hub thread only while it has watchers", "[watch]") {
  auto wait_for = [](const std::function<bool()>& done) {
    for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return done();
  };
  const uint64_t idle_rounds = hub.Rounds();
  for (int i = 0; i < 20; ++i) PutOne(*store, "a" + std::to_string(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(hub.Rounds() == idle_rounds);

  auto sink = std::make_shared<FakeSink>(1000);
  server::WatchSpec spec;
  spec.range = storage::KeyRange::FromEtcd("k", "l");
  spec.start_rev = store->Rev() + 1;
  hub.Add(sink, 1, spec);
  const int64_t first = store->Rev() + 1;
  for (int i = 0; i < 3; ++i) PutOne(*store, "k" + std::to_string(i));
  REQUIRE(wait_for([&] { return EventRevs(*sink).size() == 3; }));
  CHECK(EventRevs(*sink) == std::vector<int64_t>{first, first + 1, first + 2});
  CHECK(hub.Rounds() > idle_rounds);
  hub.Stop();
}

}  // namespace ketcd_test
