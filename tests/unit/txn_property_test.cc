// Property test of server::Applier::Txn against a reference written here on
// top of KvModel, following etcd's apply.go: compares of the whole txn tree
// are evaluated first against the state before the txn, then the chosen path
// is checked (leases, range revisions), then its ops run in order with reads
// seeing earlier writes. Whole responses are compared field by field.
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "base/errors.h"
#include "server/state/errors.h"
#include "server/edge/request_checks.h"
#include "storage/errors.h"
#include "tests/unit/applier_fixture.h"
#include "tests/unit/kv_model.h"

namespace {

using namespace ketcd_test;
using etcdserverpb::TxnResponse;

const std::vector<std::string> kKeys = {"a", "ab", "b", std::string("b\0", 2), "c", "\xff"};

std::string Key(std::mt19937_64& rng) { return kKeys[rng() % kKeys.size()]; }

std::string End(std::mt19937_64& rng, const std::string& key) {
  switch (rng() % 5) {
    case 0: return std::string(1, '\0');
    case 1: return PrefixEnd(key);
    case 2: return Key(rng);
    default: return "";
  }
}

std::string Value(std::mt19937_64& rng) {
  static const std::vector<std::string> kValues = {"", "x", "y", "\xff"};
  return kValues[rng() % kValues.size()];
}

class Reference {
 public:
  explicit Reference(KvModel* model) : m_(model) {}

  // Returns the error kind ("" = ok) and fills `resp`.
  std::string Txn(const TxnRequest& r, TxnResponse* resp) {
    m_->Begin();
    std::vector<bool> path;
    ToPath(r, &path);
    size_t pos = 0;
    std::string err = Check(r, path, &pos);
    if (!err.empty()) {
      m_->End();
      return err;
    }
    pos = 0;
    Apply(r, path, &pos, resp);
    resp->mutable_header()->set_revision(m_->RevAfter());
    m_->End();
    return "";
  }

 private:
  static int Cmp(int64_t a, int64_t b) { return a < b ? -1 : a > b ? 1 : 0; }
  static bool Holds(const Compare& c, const mvccpb::KeyValue& kv) {
    int r = 0;
    switch (c.target()) {
      case Compare::VERSION: r = Cmp(kv.version(), c.version()); break;
      case Compare::CREATE: r = Cmp(kv.create_revision(), c.create_revision()); break;
      case Compare::MOD: r = Cmp(kv.mod_revision(), c.mod_revision()); break;
      case Compare::LEASE: r = Cmp(kv.lease(), c.lease()); break;
      case Compare::VALUE: r = kv.value() < c.value() ? -1 : kv.value() > c.value() ? 1 : 0; break;
      default: break;
    }
    switch (c.result()) {
      case Compare::EQUAL: return r == 0;
      case Compare::NOT_EQUAL: return r != 0;
      case Compare::GREATER: return r > 0;
      case Compare::LESS: return r < 0;
      default: return true;
    }
  }
  bool Eval(const Compare& c) const {
    auto rr = m_->Range(c.key(), c.range_end(), 0, 0, false);
    if (rr.kvs.empty()) return c.target() != Compare::VALUE && Holds(c, mvccpb::KeyValue());
    for (const auto& kv : rr.kvs) {
      if (!Holds(c, kv)) return false;
    }
    return true;
  }
  void ToPath(const TxnRequest& r, std::vector<bool>* path) const {
    bool ok = true;
    for (const auto& c : r.compare()) ok = ok && Eval(c);
    path->push_back(ok);
    for (const auto& op : ok ? r.success() : r.failure()) {
      if (op.has_request_txn()) ToPath(op.request_txn(), path);
    }
  }
  std::string Check(const TxnRequest& r, const std::vector<bool>& path, size_t* pos) const {
    const bool ok = path[(*pos)++];
    for (const auto& op : ok ? r.success() : r.failure()) {
      if (op.has_request_put() && op.request_put().lease() != 0 &&
          op.request_put().lease() != 100 && op.request_put().lease() != 200) {
        return "lease";
      }
      if (op.has_request_range()) {
        const int64_t rev = op.request_range().revision();
        if (rev > m_->rev()) return "future";
        if (rev > 0 && rev < m_->compact_rev()) return "compacted";
      }
      if (op.has_request_txn()) {
        std::string e = Check(op.request_txn(), path, pos);
        if (!e.empty()) return e;
      }
    }
    return "";
  }
  void Apply(const TxnRequest& r, const std::vector<bool>& path, size_t* pos, TxnResponse* resp) {
    const bool ok = path[(*pos)++];
    resp->set_succeeded(ok);
    resp->mutable_header();
    for (const auto& op : ok ? r.success() : r.failure()) {
      auto* out = resp->add_responses();
      if (op.has_request_put()) {
        const auto& p = op.request_put();
        auto* pr = out->mutable_response_put();
        auto prev = m_->Get(p.key());
        if (p.prev_kv() && prev) *pr->mutable_prev_kv() = *prev;
        pr->mutable_header()->set_revision(m_->Put(p.key(), p.value(), p.lease()).mod_revision());
      } else if (op.has_request_delete_range()) {
        const auto& d = op.request_delete_range();
        auto* dr = out->mutable_response_delete_range();
        auto gone = m_->DeleteRange(d.key(), d.range_end());
        dr->set_deleted(static_cast<int64_t>(gone.size()));
        if (d.prev_kv()) {
          for (const auto& kv : gone) *dr->add_prev_kvs() = kv;
        }
        dr->mutable_header()->set_revision(m_->RevAfter());
      } else if (op.has_request_range()) {
        const auto& g = op.request_range();
        auto* rr = out->mutable_response_range();
        auto got = m_->Range(g.key(), g.range_end(), 0, g.revision(), g.count_only());
        rr->mutable_header()->set_revision(got.rev);
        rr->set_count(got.count);
        if (g.limit() > 0 && static_cast<int64_t>(got.kvs.size()) > g.limit()) {
          got.kvs.resize(g.limit());
          rr->set_more(true);
        }
        for (auto& kv : got.kvs) {
          if (g.keys_only()) kv.clear_value();
          *rr->add_kvs() = kv;
        }
      } else if (op.has_request_txn()) {
        Apply(op.request_txn(), path, pos, out->mutable_response_txn());
      }
    }
  }

  KvModel* m_;
};

Compare RandomCompare(std::mt19937_64& rng, int64_t rev) {
  const auto target = static_cast<Compare::CompareTarget>(rng() % 5);
  const auto result = static_cast<Compare::CompareResult>(rng() % 4);
  const std::string key = Key(rng);
  const std::string end = rng() % 4 == 0 ? End(rng, key) : "";
  int64_t n = static_cast<int64_t>(rng() % static_cast<uint64_t>(rev + 2));
  if (target == Compare::LEASE) n = (rng() % 2) ? 100 : 0;
  if (target == Compare::VERSION) n = static_cast<int64_t>(rng() % 4);
  return MakeCompare(key, target, result, n, Value(rng), end);
}

void RandomOps(std::mt19937_64& rng, const KvModel& m, int depth,
               google::protobuf::RepeatedPtrField<RequestOp>* ops);

TxnRequest RandomTxn(std::mt19937_64& rng, const KvModel& m, int depth) {
  TxnRequest t;
  const int compares = static_cast<int>(rng() % 3);
  for (int i = 0; i < compares; ++i) *t.add_compare() = RandomCompare(rng, m.rev());
  RandomOps(rng, m, depth, t.mutable_success());
  RandomOps(rng, m, depth, t.mutable_failure());
  return t;
}

void RandomOps(std::mt19937_64& rng, const KvModel& m, int depth,
               google::protobuf::RepeatedPtrField<RequestOp>* ops) {
  const int n = static_cast<int>(rng() % 4);
  for (int i = 0; i < n; ++i) {
    const int what = static_cast<int>(rng() % (depth < 2 ? 4 : 3));
    const std::string key = Key(rng);
    if (what == 0) {
      int64_t lease = 0;
      if (rng() % 4 == 0) lease = rng() % 8 == 0 ? 999 : 100;
      RequestOp op = OpPut(key, Value(rng), lease);
      op.mutable_request_put()->set_prev_kv(rng() % 2 == 0);
      *ops->Add() = op;
    } else if (what == 1) {
      RequestOp op = OpDelete(key, End(rng, key));
      op.mutable_request_delete_range()->set_prev_kv(rng() % 2 == 0);
      *ops->Add() = op;
    } else if (what == 2) {
      RequestOp op = OpRange(key, End(rng, key));
      auto* g = op.mutable_request_range();
      if (rng() % 3 == 0) g->set_limit(1 + static_cast<int64_t>(rng() % 2));
      g->set_keys_only(rng() % 5 == 0);
      g->set_count_only(rng() % 6 == 0);
      if (rng() % 4 == 0) {
        const int64_t lo = std::max<int64_t>(1, m.compact_rev() - 1);
        g->set_revision(lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(m.rev() + 2 - lo)));
      }
      *ops->Add() = op;
    } else {
      *ops->Add() = OpTxn(RandomTxn(rng, m, depth + 1));
    }
  }
}

std::string ErrorKind(const absl::Status& s) {
  if (storage::IsFutureRev(s)) return "future";
  if (storage::IsCompacted(s)) return "compacted";
  if (s.code() == absl::StatusCode::kNotFound && base::IsError(s, base::ErrorKind::kLeaseNotFound)) {
    return "lease";
  }
  return s.ToString();
}

}  // namespace

TEST_CASE_METHOD(ApplierFixture, "Txn matches the etcd reference on random nested txns", "[applier][txn][property]") {
  for (uint64_t seed : {5ULL, 6ULL, 7ULL}) {
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    // A fresh store per seed.
    store_.reset();
    std::filesystem::remove_all(dir_.Sub("db"));
    store_ = OpenStore(dir_.Sub("db"));
    index_ = 0;
    KvModel model;
    Reference ref(&model);
    int applied = 0, rejected = 0;
    for (int step = 0; step < 600; ++step) {
      INFO("step " << step << " rev " << model.rev());
      if (rng() % 20 == 0 && model.rev() > model.compact_rev() + 1) {
        const int64_t c = model.rev() - static_cast<int64_t>(rng() % 3);
        if (model.Compact(c) == ReadError::kNone) REQUIRE(Apply(WrapCompact(c)).ok());
        continue;
      }
      TxnRequest t = RandomTxn(rng, model, 0);
      if (!server::CheckTxn(t, 128).ok()) {
        ++rejected;
        continue;
      }
      INFO("txn " << t.ShortDebugString());
      TxnResponse want;
      const std::string want_err = ref.Txn(t, &want);
      auto got = Apply(Wrap(t));
      if (!want_err.empty()) {
        REQUIRE_FALSE(got.ok());
        REQUIRE(ErrorKind(got.status()) == want_err);
      } else {
        INFO("error " << got.status().ToString());
        REQUIRE(got.ok());
        ++applied;
        REQUIRE(got->txn().ShortDebugString() == want.ShortDebugString());
      }
      REQUIRE(store_->Rev() == model.rev());
      // The read-only view of the same state agrees too.
      if (step % 50 == 0) {
        auto all = Read(MakeRange(std::string(1, '\0'), std::string(1, '\0')));
        auto want_all = model.Range(std::string(1, '\0'), std::string(1, '\0'), 0, 0, false);
        std::vector<mvccpb::KeyValue> got_all(all.kvs().begin(), all.kvs().end());
        REQUIRE(KvsStr(got_all) == KvsStr(want_all.kvs));
      }
    }
    INFO("applied " << applied << " rejected by CheckTxn " << rejected);
    CHECK(applied > 200);
  }
}
