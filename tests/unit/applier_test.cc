// server::Applier: etcd's Range options, Put flags, DeleteRange and Range
// responses, checked against KvModel and against etcd's documented rules
// (etcdserver/apply.go in etcd 3.4/3.5).
#include <algorithm>
#include <random>
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

// The value a kv is sorted by, as a string that compares the same way
// (numbers are zero-padded; revisions and versions are never negative here).
std::string SortKey(const mvccpb::KeyValue& kv, RangeRequest::SortTarget target) {
  auto num = [](int64_t v) {
    std::string s = std::to_string(v);
    return std::string(20 - s.size(), '0') + s;
  };
  switch (target) {
    case RangeRequest::VERSION: return num(kv.version());
    case RangeRequest::CREATE: return num(kv.create_revision());
    case RangeRequest::MOD: return num(kv.mod_revision());
    case RangeRequest::VALUE: return kv.value();
    default: return kv.key();
  }
}

std::vector<std::string> Projection(const std::vector<mvccpb::KeyValue>& kvs,
                                    RangeRequest::SortTarget target) {
  std::vector<std::string> out;
  for (const auto& kv : kvs) out.push_back(Esc(SortKey(kv, target)));
  return out;
}

}  // namespace

TEST_CASE_METHOD(ApplierFixture, "Range sort, filters and limit follow etcd", "[applier][range]") {
  const uint64_t seed = 42;
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  KvModel model;
  const std::vector<std::string> values = {"x", "y", "z", "", std::string("\xff", 1)};
  // Keys outside [k, l) must never show up.
  for (const std::string& key : {std::string("j"), std::string("l")}) {
    model.Begin();
    model.Put(key, "out", 0);
    model.End();
    Put(key, "out");
  }
  for (int i = 0; i < 60; ++i) {
    const std::string key = "k" + std::to_string(rng() % 10);
    model.Begin();
    if (rng() % 5 == 0) {
      model.DeleteRange(key, "");
      MustApply(MakeDelete(key));
    } else {
      const std::string value = values[rng() % values.size()];
      const int64_t lease = (rng() % 3 == 0) ? 100 : 0;
      model.Put(key, value, lease);
      REQUIRE(Put(key, value, lease) == model.write_rev());
    }
    model.End();
  }
  REQUIRE(store_->Rev() == model.rev());
  const auto all = model.Range("k", "l", 0, 0, false).kvs;
  REQUIRE(all.size() >= 5);

  for (int target = RangeRequest::KEY; target <= RangeRequest::VALUE; ++target) {
    for (int order = RangeRequest::NONE; order <= RangeRequest::DESCEND; ++order) {
      for (int64_t limit : {0, 1, 3, 50}) {
        for (int filter = 0; filter < 6; ++filter) {
          RangeRequest r = MakeRange("k", "l");
          r.set_sort_target(static_cast<RangeRequest::SortTarget>(target));
          r.set_sort_order(static_cast<RangeRequest::SortOrder>(order));
          r.set_limit(limit);
          const int64_t pivot = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(model.rev()));
          if (filter == 1) r.set_min_mod_revision(pivot);
          if (filter == 2) r.set_max_mod_revision(pivot);
          if (filter == 3) r.set_min_create_revision(pivot);
          if (filter == 4) r.set_max_create_revision(pivot);
          if (filter == 5) {
            r.set_min_mod_revision(pivot / 2);
            r.set_max_mod_revision(pivot);
          }
          INFO("target " << target << " order " << order << " limit " << limit << " filter "
                         << filter << " pivot " << pivot);

          // etcd: with no sort order and no filter, only limit+1 keys are
          // fetched (in key order) before a non-KEY target sorts them.
          const bool post = order != RangeRequest::NONE || filter != 0;
          std::vector<mvccpb::KeyValue> want = all;
          if (!post && limit > 0 && static_cast<int64_t>(want.size()) > limit + 1) want.resize(limit + 1);
          auto drop = [&](auto pred) { want.erase(std::remove_if(want.begin(), want.end(), pred), want.end()); };
          if (r.max_mod_revision()) drop([&](const auto& kv) { return kv.mod_revision() > r.max_mod_revision(); });
          if (r.min_mod_revision()) drop([&](const auto& kv) { return kv.mod_revision() < r.min_mod_revision(); });
          if (r.max_create_revision()) drop([&](const auto& kv) { return kv.create_revision() > r.max_create_revision(); });
          if (r.min_create_revision()) drop([&](const auto& kv) { return kv.create_revision() < r.min_create_revision(); });
          const auto candidates = want;
          int eff = order;
          if (target != RangeRequest::KEY && eff == RangeRequest::NONE) eff = RangeRequest::ASCEND;
          const auto t = static_cast<RangeRequest::SortTarget>(target);
          if (eff == RangeRequest::ASCEND) {
            std::stable_sort(want.begin(), want.end(), [&](const auto& a, const auto& b) { return SortKey(a, t) < SortKey(b, t); });
          } else if (eff == RangeRequest::DESCEND) {
            std::stable_sort(want.begin(), want.end(), [&](const auto& a, const auto& b) { return SortKey(a, t) > SortKey(b, t); });
          }
          bool more = false;
          if (limit > 0 && static_cast<int64_t>(want.size()) > limit) {
            want.resize(limit);
            more = true;
          }

          auto got = Read(r);
          std::vector<mvccpb::KeyValue> got_kvs(got.kvs().begin(), got.kvs().end());
          INFO("got  " << KvsStr(got_kvs) << "\nwant " << KvsStr(want));
          CHECK(got.header().revision() == model.rev());
          CHECK(got.count() == static_cast<int64_t>(all.size()));
          CHECK(got.more() == more);
          REQUIRE(got_kvs.size() == want.size());
          // Ties in the sort target may come in any order (etcd's sort is
          // not stable), so compare the target sequence and membership.
          CHECK(Projection(got_kvs, t) == Projection(want, t));
          for (const auto& kv : got_kvs) {
            bool found = false;
            for (const auto& c : candidates) found = found || KvStr(c) == KvStr(kv);
            CHECK(found);
          }
          if (target == RangeRequest::KEY) CHECK(KvsStr(got_kvs) == KvsStr(want));
        }
      }
    }
  }
}

TEST_CASE_METHOD(ApplierFixture, "Range keys_only, count_only, limit and revision", "[applier][range]") {
  Put("a", "1");          // 2
  Put("b", "2", 100);     // 3
  Put("c", "3");          // 4
  Put("a", "11");         // 5

  RangeRequest r = MakeRange("a", std::string(1, '\0'));
  r.set_keys_only(true);
  auto got = Read(r);
  REQUIRE(got.kvs_size() == 3);
  for (const auto& kv : got.kvs()) {
    CHECK(kv.value().empty());
    CHECK(kv.mod_revision() > 0);
    CHECK(kv.version() > 0);
  }
  CHECK(got.kvs(0).version() == 2);
  CHECK(got.kvs(1).lease() == 100);

  r = MakeRange("a", "c");
  r.set_count_only(true);
  got = Read(r);
  CHECK(got.kvs_size() == 0);
  CHECK(got.count() == 2);
  CHECK_FALSE(got.more());

  r = MakeRange("a", "z");
  r.set_limit(2);
  got = Read(r);
  CHECK(got.kvs_size() == 2);
  CHECK(got.count() == 3);
  CHECK(got.more());
  r.set_limit(3);
  got = Read(r);
  CHECK(got.kvs_size() == 3);
  CHECK_FALSE(got.more());

  r = MakeRange("a");
  r.set_revision(4);
  got = Read(r);
  REQUIRE(got.kvs_size() == 1);
  CHECK(got.kvs(0).value() == "1");
  CHECK(got.header().revision() == 5);  // the header is the store's revision, not the read's
  r.set_revision(1);
  CHECK(Read(r).kvs_size() == 0);
  r.set_revision(6);
  auto future = applier_.ReadRange(*store_, r);
  CHECK(storage::IsFutureRev(future.status()));

  // end <= key is an empty range, not an error.
  got = Read(MakeRange("c", "a"));
  CHECK(got.count() == 0);
  // A prefix range.
  Put("ab", "x");
  got = Read(MakeRange("a", PrefixEnd("a")));
  CHECK(got.count() == 2);
}

TEST_CASE_METHOD(ApplierFixture, "Put prev_kv, ignore_value and ignore_lease", "[applier][put]") {
  REQUIRE(Put("a", "1", 100) == 2);

  auto p = MakePut("a", "2");
  p.set_prev_kv(true);
  auto resp = MustApply(p).put();
  CHECK(resp.header().revision() == 3);
  REQUIRE(resp.has_prev_kv());
  CHECK(KvStr(resp.prev_kv()) == "{\"a\"=\"1\" c2 m2 v1 l100}");
  CHECK(KvStr(*Get("a")) == "{\"a\"=\"2\" c2 m3 v2 l0}");  // a plain put drops the lease

  p = MakePut("a", "", 200);
  p.set_ignore_value(true);
  REQUIRE(server::CheckPut(p).ok());
  MustApply(p);
  CHECK(KvStr(*Get("a")) == "{\"a\"=\"2\" c2 m4 v3 l200}");

  p = MakePut("a", "3");
  p.set_ignore_lease(true);
  REQUIRE(server::CheckPut(p).ok());
  MustApply(p);
  CHECK(KvStr(*Get("a")) == "{\"a\"=\"3\" c2 m5 v4 l200}");

  p = MakePut("a", "");
  p.set_ignore_value(true);
  p.set_ignore_lease(true);
  p.set_prev_kv(true);
  resp = MustApply(p).put();
  CHECK(KvStr(resp.prev_kv()) == "{\"a\"=\"3\" c2 m5 v4 l200}");
  CHECK(KvStr(*Get("a")) == "{\"a\"=\"3\" c2 m6 v5 l200}");

  SECTION("prev_kv of a missing key is absent") {
    auto q = MakePut("new", "v");
    q.set_prev_kv(true);
    auto r = MustApply(q).put();
    CHECK_FALSE(r.has_prev_kv());
    CHECK(r.header().revision() == 7);
  }
  SECTION("ignore_value / ignore_lease on a missing key: key not found, nothing written") {
    for (int flag = 0; flag < 2; ++flag) {
      auto q = MakePut("missing", "");
      if (flag == 0) q.set_ignore_value(true); else q.set_ignore_lease(true);
      auto r = Apply(Wrap(q));
      CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
      CHECK(r.status().message() == server::kErrKeyNotFound);
      CHECK(base::IsError(r.status(), base::ErrorKind::kKeyNotFound));
      CHECK(store_->Rev() == 6);
      CHECK_FALSE(Get("missing").has_value());
    }
    // A deleted key is missing too.
    MustApply(MakeDelete("a"));
    auto q = MakePut("a", "");
    q.set_ignore_value(true);
    CHECK(Apply(Wrap(q)).status().message() == server::kErrKeyNotFound);
  }
  SECTION("an unknown lease is NotFound and writes nothing") {
    auto r = Apply(Wrap(MakePut("a", "9", 999)));
    CHECK(r.status().code() == absl::StatusCode::kNotFound);
    CHECK(r.status().message() == server::kErrLeaseNotFound);
    CHECK(base::IsError(r.status(), base::ErrorKind::kLeaseNotFound));
    CHECK(store_->Rev() == 6);
    CHECK(Get("a")->value() == "3");
    // ...and known leases work.
    CHECK(Put("a", "9", 200) == 7);
  }
}

TEST_CASE("Request checks at the edge", "[applier][checks]") {
  auto p = MakePut("a", "v");
  p.set_ignore_value(true);
  CHECK(server::CheckPut(p).message() == server::kErrValueProvided);
  p = MakePut("a", "", 5);
  p.set_ignore_lease(true);
  CHECK(server::CheckPut(p).message() == server::kErrLeaseProvided);
  CHECK(server::CheckPut(p).code() == absl::StatusCode::kInvalidArgument);
  CHECK(server::CheckPut(MakePut("", "v")).message() == server::kErrEmptyKey);
  CHECK(server::CheckRange(MakeRange("")).message() == server::kErrEmptyKey);
  CHECK(server::CheckDeleteRange(MakeDelete("")).message() == server::kErrEmptyKey);
  CHECK(server::CheckPut(MakePut("a", "v")).ok());
}

TEST_CASE_METHOD(ApplierFixture, "DeleteRange prev_kv, deleted count and revision", "[applier][delete]") {
  Put("a", "1");
  Put("b", "2", 100);
  Put("c", "3");
  Put("d", "4");  // rev 5

  auto resp = MustApply(MakeDelete("b", "d", /*prev_kv=*/true)).delete_range();
  CHECK(resp.deleted() == 2);
  CHECK(resp.header().revision() == 6);
  REQUIRE(resp.prev_kvs_size() == 2);
  CHECK(KvStr(resp.prev_kvs(0)) == "{\"b\"=\"2\" c3 m3 v1 l100}");
  CHECK(KvStr(resp.prev_kvs(1)) == "{\"c\"=\"3\" c4 m4 v1 l0}");
  CHECK(store_->Rev() == 6);

  // Nothing to delete: no new revision, header is the current one.
  resp = MustApply(MakeDelete("b", "d", true)).delete_range();
  CHECK(resp.deleted() == 0);
  CHECK(resp.prev_kvs_size() == 0);
  CHECK(resp.header().revision() == 6);
  CHECK(store_->Rev() == 6);
  resp = MustApply(MakeDelete("zz")).delete_range();
  CHECK(resp.deleted() == 0);
  CHECK(store_->Rev() == 6);

  // "\0" end = everything from the key on; no prev_kv asked = none returned.
  resp = MustApply(MakeDelete("c", std::string(1, '\0'))).delete_range();
  CHECK(resp.deleted() == 1);
  CHECK(resp.prev_kvs_size() == 0);
  CHECK(resp.header().revision() == 7);
  CHECK(Read(MakeRange("a", std::string(1, '\0'))).count() == 1);

  // The revisions in between still read.
  auto r = MakeRange("a", std::string(1, '\0'));
  r.set_revision(5);
  CHECK(Read(r).count() == 4);
  // Re-created keys start a new life: version 1, new create revision.
  REQUIRE(Put("b", "again") == 8);
  CHECK(KvStr(*Get("b")) == "{\"b\"=\"again\" c8 m8 v1 l0}");
}

namespace {

// A decorator as quota and auth will be: it guards puts under a prefix and
// leaves every other request to the applier it wraps.
class RefusePrefix final : public server::ApplierDecorator {
 public:
  RefusePrefix(const server::Applier* next, std::string prefix)
      : ApplierDecorator(next), prefix_(std::move(prefix)) {}
  absl::StatusOr<etcdserverpb::PutResponse> Put(storage::WriteBatch& batch,
                                                const etcdserverpb::PutRequest& r) const override {
    ++consulted;
    if (r.key().rfind(prefix_, 0) == 0) return absl::PermissionDeniedError("refused");
    return next().Put(batch, r);
  }
  mutable int consulted = 0;

 private:
  std::string prefix_;
};

}  // namespace

TEST_CASE_METHOD(ApplierFixture, "A decorator is consulted through the dispatcher; the rest passes through",
                 "[applier][decorator]") {
  RefusePrefix guard(&applier_, "locked/");
  const server::Applier& top = guard;
  auto apply = [&](const serverpb::InternalRequest& req) {
    auto wb = store_->Write();
    auto got = top.ApplyEntry(*wb, req);
    REQUIRE(wb->Commit(++index_, /*sync=*/false).ok());
    return got;
  };
  // Refused by the decorator: the request's own answer, nothing written.
  auto refused = apply(Wrap(MakePut("locked/a", "v")));
  CHECK(absl::IsPermissionDenied(refused.status()));
  CHECK(guard.consulted == 1);
  CHECK(store_->Rev() == 1);
  CHECK_FALSE(Get("locked/a").has_value());
  // Let through to the core.
  auto put = apply(Wrap(MakePut("open", "v")));
  REQUIRE(put.ok());
  CHECK(put->put().header().revision() == 2);
  CHECK(guard.consulted == 2);
  // Kinds it does not guard go straight to the core.
  TxnRequest t;
  *t.add_success() = OpPut("t", "1");
  auto txn = apply(Wrap(t));
  REQUIRE(txn.ok());
  CHECK(txn->txn().succeeded());
  auto del = apply(Wrap(MakeDelete("open")));
  REQUIRE(del.ok());
  CHECK(del->delete_range().deleted() == 1);
  REQUIRE(apply(WrapCompact(3)).ok());
  auto read = top.ReadRange(*store_, MakeRange("t"));
  REQUIRE(read.ok());
  CHECK(read->count() == 1);
  CHECK(guard.consulted == 2);
  CHECK(store_->Rev() == 4);
}
