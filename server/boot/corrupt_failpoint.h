// Test-only failpoint, on only when main() sees KETCD_TEST_FAILPOINTS=1 and
// KETCD_TEST_CORRUPT_PUTS=1 (Config::corrupt_puts_for_test): the innermost
// applier decorator of this member stores every Put with the bytes of its
// value inverted, as a member whose disk or memory flipped bits would. Its
// revisions stay the cluster's, its values do not, so its HashKV differs
// from its peers' at the same revision: what the corruption checks
// (server/replication/corruption_check.h) exist to find.
// Thread-safety: as Applier.
#pragma once

#include "server/state/applier.h"

namespace server {

class CorruptPutsForTest final : public ApplierDecorator {
 public:
  using ApplierDecorator::ApplierDecorator;
  absl::StatusOr<etcdserverpb::PutResponse> Put(storage::WriteBatch& batch,
                                                const etcdserverpb::PutRequest& r) const override {
    etcdserverpb::PutRequest flipped = r;
    for (char& c : *flipped.mutable_value()) c = static_cast<char>(~c);
    return next().Put(batch, flipped);
  }
};

}  // namespace server
