// The lessor against a model: random grants (chosen ids, duplicates, TTLs
// below the minimum and above the maximum), revokes, puts with and without
// leases, ignore_lease puts, deletes and checkpoints, applied through the
// Applier as the apply loop does. After every step the lessor, the store's
// attachment index and a lessor reloaded from the store agree with the
// model; a revoke deletes exactly the model's keys, in one revision. Expiry
// on the primary follows the model's deadlines, on a ManualClock (no test
// waits for real time).
#include <map>
#include <random>
#include <set>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "base/errors.h"
#include "server/state/errors.h"
#include "server/state/kv_applier.h"
#include "server/state/lessor.h"
#include "tests/unit/store_util.h"
#include "tests/common/temp_dir.h"

namespace ketcd_test {
namespace {

// A store with a lessor (minimum TTL 2 s, promotion extension 1 s) on a
// manual clock, and the core applier wired to it, as in a member.
struct LessorFixture {
  static server::Lessor::Options Opts() {
    server::Lessor::Options o;
    o.min_ttl = 2;
    o.extend = absl::Seconds(1);
    return o;
  }
  TempDir tmp;
  std::unique_ptr<storage::MvccStore> store = OpenStore(tmp.Sub("db"));
  server::Lessor::Options opts = Opts();
  base::ManualClock clock{absl::FromUnixSeconds(1000000)};
  server::Lessor lessor{store.get(), clock, opts};
  server::KvApplier applier{[this](int64_t id) { return lessor.Exists(id); }};
  LessorFixture() {
    REQUIRE(lessor.Reload().ok());
    applier.SetLessor(&lessor);
  }
};

}  // namespace

TEST_CASE("the lessor matches a model of leases and attached keys", "[lease]") {
  const auto seed = GENERATE(1, 2, 3);
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  LessorFixture f;
  auto& store = f.store;
  auto& lessor = f.lessor;
  auto& applier = f.applier;
  const auto& lo = f.opts;

  std::map<int64_t, int64_t> model_ttl;               // lease -> granted TTL
  std::map<std::string, int64_t> model_key_lease;     // live key -> lease (0 = none)
  uint64_t applied = 0;
  auto apply = [&](const serverpb::InternalRequest& req) {
    auto wb = store->Write();
    auto r = applier.ApplyEntry(*wb, req);
    REQUIRE(wb->Commit(++applied, false).ok());
    return r;
  };
  const std::vector<std::string> keys = {"a", "b", "c", "d", "e"};
  for (int step = 0; step < 600; ++step) {
    INFO("step " << step);
    serverpb::InternalRequest req;
    const int op = pick(100);
    if (op < 20) {
      const int64_t id = 1 + pick(6);
      const int64_t ttl = pick(10) == 0 ? server::kMaxLeaseTtl + 1 : pick(20);
      req.mutable_lease_grant()->set_id(id);
      req.mutable_lease_grant()->set_ttl(ttl);
      auto r = apply(req);
      if (ttl > server::kMaxLeaseTtl) {
        CHECK(absl::IsOutOfRange(r.status()));
      } else if (model_ttl.count(id)) {
        CHECK(absl::IsFailedPrecondition(r.status()));
      } else {
        REQUIRE(r.ok());
        CHECK(r->lease_grant().ttl() == std::max<int64_t>(ttl, 2));
        model_ttl[id] = std::max<int64_t>(ttl, 2);
      }
    } else if (op < 30) {
      const int64_t id = 1 + pick(6);
      req.mutable_lease_revoke()->set_id(id);
      const int64_t rev_before = store->Rev();
      auto r = apply(req);
      if (!model_ttl.count(id)) {
        CHECK(absl::IsNotFound(r.status()));
        continue;
      }
      REQUIRE(r.ok());
      int deleted = 0;
      for (auto it = model_key_lease.begin(); it != model_key_lease.end();) {
        if (it->second == id) {
          it = model_key_lease.erase(it);
          ++deleted;
        } else {
          ++it;
        }
      }
      CHECK(store->Rev() == rev_before + (deleted > 0 ? 1 : 0));  // one revision for all
      model_ttl.erase(id);
    } else if (op < 75) {
      const std::string& k = keys[pick(static_cast<int>(keys.size()))];
      auto* put = req.mutable_put();
      put->set_key(k);
      put->set_value("v" + std::to_string(step));
      const bool ignore = pick(5) == 0;
      const int64_t lease = pick(3) == 0 ? 0 : 1 + pick(7);
      if (ignore) {
        put->set_ignore_lease(true);
      } else {
        put->set_lease(lease);
      }
      auto r = apply(req);
      if (ignore) {
        if (!model_key_lease.count(k)) {
          CHECK_FALSE(r.ok());
        } else {
          REQUIRE(r.ok());  // keeps its lease
        }
      } else if (lease != 0 && !model_ttl.count(lease)) {
        CHECK(absl::IsNotFound(r.status()));
      } else {
        REQUIRE(r.ok());
        model_key_lease[k] = lease;
      }
    } else if (op < 85) {
      const std::string& k = keys[pick(static_cast<int>(keys.size()))];
      req.mutable_delete_range()->set_key(k);
      REQUIRE(apply(req).ok());
      model_key_lease.erase(k);
    } else {
      auto* cp = req.mutable_lease_checkpoint()->add_checkpoints();
      cp->set_id(1 + pick(6));
      cp->set_remaining_ttl(1 + pick(5));
      REQUIRE(apply(req).ok());
    }
    // The lessor, the attachment index and a reloaded lessor agree with the model.
    server::Lessor reloaded(store.get(), f.clock, lo);
    REQUIRE(reloaded.Reload().ok());
    for (int64_t id = 1; id <= 7; ++id) {
      CHECK(lessor.Exists(id) == model_ttl.count(id) > 0);
      CHECK(reloaded.Exists(id) == model_ttl.count(id) > 0);
      std::vector<std::string> want;
      for (const auto& [k, l] : model_key_lease) {
        if (l == id) want.push_back(k);
      }
      CHECK(store->LeaseKeys(id) == want);
    }
  }
}

TEST_CASE("only the primary expires leases, from its promotion or last renewal", "[lease]") {
  LessorFixture f;
  auto& store = f.store;
  auto& lessor = f.lessor;
  auto& applier = f.applier;
  const auto& lo = f.opts;
  uint64_t applied = 0;
  for (auto [id, ttl] : {std::pair<int64_t, int64_t>{1, 5}, {2, 10}, {3, 100}}) {
    serverpb::InternalRequest req;
    req.mutable_lease_grant()->set_id(id);
    req.mutable_lease_grant()->set_ttl(ttl);
    auto wb = store->Write();
    REQUIRE(applier.ApplyEntry(*wb, req).ok());
    REQUIRE(wb->Commit(++applied, false).ok());
  }
  const absl::Time t0 = absl::FromUnixSeconds(1000000);
  CHECK(lessor.TakeExpired(t0 + absl::Hours(1), absl::Seconds(7), 100).empty());  // a follower
  CHECK(absl::IsFailedPrecondition(lessor.Renew(1, t0).status()));
  CHECK(base::IsError(lessor.Renew(1, t0).status(), base::ErrorKind::kNotLeader));
  lessor.Promote(t0);
  // ttl + extend: lease 1 at t0+6s, lease 2 at t0+11s.
  CHECK(lessor.TakeExpired(t0 + absl::Seconds(5.9), absl::Seconds(7), 100).empty());
  CHECK(lessor.TakeExpired(t0 + absl::Seconds(6.1), absl::Seconds(7), 100) == std::vector<int64_t>{1});
  // Reported again only after the retry interval (its revoke may have failed).
  CHECK(lessor.TakeExpired(t0 + absl::Seconds(7), absl::Seconds(7), 100).empty());
  CHECK(*lessor.Renew(2, t0 + absl::Seconds(10)) == 10);  // now due at t0+20s
  CHECK(lessor.TakeExpired(t0 + absl::Seconds(13.2), absl::Seconds(7), 100) == std::vector<int64_t>{1});
  CHECK(lessor.TakeExpired(t0 + absl::Seconds(19.9), absl::Seconds(7), 100).empty());
  auto ttl = lessor.TimeToLive(3, false, t0 + absl::Seconds(0.5));
  REQUIRE(ttl.ok());
  CHECK(ttl->ttl() == 100);  // 100.5 s left, truncated
  CHECK(ttl->grantedttl() == 100);
  CHECK(lessor.TimeToLive(9, false, t0)->ttl() == -1);
  CHECK(*lessor.Renew(9, t0) == 0);
  // Lease 1 is past its deadline, its revocation not applied: a renewal waits
  // for it (retried), never answers "gone" for a lease a new leader may keep.
  CHECK(base::IsError(lessor.Renew(1, t0 + absl::Seconds(13.2)).status(),
                      base::ErrorKind::kLeaseExpiring));
  CHECK(absl::IsUnavailable(lessor.Renew(1, t0 + absl::Seconds(13.2)).status()));
  // A checkpointed remaining TTL is what a new primary starts from.
  {
    serverpb::InternalRequest req;
    auto* cp = req.mutable_lease_checkpoint()->add_checkpoints();
    cp->set_id(3);
    cp->set_remaining_ttl(30);
    auto wb = store->Write();
    REQUIRE(applier.ApplyEntry(*wb, req).ok());
    REQUIRE(wb->Commit(++applied, false).ok());
  }
  lessor.Demote();
  CHECK(lessor.TakeExpired(t0 + absl::Hours(1), absl::Seconds(7), 100).empty());
  server::Lessor next(store.get(), f.clock, lo);  // a new leader, from the store
  REQUIRE(next.Reload().ok());
  next.Promote(t0);
  // 1 and 2 from their full TTLs (t0+6s, t0+11s); 3 from its checkpoint (t0+31s).
  CHECK(next.TakeExpired(t0 + absl::Seconds(30.9), absl::Seconds(7), 100) == std::vector<int64_t>{1, 2});
  auto due = next.TakeExpired(t0 + absl::Seconds(31.1), absl::Seconds(7), 100);
  CHECK(std::count(due.begin(), due.end(), 3) == 1);
}

}  // namespace ketcd_test

namespace ketcd_test {

TEST_CASE("a lease granted or reloaded on the primary starts at the clock's now", "[lease]") {
  LessorFixture f;
  auto& lessor = f.lessor;
  uint64_t applied = 0;
  auto grant = [&](int64_t id, int64_t ttl) {
    serverpb::InternalRequest req;
    req.mutable_lease_grant()->set_id(id);
    req.mutable_lease_grant()->set_ttl(ttl);
    auto wb = f.store->Write();
    auto r = f.applier.ApplyEntry(*wb, req);
    REQUIRE(wb->Commit(++applied, false).ok());
    return r;
  };
  lessor.Promote(f.clock.Now());
  f.clock.Advance(absl::Seconds(100));
  REQUIRE(grant(1, 5).ok());
  const absl::Time granted = f.clock.Now();
  // Its full TTL from the grant, with no promotion extension.
  CHECK(lessor.TakeExpired(granted + absl::Seconds(4.9), absl::Seconds(7), 100).empty());
  CHECK(lessor.TakeExpired(granted + absl::Seconds(5.1), absl::Seconds(7), 100) ==
        std::vector<int64_t>{1});
  // A reload on the primary restarts every deadline from now plus the
  // extension, as a promotion does.
  f.clock.Advance(absl::Seconds(50));
  REQUIRE(lessor.Reload().ok());
  const absl::Time reloaded = f.clock.Now();
  CHECK(lessor.TakeExpired(reloaded + absl::Seconds(5.9), absl::Seconds(7), 100).empty());
  CHECK(lessor.TakeExpired(reloaded + absl::Seconds(6.1), absl::Seconds(7), 100) ==
        std::vector<int64_t>{1});
  // The lessor's refusals carry their kinds.
  CHECK(base::IsError(grant(1, 5).status(), base::ErrorKind::kLeaseExists));
  CHECK(base::IsError(grant(2, server::kMaxLeaseTtl + 1).status(), base::ErrorKind::kLeaseTtlTooLarge));
  CHECK(base::IsError(grant(0, 5).status(), base::ErrorKind::kLeaseNotFound));
}

}  // namespace ketcd_test
