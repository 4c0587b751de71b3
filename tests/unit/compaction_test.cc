// Compaction through the applier: logical at once (errors as etcd), physical
// in the background (old versions really gone, the newest version <= C of
// every live key kept), in small batches too, and surviving a reopen.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/local_member.h"
#include "storage/errors.h"
#include "tests/unit/applier_fixture.h"
#include "tests/unit/kv_model.h"
#include "tests/unit/store_util.h"

namespace {

using namespace ketcd_test;

const std::string kAll(1, '\0');

// Random puts and deletes on 12 keys through the applier and the model alike.
void RandomHistory(ApplierFixture& f, KvModel& model, std::mt19937_64& rng, int requests) {
  for (int i = 0; i < requests; ++i) {
    const std::string key = "key" + std::to_string(rng() % 12);
    model.Begin();
    if (rng() % 4 == 0) {
      const std::string end = rng() % 3 == 0 ? PrefixEnd("key1") : "";
      const std::string from = end.empty() ? key : "key1";
      model.DeleteRange(from, end);
      f.MustApply(MakeDelete(from, end));
    } else {
      const std::string value = "v" + std::to_string(i);
      model.Put(key, value, 0);
      f.Put(key, value);
    }
    model.End();
  }
  REQUIRE(f.store_->Rev() == model.rev());
}

void RequireReadsMatch(storage::MvccStore& store, const KvModel& model, int64_t from_rev) {
  auto view = store.Read();
  for (int64_t at = from_rev; at <= model.rev(); ++at) {
    INFO("read at " << at);
    storage::RangeOptions o;
    o.rev = at;
    RequireSameRange(view->Range(storage::KeyRange::FromEtcd(kAll, kAll), o),
                     model.Range(kAll, kAll, 0, at, false));
  }
}

}  // namespace

TEST_CASE_METHOD(ApplierFixture, "Compaction is logical at once, with etcd's errors", "[compaction]") {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Put("b", "1");  // 4
  Put("a", "3");  // 5

  auto resp = Apply(WrapCompact(4));
  REQUIRE(resp.ok());
  CHECK(resp->compaction().header().revision() == 5);
  CHECK(store_->CompactRev() == 4);

  auto at = [&](int64_t rev) {
    RangeRequest r = MakeRange("a");
    r.set_revision(rev);
    return applier_.ReadRange(*store_, r);
  };
  CHECK(storage::IsCompacted(at(3).status()));
  CHECK(at(3).status().message() == storage::kErrCompacted);
  CHECK(storage::IsCompacted(at(1).status()));
  REQUIRE(at(4).ok());
  CHECK(at(4)->kvs(0).value() == "2");  // the newest version <= 4 survives
  CHECK(at(5)->kvs(0).value() == "3");
  CHECK(at(0)->kvs(0).value() == "3");
  CHECK(storage::IsFutureRev(at(6).status()));
  CHECK(at(6).status().message() == storage::kErrFutureRev);

  // Compacting again at or below the compaction point, or into the future.
  CHECK(storage::IsCompacted(Apply(WrapCompact(4)).status()));
  CHECK(storage::IsCompacted(Apply(WrapCompact(2)).status()));
  CHECK(storage::IsFutureRev(Apply(WrapCompact(6)).status()));
  CHECK(store_->CompactRev() == 4);
  CHECK(store_->Rev() == 5);
  // Compacting to the head is allowed.
  CHECK(Apply(WrapCompact(5)).ok());
  CHECK(storage::IsCompacted(at(4).status()));
  CHECK(at(5)->kvs(0).value() == "3");
}

TEST_CASE_METHOD(ApplierFixture, "Physical compaction removes old versions and keeps the newest <= C",
                 "[compaction]") {
  for (int batch : {1000, 3}) {
    // Fresh store per batch size; the fixture's store is reused for the first.
    INFO("compaction batch " << batch);
    if (batch != 1000) {
      store_.reset();
      std::filesystem::remove_all(dir_.Sub("db"));
      store_ = OpenStore(dir_.Sub("db"));
      index_ = 0;
    }
    store_->SetCompactionBatchForTest(batch);
    const uint64_t seed = 99 + batch;
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    KvModel model;
    RandomHistory(*this, model, rng, 150);
    const int64_t before = store_->CountVersionsForTest();
    REQUIRE(before == model.VersionCount());

    for (int round = 0; round < 3; ++round) {
      INFO("round " << round);
      // Compact somewhere in the middle of what is there.
      const int64_t c = model.compact_rev() + 1 +
                        static_cast<int64_t>(rng() % static_cast<uint64_t>(model.rev() - model.compact_rev()));
      REQUIRE(model.Compact(c) == ReadError::kNone);
      REQUIRE(Apply(WrapCompact(c)).ok());
      store_->WaitCompacted(c);
      CHECK(store_->PhysicallyCompactedRev() >= c);
      REQUIRE(store_->CountVersionsForTest() == model.VersionCount());
      RequireReadsMatch(*store_, model, c);
      // More history on top, so the next round has work to do.
      RandomHistory(*this, model, rng, 60);
    }
    CHECK(store_->CountVersionsForTest() < before + 120);

    // Everything survives a reopen, and the compactor has nothing left to do.
    const uint64_t applied = store_->AppliedIndex();
    store_.reset();
    store_ = OpenStore(dir_.Sub("db"));
    CHECK(store_->AppliedIndex() == applied);
    CHECK(store_->Rev() == model.rev());
    CHECK(store_->CompactRev() == model.compact_rev());
    store_->WaitCompacted(model.compact_rev());
    REQUIRE(store_->CountVersionsForTest() == model.VersionCount());
    RequireReadsMatch(*store_, model, model.compact_rev());
    RangeRequest below = MakeRange("key0");
    below.set_revision(model.compact_rev() - 1);
    CHECK(storage::IsCompacted(applier_.ReadRange(*store_, below).status()));
    // And writes go on from where they were.
    model.Begin();
    model.Put("key0", "after", 0);
    model.End();
    CHECK(Put("key0", "after") == model.rev());
    RequireReadsMatch(*store_, model, model.compact_rev());
  }
}

TEST_CASE("Compaction drops the old versions of a deleted key, and keeps revision C whole", "[compaction]") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  uint64_t index = 0;
  auto commit = [&](auto&& fill) {
    auto wb = store->Write();
    fill(*wb);
    REQUIRE(wb->Commit(++index, false).ok());
  };
  commit([](storage::WriteBatch& wb) {
    auto t = wb.BeginTxn();
    REQUIRE(t.Put("gone", "1", 0).ok());
    REQUIRE(t.Put("kept", "1", 0).ok());
    wb.EndTxn(t);
  });  // 2
  commit([](storage::WriteBatch& wb) {
    auto t = wb.BeginTxn();
    REQUIRE(t.DeleteRange(storage::KeyRange::FromEtcd("gone", "")).ok());
    wb.EndTxn(t);
    // A compaction in the same batch as the write before it.
    REQUIRE(wb.Compact(3).ok());
    auto t2 = wb.BeginTxn();
    REQUIRE(t2.Put("gone", "2", 0).ok());  // a new life at 4
    wb.EndTxn(t2);
  });
  store->WaitCompacted(3);
  // kept@2, gone@4 and (revision 3 stays whole) the tombstone @3 remain;
  // gone@2 is gone.
  CHECK(store->CountVersionsForTest() == 3);
  auto view = store->Read();
  storage::RangeOptions o;
  o.rev = 3;
  auto r = view->Range(storage::KeyRange::FromEtcd("a", "z"), o);
  REQUIRE(r.ok());
  REQUIRE(r->kvs.size() == 1);
  CHECK(r->kvs[0].key() == "kept");
  o.rev = 0;
  r = view->Range(storage::KeyRange::FromEtcd("gone", ""), o);
  REQUIRE(r->kvs.size() == 1);
  CHECK(KvStr(r->kvs[0]) == "{\"gone\"=\"2\" c4 m4 v1 l0}");
}

TEST_CASE("Physical compaction interrupted by a close finishes after reopen", "[compaction]") {
  TempDir dir;
  const std::string path = dir.Sub("db");
  KvModel model;
  std::mt19937_64 rng(314);
  INFO("seed 314");
  {
    auto store = OpenStore(path);
    store->SetCompactionBatchForTest(1);
    uint64_t index = 0;
    for (int b = 0; b < 400; ++b) {
      auto wb = store->Write();
      auto t = wb->BeginTxn();
      model.Begin();
      for (int i = 0; i < 5; ++i) {
        const std::string key = "k" + std::to_string(rng() % 50);
        REQUIRE(t.Put(key, "v", 0).ok());
        model.Put(key, "v", 0);
      }
      wb->EndTxn(t);
      model.End();
      REQUIRE(wb->Commit(++index, false).ok());
    }
    auto wb = store->Write();
    REQUIRE(wb->Compact(model.rev() - 10).ok());
    REQUIRE(model.Compact(model.rev() - 10) == ReadError::kNone);
    REQUIRE(wb->Commit(++index, true).ok());
    // Close at once: the compactor is most likely mid-way through 2000
    // one-revision steps. Reads are right either way.
    RequireReadsMatch(*store, model, model.compact_rev());
  }
  auto store = OpenStore(path);
  CHECK(store->CompactRev() == model.compact_rev());
  store->WaitCompacted(model.compact_rev());
  CHECK(store->CountVersionsForTest() == model.VersionCount());
  RequireReadsMatch(*store, model, model.compact_rev());
}

TEST_CASE("Snapshot readers never lose a version to concurrent physical compaction", "[compaction]") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  store->SetCompactionBatchForTest(2);
  server::KvApplier applier([](int64_t) { return false; });
  auto log_owner = NewLog(store.get(), &applier);
  auto& log = *log_owner;
  log.Start();
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::atomic<int> bad{0};
  std::string first_bad;
  // Every revision >= 2 is a put of "k", so a read of "k" at any revision r
  // the view allows must return exactly the version written at r.
  std::thread reader([&] {
    uint64_t x = 12345;
    while (!done.load()) {
      auto view = store->Read();
      const int64_t lo = std::max<int64_t>(2, view->compact_rev());
      if (view->rev() < lo) continue;
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;  // fixed-seed LCG
      storage::RangeOptions o;
      o.rev = lo + static_cast<int64_t>((x >> 33) % static_cast<uint64_t>(view->rev() - lo + 1));
      auto r = view->Range(storage::KeyRange::FromEtcd("k", ""), o);
      reads.fetch_add(1);
      if (!r.ok() || r->kvs.size() != 1 || r->kvs[0].mod_revision() != o.rev ||
          r->kvs[0].value() != std::to_string(o.rev)) {
        if (bad.fetch_add(1) == 0) {
          first_bad = "at " + std::to_string(o.rev) + ": " +
                      (r.ok() ? KvsStr(r->kvs) : r.status().ToString());
        }
      }
    }
  });
  for (int64_t rev = 2; rev <= 600; ++rev) {
    auto put = log.ProposeAndWait(Wrap(MakePut("k", std::to_string(rev))), absl::Seconds(30));
    REQUIRE(put.ok());
    REQUIRE(put->put().header().revision() == rev);
    if (rev % 25 == 0) REQUIRE(log.ProposeAndWait(WrapCompact(rev - 3), absl::Seconds(30)).ok());
  }
  store->WaitCompacted(store->CompactRev());
  done.store(true);
  reader.join();
  log.Stop();
  INFO("first bad read " << first_bad);
  CHECK(bad.load() == 0);
  CHECK(reads.load() > 0);
  // Only the versions from the last compaction point on are left.
  CHECK(store->CountVersionsForTest() == 600 - store->CompactRev() + 1);
}

// Physical compaction takes turns with the writes: it rests between its
// batches (without the rest, the passes of three members on two cores took
// the writes' p50 from 1.6 to 27 ms while they ran). A lower bound on the
// pass's time, so load on the machine cannot make it fail.
TEST_CASE_METHOD(ApplierFixture, "Physical compaction rests between its batches", "[compaction]") {
  store_->SetCompactionBatchForTest(10, std::chrono::milliseconds(20));
  int64_t last = 0;
  for (int i = 0; i < 100; ++i) last = Put("k", std::to_string(i));
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(Apply(WrapCompact(last)).ok());
  store_->WaitCompacted(last);
  // Revisions 1 .. last-1 in batches of 10: at least 9 rests of 20 ms.
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(9 * 20));
  CHECK(store_->CountVersionsForTest() == 1);
}

namespace {

// The nice values of this process's threads whose name starts with `prefix`.
std::vector<int> NiceOfThreads(const std::string& prefix) {
  std::vector<int> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind(prefix, 0) != 0) continue;
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(std::stoi(task.path().filename().string())));
    if (errno == 0) out.push_back(nice);
  }
  return out;
}

}  // namespace

// A defrag (and RocksDB's own compactions) runs in RocksDB's LOW pool, whose
// threads run at nice 19 so that the member's writes keep the cores.
TEST_CASE("RocksDB's compaction threads yield the CPU to the foreground", "[compaction]") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  REQUIRE(store->Defragment().ok());  // the pool's threads lower their priority on their next job
  const auto nices = NiceOfThreads("rocksdb:low");
  CHECK(std::count(nices.begin(), nices.end(), 19) >= 1);
}

// So does the store's physical compaction: three members' passes at normal
// priority on two cores took the writes' p99 to 3.2x idle.
TEST_CASE_METHOD(ApplierFixture, "Physical compaction yields the CPU to the foreground", "[compaction]") {
  int64_t last = 0;
  for (int i = 0; i < 10; ++i) last = Put("k", std::to_string(i));
  REQUIRE(Apply(WrapCompact(last)).ok());
  store_->WaitCompacted(last);  // the pass has run on its thread
  CHECK(store_->CountVersionsForTest() == 1);
  CHECK(NiceOfThreads("mvcc-compactor") == std::vector<int>{19});
}

// A defrag's rewrite is paced (MvccStoreOptions::defrag_bytes_per_second),
// so the raft log's syncs beside it keep their latency: 2 MiB flushed and
// rewritten at 1 MiB/s takes seconds, where unpaced it takes a fraction of one. A
// lower bound, so load on the machine cannot make it fail.
TEST_CASE("A defrag's writes are paced", "[compaction]") {
  TempDir dir;
  storage::MvccStoreOptions opts;
  opts.defrag_bytes_per_second = 1 << 20;
  auto opened = storage::MvccStore::Open(dir.Sub("db"), opts);
  REQUIRE(opened.ok());
  auto store = std::move(*opened);
  std::mt19937_64 rng(7);
  std::string value(1024, '\0');
  for (int batch = 0; batch < 2; ++batch) {
    auto wb = store->Write();
    for (int i = 0; i < 1024; ++i) {
      for (auto& c : value) c = static_cast<char>(rng());  // incompressible
      auto t = wb->BeginTxn();
      REQUIRE(t.Put("key" + std::to_string(batch * 1024 + i), value, 0).ok());
      wb->EndTxn(t);
    }
    REQUIRE(wb->Commit(static_cast<uint64_t>(batch + 1), /*sync=*/false).ok());
  }
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(store->Defragment().ok());
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(1500));
}

// A compaction's or a defrag's replaced tables are deleted a few MiB at a
// time at the configured pace (freeing hundreds of MiB in one ext4 journal
// commit stalled the raft log's fdatasyncs); trash a crash left behind is
// deleted when the store opens.
TEST_CASE("Obsolete files are deleted at a pace and no trash outlives a reopen", "[compaction]") {
  TempDir dir;
  const std::string db = dir.Sub("db");
  storage::MvccStoreOptions opts;
  opts.delete_bytes_per_second = 32 << 20;
  {
    auto opened = storage::MvccStore::Open(db, opts);
    REQUIRE(opened.ok());
    CHECK((*opened)->DeleteRateForTest() == (32 << 20));
  }
  std::ofstream(db + "/000999.sst.trash") << std::string(4096, 'x');  // as a crash mid-deletion leaves it
  auto opened = storage::MvccStore::Open(db, opts);
  REQUIRE(opened.ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::filesystem::exists(db + "/000999.sst.trash") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK_FALSE(std::filesystem::exists(db + "/000999.sst.trash"));
  opts.delete_bytes_per_second = 0;
  opened->reset();
  auto unpaced = storage::MvccStore::Open(db, opts);
  REQUIRE(unpaced.ok());
  CHECK((*unpaced)->DeleteRateForTest() == 0);
}
