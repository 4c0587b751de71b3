#include "server/state/lessor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "server/state/errors.h"
#include "serverpb/internal.pb.h"

namespace server {
absl::Status Lessor::Reload() {
  std::map<int64_t, Lease> loaded;
  for (const auto& [key, value] : store_->ListMeta(storage::kLeaseMetaPrefix)) {
    serverpb::LeaseRecord rec;
    if (!rec.ParseFromString(value)) {
      return absl::DataLossError("undecodable lease record " + key);
    }
    Lease l;
    l.ttl = std::max(rec.ttl(), opts_.min_ttl);
    l.remaining_ttl = rec.remaining_ttl();
    loaded[rec.id()] = l;
  }
  std::lock_guard<std::mutex> lock(mu_);
  leases_ = std::move(loaded);
  if (primary_) {
    const absl::Time now = clock_.Now();
    for (auto& [id, l] : leases_) l.expiry = DeadlineOnPromote(l, now);
  }
  return absl::OkStatus();
}

bool Lessor::Exists(int64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return leases_.count(id) > 0;
}

absl::StatusOr<etcdserverpb::LeaseGrantResponse> Lessor::ApplyGrant(
    storage::WriteBatch& batch, const etcdserverpb::LeaseGrantRequest& r) {
  if (r.id() == 0) return LeaseNotFoundError();
  if (r.ttl() > kMaxLeaseTtl) return LeaseTtlTooLargeError();
  std::lock_guard<std::mutex> lock(mu_);
  if (leases_.count(r.id())) return LeaseExistsError();
  Lease l;
  l.ttl = std::max(r.ttl(), opts_.min_ttl);
  serverpb::LeaseRecord rec;
  rec.set_id(r.id());
  rec.set_ttl(l.ttl);
  if (auto s = batch.PutMeta(storage::LeaseMetaKey(r.id()), rec.SerializeAsString()); !s.ok()) {
    return absl::InternalError(s.message());
  }
  if (primary_) l.expiry = clock_.Now() + absl::Seconds(l.ttl);
  leases_[r.id()] = l;
  counters_.granted.fetch_add(1, std::memory_order_relaxed);
  counters_.ttls.Observe(absl::Seconds(l.ttl));
  etcdserverpb::LeaseGrantResponse resp;
  resp.set_id(r.id());
  resp.set_ttl(l.ttl);
  resp.mutable_header()->set_revision(batch.rev());
  return resp;
}

absl::StatusOr<etcdserverpb::LeaseRevokeResponse> Lessor::ApplyRevoke(
    storage::WriteBatch& batch, const etcdserverpb::LeaseRevokeRequest& r) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!leases_.count(r.id())) return LeaseNotFoundError();
  }
  // Every attached key goes in one revision, in key order, as in etcd.
  auto keys = batch.LeaseKeys(r.id());
  if (!keys.ok()) return absl::InternalError(keys.status().message());
  auto txn = batch.BeginTxn();
  for (const auto& k : *keys) {
    auto del = txn.DeleteRange(storage::KeyRange::FromEtcd(k, ""));
    if (!del.ok()) return absl::InternalError(del.status().message());
  }
  batch.EndTxn(txn);
  if (auto s = batch.DeleteMeta(storage::LeaseMetaKey(r.id())); !s.ok()) return absl::InternalError(s.message());
  {
    std::lock_guard<std::mutex> lock(mu_);
    leases_.erase(r.id());
  }
  counters_.revoked.fetch_add(1, std::memory_order_relaxed);
  etcdserverpb::LeaseRevokeResponse resp;
  resp.mutable_header()->set_revision(batch.rev());
  return resp;
}

absl::Status Lessor::ApplyCheckpoint(storage::WriteBatch& batch,
                                     const etcdserverpb::LeaseCheckpointRequest& r) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& cp : r.checkpoints()) {
    auto it = leases_.find(cp.id());
    if (it == leases_.end()) continue;
    it->second.remaining_ttl = cp.remaining_ttl();
    serverpb::LeaseRecord rec;
    rec.set_id(cp.id());
    rec.set_ttl(it->second.ttl);
    rec.set_remaining_ttl(cp.remaining_ttl());
    if (auto s = batch.PutMeta(storage::LeaseMetaKey(cp.id()), rec.SerializeAsString()); !s.ok()) {
      return absl::InternalError(s.message());
    }
  }
  return absl::OkStatus();
}

absl::Time Lessor::DeadlineOnPromote(const Lease& l, absl::Time now) const {
  const int64_t left = l.remaining_ttl > 0 ? l.remaining_ttl : l.ttl;
  return now + opts_.extend + absl::Seconds(left);
}

void Lessor::Promote(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  primary_ = true;
  for (auto& [id, l] : leases_) {
    l.expiry = DeadlineOnPromote(l, now);
    l.next_report = absl::InfinitePast();
  }
}

void Lessor::Demote() {
  std::lock_guard<std::mutex> lock(mu_);
  primary_ = false;
  for (auto& [id, l] : leases_) l.expiry = absl::InfiniteFuture();
}

bool Lessor::primary() const {
  std::lock_guard<std::mutex> lock(mu_);
  return primary_;
}

absl::StatusOr<int64_t> Lessor::Renew(int64_t id, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!primary_) return NotLeaderError();
  auto it = leases_.find(id);
  if (it == leases_.end()) return 0;  // gone: etcd's keep-alive answers TTL 0
  // Past its deadline but not revoked: as etcd's lessor, the answer waits for
  // the revocation. "Gone" now would be wrong if this leader is deposed first
  // and the next one, extending every lease, keeps it alive.
  if (it->second.expiry <= now) return LeaseExpiringError();
  // A renewal restarts the full TTL; a checkpoint from before no longer
  // applies, and the replicated record is reset through raft.
  if (it->second.remaining_ttl > 0) it->second.reset_checkpoint = true;
  it->second.remaining_ttl = 0;
  it->second.expiry = now + absl::Seconds(it->second.ttl);
  counters_.renewed.fetch_add(1, std::memory_order_relaxed);
  return it->second.ttl;
}

absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> Lessor::TimeToLive(int64_t id, bool keys,
                                                                         absl::Time now) const {
  etcdserverpb::LeaseTimeToLiveResponse resp;
  resp.set_id(id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!primary_) return NotLeaderError();
    auto it = leases_.find(id);
    if (it == leases_.end()) {
      resp.set_ttl(-1);
      return resp;
    }
    // etcd truncates: a fresh 10 s lease shows 9.
    const double left = absl::ToDoubleSeconds(it->second.expiry - now);
    resp.set_ttl(std::max<int64_t>(0, static_cast<int64_t>(std::floor(left))));
    resp.set_grantedttl(it->second.ttl);
  }
  if (keys) {
    for (auto& k : store_->LeaseKeys(id)) resp.add_keys(std::move(k));
  }
  return resp;
}

std::vector<int64_t> Lessor::TakeExpired(absl::Time now, absl::Duration retry, size_t max) {
  std::vector<int64_t> out;
  std::lock_guard<std::mutex> lock(mu_);
  if (!primary_) return out;
  for (auto& [id, l] : leases_) {
    if (out.size() >= max) break;
    if (l.expiry > now || l.next_report > now) continue;
    l.next_report = now + retry;
    out.push_back(id);
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> Lessor::CheckpointCandidates(
    absl::Time now, absl::Duration min_remaining) const {
  std::vector<std::pair<int64_t, int64_t>> out;
  std::lock_guard<std::mutex> lock(mu_);
  if (!primary_) return out;
  for (const auto& [id, l] : leases_) {
    const absl::Duration left = l.expiry - now;
    if (left <= min_remaining) continue;
    const int64_t secs = static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(left)));
    if (secs >= l.ttl) continue;  // nothing to save: a promote gives the full TTL anyway
    out.emplace_back(id, secs);
  }
  return out;
}

std::vector<int64_t> Lessor::TakeCheckpointResets() {
  std::vector<int64_t> out;
  std::lock_guard<std::mutex> lock(mu_);
  if (!primary_) return out;
  for (auto& [id, l] : leases_) {
    if (l.reset_checkpoint) {
      l.reset_checkpoint = false;
      out.push_back(id);
    }
  }
  return out;
}

std::vector<int64_t> Lessor::Leases(absl::Time) const {
  std::vector<std::pair<absl::Time, int64_t>> by_expiry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, l] : leases_) by_expiry.emplace_back(l.expiry, id);
  }
  std::stable_sort(by_expiry.begin(), by_expiry.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<int64_t> out;
  for (const auto& [t, id] : by_expiry) out.push_back(id);
  return out;
}

}  // namespace server
