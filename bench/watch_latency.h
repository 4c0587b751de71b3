// watch-latency: many watchers on one key range, a paced stream of puts into
// it, and the time from each put being sent to each watcher receiving its
// event.
//
// Contract: every watcher is created (and acknowledged) before the first
// put; the run ends when every watcher has every event or after
// `drain_timeout_s` without progress. Completeness and order are checked
// per watcher (mod_revision strictly increasing), and reported, not assumed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/recorder.h"
#include "grpcpp/grpcpp.h"

namespace ketcd::bench {

struct WatchLatencyOptions {
  uint64_t put_total = 10000;
  double put_rate = 100;
  int put_clients = 1;
  int streams = 10;
  int watchers_per_stream = 10;
  int val_size = 32;
  uint64_t seed = 1;
  std::string prefix = "watchlat/";
  double drain_timeout_s = 30;
  double timeout_s = 60;
  bool progress = false;
};

struct WatchLatencyOutcome {
  double duration_s = 0;     // first put sent .. last event received
  uint64_t expected = 0;     // put_total x watchers
  uint64_t received = 0;
  uint64_t out_of_order = 0; // events whose revision did not increase
  uint64_t watchers_created = 0;
  uint64_t watchers_canceled = 0;
  bool setup_failed = false;
  std::string setup_error;
};

WatchLatencyOutcome RunWatchLatency(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                                    const WatchLatencyOptions& options, Recorder* events, Recorder* puts);

}  // namespace ketcd::bench
