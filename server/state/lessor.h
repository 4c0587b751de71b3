// Lessor: the member's leases. The set of granted leases (id, TTL, last
// checkpointed remaining TTL) is replicated state: it changes only when the
// apply loop applies a grant, revoke or checkpoint, and lives in the store
// (meta storage::LeaseMetaKey, storage/meta_schema.h; the key attachments
// are the store's lease_key index),
// so a restart or a snapshot install rebuilds it with Reload().
//
// Expiry is not replicated: only the leader (the primary) tracks deadlines.
// On becoming primary every lease gets its remaining TTL (checkpointed, or
// the full TTL) plus the election timeout, as etcd's Promote does; a
// follower's leases never expire by themselves. Expired leases are revoked
// by the leader through raft (LeaseExpirer, server/replication/lease_expirer.h).
// Deadlines of leases granted or reloaded on the primary start at the
// injected clock's Now(); every other method takes `now` from its caller.
// Ownership: borrows the store and the clock, which must outlive it.
// Errors: NotLeaderError on a follower; LeaseNotFoundError,
// LeaseExistsError, LeaseTtlTooLargeError as etcd (server/state/errors.h).
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/latency_histogram.h"
#include "etcdserverpb/rpc.pb.h"
#include "storage/mvcc_store.h"

namespace server {

inline constexpr int64_t kMaxLeaseTtl = 9000000000;

// etcd's etcd_debugging_lease_* metrics, counted where etcd's lessor counts
// them: grants (with their TTLs) and revokes as they are applied, on every
// member; renewals where they happen, on the leader. Relaxed atomics.
struct LeaseCounters {
  std::atomic<uint64_t> granted{0};
  std::atomic<uint64_t> revoked{0};
  std::atomic<uint64_t> renewed{0};
  // etcd_debugging_lease_ttl_total: granted TTLs in seconds, etcd's buckets
  // (1 s doubling 24 times); observed as durations of that many seconds.
  base::LatencyHistogram ttls{1, 2, 24};
};

class Lessor {
 public:
  struct Options {
    int64_t min_ttl = 2;                         // seconds: ceil(1.5 election timeouts)
    absl::Duration extend = absl::Seconds(1);    // election timeout
  };
  Lessor(storage::MvccStore* store, const base::Clock& clock, Options opts)
      : store_(store), clock_(clock), opts_(opts) {}

  [[nodiscard]] absl::Status Reload();
  bool Exists(int64_t id) const;
  int64_t min_ttl() const { return opts_.min_ttl; }
  const LeaseCounters& counters() const { return counters_; }

  // ---- the apply loop, inside its batch
  [[nodiscard]] absl::StatusOr<etcdserverpb::LeaseGrantResponse> ApplyGrant(
      storage::WriteBatch& batch, const etcdserverpb::LeaseGrantRequest& r);
  [[nodiscard]] absl::StatusOr<etcdserverpb::LeaseRevokeResponse> ApplyRevoke(
      storage::WriteBatch& batch, const etcdserverpb::LeaseRevokeRequest& r);
  [[nodiscard]] absl::Status ApplyCheckpoint(storage::WriteBatch& batch,
                                             const etcdserverpb::LeaseCheckpointRequest& r);

  // ---- leadership
  void Promote(absl::Time now);
  void Demote();
  bool primary() const;

  // ---- the primary only (NotLeaderError elsewhere)
  // The granted TTL, or 0 for an unknown lease.
  [[nodiscard]] absl::StatusOr<int64_t> Renew(int64_t id, absl::Time now);
  [[nodiscard]] absl::StatusOr<etcdserverpb::LeaseTimeToLiveResponse> TimeToLive(
      int64_t id, bool keys, absl::Time now) const;
  // Leases past their deadline; each is reported again only after `retry`.
  std::vector<int64_t> TakeExpired(absl::Time now, absl::Duration retry, size_t max);
  // Remaining TTLs (whole seconds) of leases worth checkpointing: those
  // with more than `min_remaining` left.
  std::vector<std::pair<int64_t, int64_t>> CheckpointCandidates(absl::Time now,
                                                                absl::Duration min_remaining) const;

  // Leases whose checkpointed remaining TTL a renewal made stale: a
  // checkpoint of 0 must record that (through raft). Each is returned once.
  std::vector<int64_t> TakeCheckpointResets();

  // All leases, soonest deadline first.
  std::vector<int64_t> Leases(absl::Time now) const;

 private:
  struct Lease {
    int64_t ttl = 0;
    int64_t remaining_ttl = 0;  // checkpointed; 0 = none
    absl::Time expiry = absl::InfiniteFuture();
    absl::Time next_report = absl::InfinitePast();
    bool reset_checkpoint = false;  // renewed since a checkpoint was recorded
  };
  absl::Time DeadlineOnPromote(const Lease& l, absl::Time now) const;

  storage::MvccStore* store_;
  const base::Clock& clock_;
  const Options opts_;
  mutable std::mutex mu_;
  std::map<int64_t, Lease> leases_;  // guarded by mu_
  bool primary_ = false;             // guarded by mu_
  LeaseCounters counters_;
};

}  // namespace server
