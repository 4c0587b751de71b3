// Revision: etcd's (main, sub) logical clock of the key space.
//
// main grows by one for every request that changes the key space; sub counts
// the changes inside that request (a txn touching three keys writes subs 0..2).
#pragma once

#include <compare>
#include <cstdint>

namespace storage {

struct Revision {
  int64_t main = 0;
  int64_t sub = 0;
  auto operator<=>(const Revision&) const = default;
};

}  // namespace storage
