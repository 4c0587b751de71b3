// LatencyHistogram: a fixed-size log-linear histogram of durations in
// microseconds, safe to record into from many threads at once.
//
// Contract: Record() is lock-free (relaxed atomics) and never allocates, so
// it can be called from gRPC callback threads at millions of samples per
// second; percentiles are exact to within one bucket (< 1.6% relative error
// above 64 µs, exact below). Values above ~2^30 µs (17 minutes) land in the
// last bucket. Reading while others record gives a consistent-enough view
// for progress reporting; read after recording stops for final figures.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace ketcd::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 6;  // 64 linear sub-buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kMaxExp = 30;
  static constexpr int kBuckets = (kMaxExp - kSubBits + 2) * kSub;

  LatencyHistogram();
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  void Record(uint64_t micros);
  void Merge(const LatencyHistogram& other);

  uint64_t Count() const;
  uint64_t MaxMicros() const { return max_.load(std::memory_order_relaxed); }
  uint64_t MinMicros() const;
  double MeanMicros() const;
  // The value below which a fraction p (0..1) of samples fall.
  uint64_t Percentile(double p) const;

  struct Bin {
    uint64_t upper_micros;
    uint64_t count;
  };
  // Non-empty buckets in increasing order, for plots and printed histograms.
  std::vector<Bin> NonEmpty() const;

  static int BucketOf(uint64_t micros);
  static uint64_t UpperOf(int bucket);

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_;
  std::atomic<uint64_t> total_{0};
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> max_{0};
  std::atomic<uint64_t> min_{UINT64_MAX};
};

}  // namespace ketcd::bench
