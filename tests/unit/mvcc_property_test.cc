// Property test of storage::MvccStore against KvModel: random sequences of
// put / delete-range / multi-op txn / compaction on a small alphabet that
// includes the bytes 0x00 and 0xFF, several requests per WriteBatch, and
// after every step random ranges (single keys, [key, end), prefixes, "\0" =
// to the end, limits, count_only, historical, compacted and future
// revisions) compared with the model, inside txns and through ReadViews.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/errors.h"
#include "storage/mvcc_store.h"
#include "tests/unit/kv_model.h"
#include "tests/unit/store_util.h"
#include "tests/common/temp_dir.h"

namespace {

using namespace ketcd_test;

const std::string kZero(1, '\0');

std::string RandomKey(std::mt19937_64& rng) {
  static const std::vector<std::string> kAlphabet = {kZero, "\x01", "a", "b", "\xff"};
  std::string k;
  const int len = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < len; ++i) k += kAlphabet[rng() % kAlphabet.size()];
  return k;
}

std::string RandomEnd(std::mt19937_64& rng, const std::string& key) {
  switch (rng() % 6) {
    case 0:
    case 1:
      return "";  // single key
    case 2:
      return kZero;  // to the end
    case 3:
      return PrefixEnd(key);
    default:
      return RandomKey(rng);  // may well be <= key: empty range
  }
}

std::string RandomValue(std::mt19937_64& rng) {
  static const std::vector<std::string> kValues = {"", "v", "w", std::string("\x00\xff", 2), "long-value"};
  return kValues[rng() % kValues.size()];
}

struct Query {
  std::string key, end;
  int64_t limit = 0;
  int64_t rev = 0;
  bool count_only = false;
};

Query RandomQuery(std::mt19937_64& rng, int64_t cur_rev, int64_t compact_rev) {
  Query q;
  q.key = RandomKey(rng);
  q.end = RandomEnd(rng, q.key);
  if (rng() % 3 == 0) q.limit = static_cast<int64_t>(rng() % 4);
  q.count_only = rng() % 8 == 0;
  if (rng() % 3 != 0) {
    // From just below the compaction point to just past the head.
    const int64_t lo = std::max<int64_t>(-1, compact_rev - 2);
    const int64_t hi = cur_rev + 2;
    q.rev = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  }
  return q;
}

std::string Describe(const Query& q) {
  return "range " + Esc(q.key) + " .. " + Esc(q.end) + " limit " + std::to_string(q.limit) +
         " rev " + std::to_string(q.rev) + (q.count_only ? " count_only" : "");
}

storage::RangeOptions Opts(const Query& q) {
  storage::RangeOptions o;
  o.limit = q.limit;
  o.rev = q.rev;
  o.count_only = q.count_only;
  return o;
}

ModelRange ModelRead(const KvModel& m, const Query& q) {
  return m.Range(q.key, q.end, q.limit, q.rev, q.count_only);
}

void RequireSameHistory(const storage::MvccStore& store, const KvModel& model) {
  auto view = store.Read();
  REQUIRE(view->rev() == model.rev());
  REQUIRE(view->compact_rev() == model.compact_rev());
  for (int64_t at = std::max<int64_t>(model.compact_rev() - 1, 0); at <= model.rev() + 1; ++at) {
    // Whole key space: all key-values, the first one only, the count only.
    for (Query q : {Query{kZero, kZero, 0, at, false}, Query{kZero, kZero, 1, at, false},
                    Query{kZero, kZero, 0, at, true}}) {
      INFO(Describe(q));
      RequireSameRange(view->Range(storage::KeyRange::FromEtcd(q.key, q.end), Opts(q)), ModelRead(model, q));
    }
  }
}

// One request's worth of random writes and reads inside a WriteTxn.
void RandomTxn(std::mt19937_64& rng, storage::WriteBatch& wb, KvModel& model, int kind) {
  storage::WriteTxn txn = wb.BeginTxn();
  model.Begin();
  REQUIRE(txn.write_rev() == model.write_rev());
  const int ops = kind == 2 ? 2 + static_cast<int>(rng() % 4) : 1;
  for (int i = 0; i < ops; ++i) {
    const int what = kind == 0 ? 0 : kind == 1 ? 1 : static_cast<int>(rng() % 3);
    if (what == 0) {
      const std::string key = RandomKey(rng);
      const std::string value = RandomValue(rng);
      const int64_t lease = static_cast<int64_t>(rng() % 3) * 7;
      INFO("put " << Esc(key) << " = " << Esc(value) << " lease " << lease);
      auto got = txn.Put(key, value, lease);
      REQUIRE(got.ok());
      REQUIRE(KvStr(*got) == KvStr(model.Put(key, value, lease)));
    } else if (what == 1) {
      const std::string key = RandomKey(rng);
      const std::string end = RandomEnd(rng, key);
      INFO("delete " << Esc(key) << " .. " << Esc(end));
      auto got = txn.DeleteRange(storage::KeyRange::FromEtcd(key, end));
      REQUIRE(got.ok());
      REQUIRE(KvsStr(*got) == KvsStr(model.DeleteRange(key, end)));
    } else {
      // A read inside the txn sees the txn's own writes and the batch's.
      Query q = RandomQuery(rng, model.RevAfter(), model.compact_rev());
      INFO("in-txn " << Describe(q));
      RequireSameRange(txn.Range(storage::KeyRange::FromEtcd(q.key, q.end), Opts(q)), ModelRead(model, q));
    }
    REQUIRE(txn.rev_after() == model.RevAfter());
  }
  wb.EndTxn(txn);
  model.End();
  REQUIRE(wb.rev() == model.rev());
}

void RunSeed(uint64_t seed, int steps, int compaction_batch) {
  INFO("seed " << seed << " (replay: this seed, " << steps << " steps, compaction batch "
               << compaction_batch << ")");
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  if (compaction_batch > 0) store->SetCompactionBatchForTest(compaction_batch);
  KvModel model;
  std::mt19937_64 rng(seed);
  uint64_t applied = 0;
  for (int step = 0; step < steps; ++step) {
    INFO("step " << step << " rev " << model.rev() << " compact " << model.compact_rev());
    auto wb = store->Write();
    const int requests = rng() % 4 == 0 ? 1 + static_cast<int>(rng() % 4) : 1;
    for (int r = 0; r < requests; ++r) {
      const int dice = static_cast<int>(rng() % 100);
      if (dice < 8) {
        const int64_t lo = std::max<int64_t>(-1, model.compact_rev() - 1);
        const int64_t target = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(model.rev() + 2 - lo + 1));
        INFO("compact " << target);
        const ReadError want = model.Compact(target);
        REQUIRE(ErrorOf(wb->Compact(target)) == want);
        REQUIRE(wb->compact_rev() == model.compact_rev());
      } else {
        // 0: put, 1: delete range, 2: multi-op txn, 3: empty txn.
        const int kind = dice < 50 ? 0 : dice < 70 ? 1 : dice < 95 ? 2 : 3;
        if (kind == 3) {
          storage::WriteTxn txn = wb->BeginTxn();
          model.Begin();
          REQUIRE_FALSE(txn.changed());
          wb->EndTxn(txn);
          model.End();
        } else {
          RandomTxn(rng, *wb, model, kind);
        }
      }
    }
    REQUIRE(wb->Commit(++applied, /*sync=*/false).ok());
    REQUIRE(store->Rev() == model.rev());
    REQUIRE(store->CompactRev() == model.compact_rev());
    REQUIRE(store->AppliedIndex() == applied);
    REQUIRE(store->LiveKeys() == model.LiveKeyCount());
    auto view = store->Read();
    for (int i = 0; i < 4; ++i) {
      Query q = RandomQuery(rng, model.rev(), model.compact_rev());
      INFO("view " << Describe(q));
      RequireSameRange(view->Range(storage::KeyRange::FromEtcd(q.key, q.end), Opts(q)), ModelRead(model, q));
    }
    if (step % 200 == 199) {
      RequireSameHistory(*store, model);
      store->WaitCompacted(model.compact_rev());
      REQUIRE(store->CountVersionsForTest() == model.VersionCount());
    }
  }
  RequireSameHistory(*store, model);
  // And all of it again after a reopen.
  store.reset();
  store = OpenStore(dir.Sub("db"));
  REQUIRE(store->Rev() == model.rev());
  REQUIRE(store->CompactRev() == model.compact_rev());
  REQUIRE(store->AppliedIndex() == applied);
  REQUIRE(store->LiveKeys() == model.LiveKeyCount());
  RequireSameHistory(*store, model);
  store->WaitCompacted(model.compact_rev());
  REQUIRE(store->CountVersionsForTest() == model.VersionCount());
  // A store whose live-key index is missing or half built gets it rebuilt.
  REQUIRE(store->DropLiveIndexForTest().ok());
  store.reset();
  store = OpenStore(dir.Sub("db"));
  REQUIRE(store->LiveKeys() == model.LiveKeyCount());
  RequireSameHistory(*store, model);
  auto view = store->Read();
  for (int i = 0; i < 200; ++i) {
    Query q = RandomQuery(rng, model.rev(), model.compact_rev());
    INFO("after rebuild " << Describe(q));
    RequireSameRange(view->Range(storage::KeyRange::FromEtcd(q.key, q.end), Opts(q)), ModelRead(model, q));
  }
}

}  // namespace

TEST_CASE("MvccStore matches the model on random histories", "[mvcc][property]") {
  for (uint64_t seed : {1ULL, 2ULL, 3ULL}) RunSeed(seed, 1500, 0);
}

TEST_CASE("MvccStore matches the model with tiny compaction batches", "[mvcc][property]") {
  for (uint64_t seed : {101ULL, 102ULL}) RunSeed(seed, 1500, 3);
}

TEST_CASE("MvccStore keeps its live-key count through reopen, an old store and ReplaceWith", "[mvcc]") {
  ketcd_test::TempDir dir;
  auto store = ketcd_test::OpenStore(dir.Sub("a"));
  REQUIRE(store->LiveKeys() == 0);
  auto wb = store->Write();
  for (const char* k : {"a", "b", "c", "d"}) {
    storage::WriteTxn txn = wb->BeginTxn();
    REQUIRE(txn.Put(k, "1", 0).ok());
    REQUIRE(txn.Put(k, "2", 0).ok());  // an update is not a new key
    wb->EndTxn(txn);
  }
  storage::WriteTxn del = wb->BeginTxn();
  REQUIRE(del.DeleteRange(storage::KeyRange::FromEtcd("b", "d")).ok());  // b, c
  REQUIRE(del.DeleteRange(storage::KeyRange::FromEtcd("b", "")).ok());   // gone already
  REQUIRE(del.Put("c", "again", 0).ok());
  wb->EndTxn(del);
  REQUIRE(wb->Commit(1, false).ok());
  REQUIRE(store->LiveKeys() == 3);  // a, c, d
  store.reset();
  store = ketcd_test::OpenStore(dir.Sub("a"));
  REQUIRE(store->LiveKeys() == 3);
  // A store written before the count was kept gets it counted once.
  REQUIRE(store->DropLiveKeysForTest().ok());
  store.reset();
  store = ketcd_test::OpenStore(dir.Sub("a"));
  REQUIRE(store->LiveKeys() == 3);
  REQUIRE(store->CreateCheckpoint(dir.Sub("cp")).ok());
  auto other = ketcd_test::OpenStore(dir.Sub("b"));
  auto wb2 = other->Write();
  storage::WriteTxn txn = wb2->BeginTxn();
  REQUIRE(txn.Put("x", "1", 0).ok());
  wb2->EndTxn(txn);
  REQUIRE(wb2->Commit(1, false).ok());
  wb2.reset();
  REQUIRE(other->LiveKeys() == 1);
  REQUIRE(other->ReplaceWith(dir.Sub("cp")).ok());
  REQUIRE(other->LiveKeys() == 3);
}
