// server::Applier Txn: compares on every target and result, range compares,
// nesting, reads of the txn's own writes, checks before writes, and
// server::CheckTxn's etcd rules (duplicate keys, op limits, empty keys).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "base/errors.h"
#include "server/state/errors.h"
#include "server/edge/request_checks.h"
#include "storage/errors.h"
#include "tests/unit/applier_fixture.h"

namespace {

using namespace ketcd_test;

bool Expect(Compare::CompareResult result, int cmp) {
  switch (result) {
    case Compare::EQUAL: return cmp == 0;
    case Compare::NOT_EQUAL: return cmp != 0;
    case Compare::GREATER: return cmp > 0;
    case Compare::LESS: return cmp < 0;
    default: return true;
  }
}

TxnRequest Guarded(const Compare& c) {
  TxnRequest t;
  *t.add_compare() = c;
  *t.add_success() = OpPut("result", "then");
  *t.add_failure() = OpPut("result", "else");
  return t;
}

const Compare::CompareResult kResults[] = {Compare::EQUAL, Compare::NOT_EQUAL, Compare::GREATER,
                                           Compare::LESS};

}  // namespace

TEST_CASE_METHOD(ApplierFixture, "Txn compares every target with every result", "[applier][txn]") {
  Put("a", "m", 100);  // 2
  Put("b", "x");       // 3
  Put("a", "m", 100);  // 4: a is create 2, mod 4, version 2, lease 100, value "m"
  struct Case {
    Compare::CompareTarget target;
    int64_t actual;
    std::string actual_value;
  };
  const std::vector<Case> cases = {{Compare::VERSION, 2, ""}, {Compare::CREATE, 2, ""},
                                   {Compare::MOD, 4, ""},     {Compare::LEASE, 100, ""},
                                   {Compare::VALUE, 0, "m"}};
  for (const auto& c : cases) {
    for (int delta = -1; delta <= 1; ++delta) {
      for (auto result : kResults) {
        // The operand is below, equal to or above the actual value.
        const std::string value = delta < 0 ? "l" : delta == 0 ? "m" : "n";
        const Compare cmp = MakeCompare("a", c.target, result, c.actual + delta, value);
        const bool want = Expect(result, -delta);
        INFO("target " << c.target << " result " << result << " delta " << delta);
        const int64_t before = store_->Rev();
        auto resp = MustApply(Guarded(cmp)).txn();
        CHECK(resp.succeeded() == want);
        REQUIRE(resp.responses_size() == 1);
        CHECK(resp.responses(0).has_response_put());
        CHECK(resp.header().revision() == before + 1);
        CHECK(Get("result")->value() == (want ? "then" : "else"));
      }
    }
  }
  SECTION("a missing key compares as an empty KeyValue, except VALUE which always fails") {
    for (auto result : kResults) {
      INFO("result " << result);
      for (auto target : {Compare::VERSION, Compare::CREATE, Compare::MOD, Compare::LEASE}) {
        const bool want = Expect(result, 0);  // 0 (missing) vs operand 0
        CHECK(MustApply(Guarded(MakeCompare("zz", target, result, 0))).txn().succeeded() == want);
      }
      CHECK(MustApply(Guarded(MakeCompare("zz", Compare::LEASE, Compare::LESS, 1))).txn().succeeded());
      CHECK_FALSE(MustApply(Guarded(MakeCompare("zz", Compare::VALUE, result, 0, ""))).txn().succeeded());
      CHECK_FALSE(MustApply(Guarded(MakeCompare("zz", Compare::VALUE, result, 0, "x"))).txn().succeeded());
    }
  }
  SECTION("all compares must hold") {
    TxnRequest t = Guarded(MakeCompare("a", Compare::VALUE, Compare::EQUAL, 0, "m"));
    *t.add_compare() = MakeCompare("b", Compare::VALUE, Compare::EQUAL, 0, "not-x");
    CHECK_FALSE(MustApply(t).txn().succeeded());
    t.mutable_compare(1)->set_value("x");
    CHECK(MustApply(t).txn().succeeded());
  }
}

TEST_CASE_METHOD(ApplierFixture, "Txn compare over a range holds for every key in it", "[applier][txn]") {
  Put("p1", "a");
  Put("p2", "b");
  Put("p3", "c");
  Put("p3", "c");  // version 2
  Put("q", "z");
  CHECK(MustApply(Guarded(MakeCompare("p", Compare::VERSION, Compare::GREATER, 0, "", "q"))).txn().succeeded());
  CHECK_FALSE(MustApply(Guarded(MakeCompare("p", Compare::VERSION, Compare::EQUAL, 1, "", "q"))).txn().succeeded());
  CHECK(MustApply(Guarded(MakeCompare("p", Compare::VERSION, Compare::EQUAL, 1, "", "p3"))).txn().succeeded());
  CHECK(MustApply(Guarded(MakeCompare("p", Compare::VALUE, Compare::LESS, 0, "d", "q"))).txn().succeeded());
  CHECK_FALSE(MustApply(Guarded(MakeCompare("p", Compare::VALUE, Compare::LESS, 0, "c", "q"))).txn().succeeded());
  // "\0" = to the end: "q" and "result" come in too.
  CHECK_FALSE(MustApply(Guarded(MakeCompare("p", Compare::VALUE, Compare::LESS, 0, "d", std::string(1, '\0')))).txn().succeeded());
  // An empty range: the empty KeyValue for numbers, failure for VALUE.
  CHECK(MustApply(Guarded(MakeCompare("x", Compare::CREATE, Compare::EQUAL, 0, "", "y"))).txn().succeeded());
  CHECK_FALSE(MustApply(Guarded(MakeCompare("x", Compare::VALUE, Compare::NOT_EQUAL, 0, "v", "y"))).txn().succeeded());
}

TEST_CASE_METHOD(ApplierFixture, "Txn nesting, own writes and compares before the txn", "[applier][txn]") {
  Put("a", "1");  // 2

  TxnRequest inner;
  // Evaluated against the state before the outer txn: a is still "1".
  *inner.add_compare() = MakeCompare("a", Compare::VALUE, Compare::EQUAL, 0, "1");
  *inner.add_success() = OpPut("n", "yes");
  *inner.add_failure() = OpPut("n", "no");
  TxnRequest outer;
  *outer.add_compare() = MakeCompare("a", Compare::VERSION, Compare::EQUAL, 1);
  *outer.add_success() = OpPut("a", "2");
  *outer.add_success() = OpRange("a");
  *outer.add_success() = OpTxn(inner);
  *outer.add_success() = OpRange("n");
  *outer.add_failure() = OpPut("f", "1");
  REQUIRE(server::CheckTxn(outer, 128).ok());

  auto resp = MustApply(outer).txn();
  CHECK(resp.succeeded());
  CHECK(resp.header().revision() == 3);
  REQUIRE(resp.responses_size() == 4);
  CHECK(resp.responses(0).response_put().header().revision() == 3);
  const auto& read_a = resp.responses(1).response_range();
  REQUIRE(read_a.kvs_size() == 1);
  CHECK(KvStr(read_a.kvs(0)) == "{\"a\"=\"2\" c2 m3 v2 l0}");
  CHECK(read_a.header().revision() == 3);
  const auto& nested = resp.responses(2).response_txn();
  CHECK(nested.succeeded());
  REQUIRE(nested.responses_size() == 1);
  CHECK(nested.responses(0).has_response_put());
  const auto& read_n = resp.responses(3).response_range();
  REQUIRE(read_n.kvs_size() == 1);
  CHECK(KvStr(read_n.kvs(0)) == "{\"n\"=\"yes\" c3 m3 v1 l0}");
  // One revision for the whole txn.
  CHECK(store_->Rev() == 3);
  CHECK_FALSE(Get("f").has_value());

  SECTION("the failure branch with a nested txn, then/else putting the same key") {
    TxnRequest in2;
    *in2.add_compare() = MakeCompare("a", Compare::VALUE, Compare::EQUAL, 0, "2");
    *in2.add_success() = OpPut("k", "then");
    *in2.add_failure() = OpPut("k", "else");
    *in2.add_failure() = OpDelete("n");
    TxnRequest out2;
    *out2.add_compare() = MakeCompare("a", Compare::VALUE, Compare::EQUAL, 0, "nope");
    *out2.add_success() = OpPut("s", "1");
    *out2.add_failure() = OpTxn(in2);
    *out2.add_failure() = OpRange("k");
    REQUIRE(server::CheckTxn(out2, 128).ok());
    auto r2 = MustApply(out2).txn();
    CHECK_FALSE(r2.succeeded());
    REQUIRE(r2.responses_size() == 2);
    CHECK(r2.responses(0).response_txn().succeeded());
    CHECK(r2.responses(1).response_range().kvs(0).value() == "then");
    CHECK(Get("n").has_value());
    CHECK_FALSE(Get("s").has_value());
    CHECK(r2.header().revision() == 4);
  }
  SECTION("a read-only txn takes no revision") {
    TxnRequest ro;
    *ro.add_success() = OpRange("a");
    CHECK(server::IsTxnReadOnly(ro));
    CHECK_FALSE(server::IsTxnReadOnly(outer));
    auto r = MustApply(ro).txn();
    CHECK(r.header().revision() == 3);
    CHECK(store_->Rev() == 3);
    auto r2 = applier_.ReadTxn(*store_, ro);
    REQUIRE(r2.ok());
    CHECK(r2->responses(0).response_range().kvs(0).value() == "2");
    CHECK(r2->header().revision() == 3);
  }
  SECTION("a txn whose deletes find nothing takes no revision") {
    TxnRequest t;
    *t.add_success() = OpDelete("nothing-here");
    auto r = MustApply(t).txn();
    CHECK(r.header().revision() == 3);
    CHECK(store_->Rev() == 3);
  }
}

TEST_CASE_METHOD(ApplierFixture, "Txn checks its chosen path before writing anything", "[applier][txn]") {
  Put("a", "1");  // 2
  Put("a", "2");  // 3
  Put("b", "1");  // 4
  auto expect_untouched = [&] {
    CHECK(store_->Rev() == 4);
    CHECK_FALSE(Get("w").has_value());
  };
  SECTION("unknown lease") {
    TxnRequest t;
    *t.add_success() = OpPut("w", "1");
    *t.add_success() = OpPut("x", "1", 999);
    auto r = Apply(Wrap(t));
    CHECK(r.status().code() == absl::StatusCode::kNotFound);
    CHECK(r.status().message() == server::kErrLeaseNotFound);
    CHECK(base::IsError(r.status(), base::ErrorKind::kLeaseNotFound));
    expect_untouched();
  }
  SECTION("ignore_value of a missing key") {
    TxnRequest t;
    *t.add_success() = OpPut("w", "1");
    auto* p = t.add_success()->mutable_request_put();
    p->set_key("missing");
    p->set_ignore_value(true);
    auto r = Apply(Wrap(t));
    CHECK(r.status().message() == server::kErrKeyNotFound);
    CHECK(base::IsError(r.status(), base::ErrorKind::kKeyNotFound));
    expect_untouched();
  }
  SECTION("a range at a future revision") {
    TxnRequest t;
    *t.add_success() = OpPut("w", "1");
    *t.add_success() = OpRange("a");
    t.mutable_success(1)->mutable_request_range()->set_revision(5);  // the txn's own revision is still future
    CHECK(storage::IsFutureRev(Apply(Wrap(t)).status()));
    expect_untouched();
  }
  SECTION("a range at a compacted revision, only on the chosen path") {
    REQUIRE(Apply(WrapCompact(3)).ok());
    TxnRequest t;
    *t.add_compare() = MakeCompare("a", Compare::VALUE, Compare::EQUAL, 0, "2");
    *t.add_success() = OpPut("w", "1");
    *t.add_success() = OpRange("a");
    t.mutable_success(1)->mutable_request_range()->set_revision(2);
    *t.add_failure() = OpRange("a");
    CHECK(storage::IsCompacted(Apply(Wrap(t)).status()));
    expect_untouched();
    // At the compaction point itself the read works.
    t.mutable_success(1)->mutable_request_range()->set_revision(3);
    auto r = Apply(Wrap(t));
    REQUIRE(r.ok());
    CHECK(r->txn().responses(1).response_range().kvs(0).value() == "2");
    // The failure branch is not checked when success runs, and vice versa.
    t.mutable_compare(0)->set_value("other");
    t.mutable_failure(0)->mutable_request_range()->set_revision(1);
    CHECK(storage::IsCompacted(Apply(Wrap(t)).status()));
  }
}

TEST_CASE("CheckTxn follows etcd's rules", "[applier][txn][checks]") {
  auto dup = [](const TxnRequest& t) { return server::CheckTxn(t, 128).message() == server::kErrDuplicateKey; };
  SECTION("put + put of one key") {
    TxnRequest t;
    *t.add_success() = OpPut("a", "1");
    *t.add_success() = OpPut("a", "2");
    CHECK(dup(t));
    TxnRequest f;
    *f.add_failure() = OpPut("a", "1");
    *f.add_failure() = OpPut("a", "2");
    CHECK(dup(f));
    // One in success, one in failure: fine.
    TxnRequest ok;
    *ok.add_success() = OpPut("a", "1");
    *ok.add_failure() = OpPut("a", "2");
    CHECK(server::CheckTxn(ok, 128).ok());
  }
  SECTION("put inside a delete range, either order") {
    TxnRequest t;
    *t.add_success() = OpDelete("a", "c");
    *t.add_success() = OpPut("b", "1");
    CHECK(dup(t));
    TxnRequest u;
    *u.add_success() = OpPut("b", "1");
    *u.add_success() = OpDelete("a", "c");
    CHECK(dup(u));
    TxnRequest point;
    *point.add_success() = OpDelete("b");
    *point.add_success() = OpPut("b", "1");
    CHECK(dup(point));
    TxnRequest outside;
    *outside.add_success() = OpDelete("a", "c");
    *outside.add_success() = OpPut("c", "1");
    *outside.add_success() = OpDelete("x");
    *outside.add_success() = OpPut("x\x01", "1");
    *outside.add_success() = OpPut(std::string("x\0", 2), "1");
    CHECK(server::CheckTxn(outside, 128).ok());
    // Overlapping deletes are fine.
    TxnRequest dels;
    *dels.add_success() = OpDelete("a", "c");
    *dels.add_success() = OpDelete("b", "d");
    CHECK(server::CheckTxn(dels, 128).ok());
    // etcd quirk kept on purpose: a "\0" range end is the string "\x00" to
    // etcd's interval tree, an empty interval, so it overlaps no put.
    TxnRequest from_key;
    *from_key.add_success() = OpDelete("a", std::string(1, '\0'));
    *from_key.add_success() = OpPut("b", "1");
    CHECK(server::CheckTxn(from_key, 128).ok());
  }
  SECTION("nested txns") {
    TxnRequest inner;
    *inner.add_success() = OpPut("k", "then");
    *inner.add_failure() = OpPut("k", "else");
    TxnRequest ok;
    *ok.add_success() = OpTxn(inner);
    CHECK(server::CheckTxn(ok, 128).ok());

    TxnRequest clash = ok;
    *clash.add_success() = OpPut("k", "outer");
    CHECK(dup(clash));

    TxnRequest del_outer;
    *del_outer.add_success() = OpDelete("a", "z");
    *del_outer.add_success() = OpTxn(inner);
    CHECK(dup(del_outer));

    TxnRequest inner_del;
    *inner_del.add_success() = OpDelete("a", "z");
    TxnRequest del_inner;
    *del_inner.add_success() = OpTxn(inner_del);
    *del_inner.add_success() = OpPut("m", "1");
    CHECK(dup(del_inner));

    TxnRequest two;
    *two.add_success() = OpTxn(inner);
    *two.add_success() = OpTxn(inner);
    CHECK(dup(two));
  }
  SECTION("too many operations") {
    TxnRequest t;
    for (int i = 0; i < 4; ++i) *t.add_success() = OpPut("k" + std::to_string(i), "v");
    CHECK(server::CheckTxn(t, 4).ok());
    *t.add_success() = OpPut("k9", "v");
    CHECK(server::CheckTxn(t, 4).message() == server::kErrTooManyOps);
    CHECK(server::CheckTxn(t, 4).code() == absl::StatusCode::kInvalidArgument);
    TxnRequest c;
    for (int i = 0; i < 5; ++i) *c.add_compare() = MakeCompare("a", Compare::VERSION, Compare::EQUAL, 0);
    CHECK(server::CheckTxn(c, 4).message() == server::kErrTooManyOps);
    TxnRequest f;
    for (int i = 0; i < 5; ++i) *f.add_failure() = OpRange("a");
    CHECK(server::CheckTxn(f, 4).message() == server::kErrTooManyOps);
    // A nested txn gets what its parent leaves: 4 - 3 = 1 op.
    TxnRequest inner;
    *inner.add_success() = OpRange("x");
    *inner.add_success() = OpRange("y");
    TxnRequest outer;
    *outer.add_success() = OpRange("a");
    *outer.add_success() = OpRange("b");
    *outer.add_success() = OpTxn(inner);
    CHECK(server::CheckTxn(outer, 4).message() == server::kErrTooManyOps);
    CHECK(server::CheckTxn(outer, 5).ok());
  }
  SECTION("empty keys and empty ops") {
    TxnRequest t;
    *t.add_compare() = MakeCompare("", Compare::VERSION, Compare::EQUAL, 0);
    CHECK(server::CheckTxn(t, 128).message() == server::kErrEmptyKey);
    for (int kind = 0; kind < 3; ++kind) {
      TxnRequest u;
      *u.add_success() = kind == 0 ? OpPut("", "v") : kind == 1 ? OpRange("") : OpDelete("");
      CHECK(server::CheckTxn(u, 128).message() == server::kErrEmptyKey);
    }
    TxnRequest nested_empty;
    TxnRequest inner;
    *inner.add_failure() = OpPut("", "v");
    *nested_empty.add_success() = OpTxn(inner);
    CHECK(server::CheckTxn(nested_empty, 128).message() == server::kErrEmptyKey);
    TxnRequest blank;
    blank.add_success();
    CHECK(server::CheckTxn(blank, 128).message() == server::kErrKeyNotFound);
    TxnRequest bad_put;
    *bad_put.add_success() = OpPut("a", "v");
    bad_put.mutable_success(0)->mutable_request_put()->set_ignore_value(true);
    CHECK(server::CheckTxn(bad_put, 128).message() == server::kErrValueProvided);
  }
}
