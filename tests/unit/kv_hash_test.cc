// HashKv (Maintenance.HashKV and the peers' hash answers): which revisions
// it hashes and which it refuses, as etcd 3.4's HashByRev.
#include <catch2/catch.hpp>

#include "server/state/kv_hash.h"
#include "storage/errors.h"
#include "tests/unit/applier_fixture.h"

namespace ketcd_test {
namespace {

TEST_CASE_METHOD(ApplierFixture, "HashKv refuses the compaction revision itself, as etcd's HashByRev",
                 "[kv_hash][corruption]") {
  Put("a", "1");
  const int64_t r = Put("b", "2");
  Put("c", "3");
  const int64_t top = Put("a", "4");
  auto before = server::HashKv(*store_, r);
  REQUIRE(before.ok());
  CHECK(before->hash_rev == r);
  REQUIRE(Apply(WrapCompact(r)).ok());

  // rev > 0 && rev <= compactRev: ErrCompacted, the revision itself included.
  CHECK(storage::IsCompacted(server::HashKv(*store_, r).status()));
  CHECK(storage::IsCompacted(server::HashKv(*store_, r - 1).status()));
  // Above it: hashed, with the compaction revision reported.
  auto above = server::HashKv(*store_, r + 1);
  INFO(above.status().ToString());
  REQUIRE(above.ok());
  CHECK(above->hash_rev == r + 1);
  CHECK(above->compact_rev == r);
  CHECK(above->rev == top);
  // 0: the current revision; past it: ErrFutureRev.
  auto now = server::HashKv(*store_, 0);
  REQUIRE(now.ok());
  CHECK(now->hash_rev == top);
  CHECK(storage::IsFutureRev(server::HashKv(*store_, top + 1).status()));
}

}  // namespace
}  // namespace ketcd_test
