// Durability and idempotency: the applied index commits with the batch's
// effects, reopening shows exactly what was committed, and a lone raft member
// shares one commit among concurrent proposals (group commit).
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "server/state/errors.h"
#include "tests/unit/local_member.h"
#include "tests/unit/applier_fixture.h"
#include "tests/unit/store_util.h"
#include "tests/common/temp_dir.h"

namespace {

using namespace ketcd_test;

constexpr absl::Duration kWait = absl::Seconds(30);

}  // namespace

TEST_CASE("The applied index is stored with the batch and survives a reopen", "[durability]") {
  TempDir dir;
  const std::string path = dir.Sub("db");
  {
    auto store = OpenStore(path);
    CHECK(store->AppliedIndex() == 0);
    CHECK(store->Rev() == 1);
    auto wb = store->Write();
    auto t = wb->BeginTxn();
    REQUIRE(t.Put("a", "1", 0).ok());
    wb->EndTxn(t);
    auto t2 = wb->BeginTxn();
    REQUIRE(t2.Put("b", "1", 0).ok());
    wb->EndTxn(t2);
    REQUIRE(wb->Commit(7, /*sync=*/true).ok());
    CHECK(store->AppliedIndex() == 7);
    CHECK(store->Rev() == 3);
    // A batch that is never committed leaves no trace.
    auto lost = store->Write();
    auto t3 = lost->BeginTxn();
    REQUIRE(t3.Put("c", "1", 0).ok());
    lost->EndTxn(t3);
  }
  auto store = OpenStore(path);
  CHECK(store->AppliedIndex() == 7);
  CHECK(store->Rev() == 3);
  auto r = store->Read()->Range(storage::KeyRange::FromEtcd("a", std::string(1, '\0')), {});
  REQUIRE(r.ok());
  CHECK(r->count == 2);
  // The next batch continues from the stored revision.
  auto wb = store->Write();
  auto t = wb->BeginTxn();
  CHECK(t.write_rev() == 4);
}

TEST_CASE("A lone raft member applies in order and the store remembers the index", "[durability]") {
  TempDir dir;
  const std::string path = dir.Sub("db");
  std::set<int64_t> leases = {5};
  server::KvApplier applier([&](int64_t id) { return leases.count(id) > 0; });
  uint64_t base = 0;
  {
    auto store = OpenStore(path);
    auto log_owner = NewLog(store.get(), &applier);
  auto& log = *log_owner;
    log.Start();
    base = log.base_index();
    for (int i = 0; i < 10; ++i) {
      auto r = log.ProposeAndWait(Wrap(MakePut("k" + std::to_string(i), "v", i == 3 ? 5 : 0)), kWait);
      REQUIRE(r.ok());
      CHECK(r->put().header().revision() == 2 + i);
    }
    // A request that fails still consumes its log index, and changes nothing.
    auto bad = log.ProposeAndWait(Wrap(MakePut("x", "v", 77)), kWait);
    CHECK(bad.status().message() == server::kErrLeaseNotFound);
    auto del = log.ProposeAndWait(Wrap(MakeDelete("k0", "k5", true)), kWait);
    REQUIRE(del.ok());
    CHECK(del->delete_range().deleted() == 5);
    CHECK(del->delete_range().header().revision() == 12);
    CHECK(store->AppliedIndex() == base + 12);
    log.Stop();
    // Proposals after Stop fail with "server stopped".
    auto late = log.ProposeAndWait(Wrap(MakePut("late", "v")), kWait);
    CHECK(late.status().message() == server::kErrStopped);
    CHECK(late.status().code() == absl::StatusCode::kUnavailable);
  }
  auto store = OpenStore(path);
  CHECK(store->AppliedIndex() == base + 12);
  CHECK(store->Rev() == 12);
  auto r = applier.ReadRange(*store, MakeRange("k", "l"));
  REQUIRE(r.ok());
  CHECK(r->count() == 5);
  CHECK(r->kvs(0).key() == "k5");
  auto k3 = store->Read()->Range(storage::KeyRange::FromEtcd("k3", ""), {.rev = 11});
  REQUIRE(k3.ok());
  CHECK(k3->kvs[0].lease() == 5);
}

TEST_CASE("Group commit: concurrent proposals share batches", "[durability]") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  server::KvApplier applier([](int64_t) { return false; });
  auto log_owner = NewLog(store.get(), &applier);
  auto& log = *log_owner;
  log.Start();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::vector<std::vector<int64_t>> revs(kThreads);
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = log.ProposeAndWait(
            Wrap(MakePut("t" + std::to_string(t) + "/" + std::to_string(i), "v")), kWait);
        if (!r.ok()) {
          ++failures[t];
          continue;
        }
        revs[t].push_back(r->put().header().revision());
      }
    });
  }
  for (auto& th : threads) th.join();
  log.Stop();
  std::set<int64_t> all;
  for (int t = 0; t < kThreads; ++t) {
    CHECK(failures[t] == 0);
    for (int64_t r : revs[t]) all.insert(r);
    // Each writer's own revisions increase.
    for (size_t i = 1; i < revs[t].size(); ++i) CHECK(revs[t][i] > revs[t][i - 1]);
  }
  constexpr int kWrites = kThreads * kPerThread;
  CHECK(all.size() == kWrites);
  CHECK(*all.begin() == 2);
  CHECK(*all.rbegin() == 1 + kWrites);
  CHECK(store->AppliedIndex() == log.base_index() + kWrites);
  CHECK(store->Rev() == 1 + kWrites);
  INFO("batches " << log.BatchesCommitted() << " for " << kWrites << " writes");
  CHECK(log.BatchesCommitted() < static_cast<uint64_t>(kWrites));
  CHECK(log.BatchesCommitted() >= 1);
}

namespace {

uint64_t StoreWalBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    // RocksDB deletes obsolete files in the background, maybe right now.
    std::error_code gone;
    const auto size = e.path().extension() == ".log" ? std::filesystem::file_size(e.path(), gone) : 0;
    if (!gone) total += size;
  }
  return total;
}

}  // namespace

TEST_CASE("The store's own WAL stays bounded while the meta family never fills a memtable", "[durability]") {
  // Every batch writes a few meta bytes; RocksDB keeps a WAL file until all
  // families in it flushed, so without the cap the WAL held every byte ever
  // written (436 MiB after 1M puts of 256 B).
  TempDir dir;
  const std::string path = dir.Sub("db");
  storage::MvccStoreOptions opts;
  opts.max_wal_bytes = uint64_t{1} << 20;
  auto opened = storage::MvccStore::Open(path, opts);
  REQUIRE(opened.ok());
  auto store = std::move(*opened);
  const std::string value(4096, 'v');
  uint64_t index = 0;
  const auto commit = [&](int puts, const std::string& v) {
    auto wb = store->Write();
    for (int i = 0; i < puts; ++i) {
      auto t = wb->BeginTxn();
      REQUIRE(t.Put("k" + std::to_string(index * 16 + i), v, 0).ok());
      wb->EndTxn(t);
    }
    REQUIRE(wb->Commit(++index, /*sync=*/false).ok());
  };
  for (int b = 0; b < 128; ++b) commit(16, value);  // 8 MiB, 8x the cap
  // RocksDB checks the cap when a write comes in and flushes in the
  // background (skipping the check while a flush is pending, which on a
  // loaded machine lets a few MiB more pile up): a member keeps writing, so
  // small batches go on while the old files are given a bounded time to go.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (StoreWalBytes(path) > (uint64_t{2} << 20) && absl::Now() < deadline) {
    commit(1, "x");
    absl::SleepFor(absl::Milliseconds(20));
  }
  INFO("WAL bytes " << StoreWalBytes(path));
  CHECK(StoreWalBytes(path) <= (uint64_t{2} << 20));
  CHECK(store->AppliedIndex() == index);
}
