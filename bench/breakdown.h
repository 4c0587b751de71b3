// Breakdown (`ketcd-bench --breakdown URL`): where a write's time goes on
// the server. Scrapes a ketcd member's /metrics before and after the run
// and turns the deltas of its write-stage histograms
// (ketcd_server_write_stage_duration_seconds{stage}, and
// ketcd_server_proposal_duration_seconds as the server's total, and
// ketcd_server_peer_message_wait_seconds as "peer_wait"; see
// server/replication/write_stages.h) into per-stage p50/p99/mean, printed
// next to the client-observed latency. Percentiles interpolate linearly
// inside a bucket (as Prometheus' histogram_quantile does), so they are
// as fine as the server's buckets (steps of 1.5x).
//
// Only plain http:// URLs (the metrics port, or the client port without
// TLS). Thread-safety: none needed (called from main before and after).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "bench/recorder.h"
#include "bench/report.h"

namespace ketcd::bench {

// One histogram as scraped: cumulative counts per upper bound (+Inf last).
struct ScrapedHistogram {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count)
  double sum = 0;
  double count = 0;
};

// Stage name ("propose_wait", ..., "total" for the proposal histogram and
// "peer_wait" for the peer-message one) -> histogram.
using StageHistograms = std::map<std::string, ScrapedHistogram>;

// Parses Prometheus text exposition; keeps only the write-stage families.
StageHistograms ParseStageHistograms(const std::string& exposition);

// GET `url` (http://host:port/path); false with `*error` set on failure.
bool HttpGet(const std::string& url, std::string* body, std::string* error);

// after - before, bucket by bucket (a stage missing before counts from 0).
StageHistograms Delta(const StageHistograms& before, const StageHistograms& after);

// The value below which fraction q of the observations fall (seconds);
// 0 with no observations.
double Quantile(const ScrapedHistogram& h, double q);

// Prints the breakdown table after the run's summary and adds its figures
// to `info` (extra: breakdown_<stage>_{p50,p99,mean}_ms, _count) for --json.
void ReportBreakdown(const std::string& url, const StageHistograms& delta, const Recorder& client, RunInfo* info);

}  // namespace ketcd::bench
