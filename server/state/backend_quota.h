// BackendQuota: etcd's backend space quota (--quota-backend-bytes). A
// request that adds data has a cost (etcd's estimate: 256 bytes of key
// metadata plus key and value per put, the larger branch of a txn, 64 bytes
// per lease grant); it fits while the store's size (MvccStore::DbSize, what
// Maintenance.Status reports as dbSize) plus its cost stays below the quota.
// Deletes, reads, compaction and revokes cost nothing and always fit.
//
// The size is read at most every 100 ms of the injected clock (RocksDB's
// size properties take its mutex; etcd reads an atomic), so a burst of
// writes may pass the quota by what arrives within that window, as
// concurrent writes pass etcd's check between its size updates.
// Ownership: borrows the store and the clock. Thread-safety: thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/clock.h"
#include "etcdserverpb/rpc.pb.h"
#include "storage/mvcc_store.h"

namespace server {

class BackendQuota {
 public:
  // etcd's DefaultQuotaBytes: 2 GiB.
  static constexpr int64_t kDefaultBytes = int64_t{2} * 1024 * 1024 * 1024;
  // `quota_bytes` as the flag gives it: 0 means kDefaultBytes; a negative
  // value disables the quota (every request fits), as in etcd.
  BackendQuota(const storage::MvccStore* store, int64_t quota_bytes, const base::Clock& clock);

  // The quota in force (0 when disabled), etcd_server_quota_backend_bytes.
  int64_t bytes() const { return bytes_; }

  static int64_t Cost(const etcdserverpb::PutRequest& r);
  static int64_t Cost(const etcdserverpb::TxnRequest& r);
  static int64_t Cost(const etcdserverpb::LeaseGrantRequest& r);

  // Whether a request of `cost` fits (a zero cost always fits).
  bool Available(int64_t cost) const;

 private:
  int64_t Size() const;

  const storage::MvccStore* store_;
  const int64_t bytes_;
  const base::Clock& clock_;
  mutable std::atomic<int64_t> size_{0};
  mutable std::atomic<int64_t> size_read_at_{0};  // unix nanos; 0: never read
};

}  // namespace server
