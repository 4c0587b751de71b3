// ketcd-bench's histogram against exact percentiles of the same samples,
// and its seeded key generation.
#include <algorithm>
#include <random>
#include <vector>

#include "bench/histogram.h"
#include "bench/kv_ops.h"
#include "catch2/catch.hpp"

using ketcd::bench::LatencyHistogram;

TEST_CASE("bench histogram percentiles are within one bucket of the exact ones", "[bench]") {
  for (uint64_t seed : {1, 2, 3}) {
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> dist(7.0, 1.5);  // ~1 ms median, long tail
    LatencyHistogram h;
    std::vector<uint64_t> exact;
    for (int i = 0; i < 100000; ++i) {
      auto v = static_cast<uint64_t>(dist(rng));
      exact.push_back(v);
      h.Record(v);
    }
    std::sort(exact.begin(), exact.end());
    REQUIRE(h.Count() == exact.size());
    REQUIRE(h.MaxMicros() == exact.back());
    REQUIRE(h.MinMicros() == exact.front());
    for (double p : {0.5, 0.9, 0.99, 0.999, 1.0}) {
      uint64_t want = exact[std::min(exact.size() - 1, static_cast<size_t>(p * exact.size() + 0.5) - 1)];
      uint64_t got = h.Percentile(p);
      INFO("seed " << seed << " p " << p << " exact " << want << " histogram " << got);
      REQUIRE(got >= want);
      REQUIRE(static_cast<double>(got) <= static_cast<double>(want) * 1.016 + 1);
    }
    uint64_t binned = 0;
    for (const auto& b : h.NonEmpty()) binned += b.count;
    REQUIRE(binned == exact.size());
  }
}

TEST_CASE("bench histogram buckets are contiguous and ordered", "[bench]") {
  for (uint64_t v = 0; v < (uint64_t{1} << 22); v = v < 200 ? v + 1 : v + v / 37) {
    int b = LatencyHistogram::BucketOf(v);
    REQUIRE(LatencyHistogram::UpperOf(b) >= v);
    if (b > 0) REQUIRE(LatencyHistogram::UpperOf(b - 1) < v);
  }
}

TEST_CASE("bench keys depend only on the seed and the request number", "[bench]") {
  ketcd::bench::KvWorkload w;
  w.key_size = 8;
  w.key_space_size = 1000;
  w.seed = 7;
  std::vector<std::string> first;
  for (uint64_t n = 0; n < 500; ++n) first.push_back(ketcd::bench::PutKey(w, n));
  for (uint64_t n = 500; n-- > 0;) REQUIRE(ketcd::bench::PutKey(w, n) == first[n]);
  w.seed = 8;
  int same = 0;
  for (uint64_t n = 0; n < 500; ++n) same += ketcd::bench::PutKey(w, n) == first[n];
  REQUIRE(same < 10);
  w.sequential_keys = true;
  REQUIRE(ketcd::bench::PutKey(w, 1001) == ketcd::bench::PutKey(w, 1));
  w.key_prefix = "mix/";
  w.key_size = 10;
  REQUIRE(ketcd::bench::MixedWriteKey(w, 42) == "mix/000042");
  int reads = 0;
  w.rw_ratio = 4;
  for (uint64_t n = 0; n < 10000; ++n) reads += ketcd::bench::MixedIsRead(w, n);
  REQUIRE(reads > 7700);
  REQUIRE(reads < 8300);
}
