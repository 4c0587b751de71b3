#include "bench/histogram.h"

#include <algorithm>
#include <bit>

namespace ketcd::bench {

LatencyHistogram::LatencyHistogram() {
  for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
}

// Values below kSub map to themselves; above, the top kSubBits+1 bits pick
// the bucket: (exponent group, linear position within the group).
int LatencyHistogram::BucketOf(uint64_t micros) {
  if (micros < static_cast<uint64_t>(kSub)) return static_cast<int>(micros);
  int msb = 63 - std::countl_zero(micros);
  if (msb > kMaxExp) return kBuckets - 1;
  int shift = msb - kSubBits;
  int group = shift + 1;
  int pos = static_cast<int>((micros >> shift) & (kSub - 1));
  return std::min(kBuckets - 1, group * kSub + pos);
}

uint64_t LatencyHistogram::UpperOf(int bucket) {
  if (bucket < kSub) return static_cast<uint64_t>(bucket);
  int group = bucket / kSub;
  int pos = bucket % kSub;
  int shift = group - 1;
  uint64_t base = (static_cast<uint64_t>(kSub) | static_cast<uint64_t>(pos)) << shift;
  return base + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::Record(uint64_t micros) {
  counts_[BucketOf(micros)].fetch_add(1, std::memory_order_relaxed);
  total_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(micros, std::memory_order_relaxed);
  uint64_t cur = max_.load(std::memory_order_relaxed);
  while (micros > cur && !max_.compare_exchange_weak(cur, micros, std::memory_order_relaxed)) {
  }
  cur = min_.load(std::memory_order_relaxed);
  while (micros < cur && !min_.compare_exchange_weak(cur, micros, std::memory_order_relaxed)) {
  }
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBuckets; ++i) {
    uint64_t c = other.counts_[i].load(std::memory_order_relaxed);
    if (c != 0) counts_[i].fetch_add(c, std::memory_order_relaxed);
  }
  total_.fetch_add(other.total_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  sum_.fetch_add(other.sum_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  uint64_t omax = other.max_.load(std::memory_order_relaxed);
  uint64_t cur = max_.load(std::memory_order_relaxed);
  while (omax > cur && !max_.compare_exchange_weak(cur, omax, std::memory_order_relaxed)) {
  }
  uint64_t omin = other.min_.load(std::memory_order_relaxed);
  cur = min_.load(std::memory_order_relaxed);
  while (omin < cur && !min_.compare_exchange_weak(cur, omin, std::memory_order_relaxed)) {
  }
}

uint64_t LatencyHistogram::Count() const { return total_.load(std::memory_order_relaxed); }

uint64_t LatencyHistogram::MinMicros() const {
  return Count() == 0 ? 0 : min_.load(std::memory_order_relaxed);
}

double LatencyHistogram::MeanMicros() const {
  uint64_t n = Count();
  return n == 0 ? 0.0 : static_cast<double>(sum_.load(std::memory_order_relaxed)) / n;
}

uint64_t LatencyHistogram::Percentile(double p) const {
  uint64_t n = Count();
  if (n == 0) return 0;
  // The rank of the sample at fraction p, 1-based; p=1 is the maximum.
  uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(p * static_cast<double>(n) + 0.5));
  rank = std::min(rank, n);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (seen >= rank) return std::min(UpperOf(i), MaxMicros());
  }
  return MaxMicros();
}

std::vector<LatencyHistogram::Bin> LatencyHistogram::NonEmpty() const {
  std::vector<Bin> out;
  for (int i = 0; i < kBuckets; ++i) {
    uint64_t c = counts_[i].load(std::memory_order_relaxed);
    if (c != 0) out.push_back({UpperOf(i), c});
  }
  return out;
}

}  // namespace ketcd::bench
