// LatencyHistogram: a fixed-bucket histogram of durations that any thread
// may record into without a lock (one relaxed atomic add per bucket count,
// sum and count), read whole when metrics are scraped. The buckets are
// Prometheus' exponential ones, so a histogram exports with etcd's bounds
// (etcd_disk_wal_fsync_duration_seconds: 1 ms doubling 14 times); finer
// ones (more buckets, a smaller factor) serve sub-millisecond stages.
// Thread-safety: Observe and Read from any thread; a Read racing an
// Observe may see the count before the sum (as Prometheus clients do).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace base {

class LatencyHistogram {
 public:
  static constexpr int kDefaultBuckets = 14;
  static constexpr int kMaxBuckets = 32;
  // Upper bounds: start * factor^i seconds, i = 0..buckets-1 (at most
  // kMaxBuckets), then +Inf.
  explicit LatencyHistogram(double start_seconds = 0.001, double factor = 2, int buckets = kDefaultBuckets)
      : buckets_(buckets < 1 ? 1 : buckets > kMaxBuckets ? kMaxBuckets : buckets) {
    double bound = start_seconds;
    for (int i = 0; i < buckets_; ++i) {
      bounds_[i] = bound;
      bound *= factor;
    }
  }

  // Records `n` observations of `d` (n > 1: a batch whose members all
  // took `d`, such as the entries of one apply).
  void Observe(absl::Duration d, uint64_t n = 1) {
    if (n == 0) return;
    const double seconds = absl::ToDoubleSeconds(d);
    int i = 0;
    while (i < buckets_ && seconds > bounds_[i]) ++i;
    counts_[i].fetch_add(n, std::memory_order_relaxed);  // i == buckets_: +Inf only
    const int64_t nanos = std::max<int64_t>(absl::ToInt64Nanoseconds(d), 0);
    sum_nanos_.fetch_add(static_cast<uint64_t>(nanos) * n, std::memory_order_relaxed);
  }

  struct Snapshot {
    std::vector<double> upper_bounds;         // without +Inf
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum_seconds = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const {
    Snapshot s;
    uint64_t running = 0;
    for (int i = 0; i <= buckets_; ++i) {
      running += counts_[i].load(std::memory_order_relaxed);
      if (i < buckets_) s.upper_bounds.push_back(bounds_[i]);
      s.cumulative_counts.push_back(running);
    }
    s.count = running;
    s.sum_seconds = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
    return s;
  }

 private:
  const int buckets_;
  std::array<double, kMaxBuckets> bounds_{};
  std::array<std::atomic<uint64_t>, kMaxBuckets + 1> counts_{};
  std::atomic<uint64_t> sum_nanos_{0};
};

}  // namespace base
