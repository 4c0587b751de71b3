#include "server/state/backend_quota.h"

#include <algorithm>

namespace server {
namespace {

// etcd's estimates (etcdserver/quota.go): a key's metadata, a lease.
constexpr int64_t kKvOverhead = 256;
constexpr int64_t kLeaseOverhead = 64;
constexpr int64_t kSizeRefreshNanos = 100'000'000;

int64_t CostOfOps(const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) {
  int64_t cost = 0;
  for (const auto& op : ops) {
    // Only a txn's own puts count, not those of a nested txn (as etcd).
    if (op.has_request_put()) cost += BackendQuota::Cost(op.request_put());
  }
  return cost;
}

}  // namespace

BackendQuota::BackendQuota(const storage::MvccStore* store, int64_t quota_bytes, const base::Clock& clock)
    : store_(store), bytes_(quota_bytes == 0 ? kDefaultBytes : std::max<int64_t>(quota_bytes, 0)),
      clock_(clock) {}

int64_t BackendQuota::Cost(const etcdserverpb::PutRequest& r) {
  return kKvOverhead + static_cast<int64_t>(r.key().size() + r.value().size());
}

int64_t BackendQuota::Cost(const etcdserverpb::TxnRequest& r) {
  return std::max(CostOfOps(r.success()), CostOfOps(r.failure()));
}

int64_t BackendQuota::Cost(const etcdserverpb::LeaseGrantRequest&) { return kLeaseOverhead; }

bool BackendQuota::Available(int64_t cost) const {
  if (cost == 0 || bytes_ == 0) return true;
  return Size() + cost < bytes_;
}

int64_t BackendQuota::Size() const {
  const int64_t now = absl::ToUnixNanos(clock_.Now());
  const int64_t read_at = size_read_at_.load(std::memory_order_acquire);
  // A clock stepped back (now < read_at) would otherwise hold a stale size
  // until it caught up again: read it anew.
  if (now < read_at || now - read_at >= kSizeRefreshNanos) {
    size_.store(store_->DbSize(), std::memory_order_release);
    size_read_at_.store(now, std::memory_order_release);
  }
  return size_.load(std::memory_order_acquire);
}

}  // namespace server
