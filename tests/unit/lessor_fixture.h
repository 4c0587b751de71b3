// LessorFixture: a store, a manual clock, a Lessor on them and the applier
// that grants leases through it, for the tests of what runs beside the
// lessor (the expirer, the peer lease calls).
#pragma once

#include <cstdint>
#include <memory>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "server/state/kv_applier.h"
#include "server/state/lessor.h"
#include "tests/common/temp_dir.h"
#include "tests/unit/store_util.h"

namespace ketcd_test {

struct LessorFixture {
  explicit LessorFixture(server::Lessor::Options opts = {})
      : store(OpenStore(tmp.Sub("db"))), lessor(store.get(), clock, opts) {
    REQUIRE(lessor.Reload().ok());
    applier.SetLessor(&lessor);
  }

  // Applies a LeaseGrant entry at raft index `index`.
  void Grant(int64_t id, int64_t ttl, uint64_t index = 1) {
    serverpb::InternalRequest grant;
    grant.mutable_lease_grant()->set_id(id);
    grant.mutable_lease_grant()->set_ttl(ttl);
    auto wb = store->Write();
    REQUIRE(applier.ApplyEntry(*wb, grant).ok());
    REQUIRE(wb->Commit(index, false).ok());
  }

  TempDir tmp;
  std::unique_ptr<storage::MvccStore> store;
  base::ManualClock clock{absl::FromUnixSeconds(1000000)};
  server::Lessor lessor;
  server::KvApplier applier{[this](int64_t id) { return lessor.Exists(id); }};
};

}  // namespace ketcd_test
