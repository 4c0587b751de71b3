// HashKv: ketcd's hash of the key space as of a revision, what
// Maintenance.HashKV answers and what members compare to find a corrupted
// store (--experimental-initial-corrupt-check, --experimental-corrupt-check-time).
//
// A CRC-32C of every live key's key, value, create/mod revision, version
// and lease, in key order, then the compaction revision. It depends only on
// the applied history, never on how far background compaction got, so
// members that applied the same log hash equal at the same revision. (Not
// comparable with etcd's own hash, which covers its bbolt layout.)
// Thread-safety: reads through its own view of the store; any thread.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "storage/mvcc_store.h"

namespace server {

struct KvHash {
  uint32_t hash = 0;
  int64_t hash_rev = 0;     // the revision hashed
  int64_t rev = 0;          // the store's revision when it was read
  int64_t compact_rev = 0;  // the store's compaction revision then
};

// The hash at `rev` (0: the store's current revision). FutureRevError past
// the store's revision, CompactedError at or below its compaction (etcd's
// HashByRev).
[[nodiscard]] absl::StatusOr<KvHash> HashKv(const storage::MvccStore& store, int64_t rev);

}  // namespace server
