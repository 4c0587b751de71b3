// PeerProber: measures the round trip to every other member, as etcd's
// rafthttp prober does, for etcd_network_peer_round_trip_time_seconds: every
// `interval`, one Peer.Probe call per member over the shared message
// channel (so the time is that of the path heartbeats take), each bounded
// by `timeout`; an answered call is one sample. A member that does not
// answer gives no sample (its sent failures count it).
// Ownership: borrows the directory, the metrics and the clock; owns one
// thread, joined by Stop() or the destructor. Thread-safety: all methods
// are thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "base/clock.h"
#include "server/peer/peer_directory.h"
#include "server/peer/peer_metrics.h"

namespace server {

class PeerProber {
 public:
  struct Options {
    uint64_t self_id = 0;
    absl::Duration interval = absl::Seconds(5);
    absl::Duration timeout = absl::Seconds(1);
  };
  PeerProber(Options opts, PeerDirectory* directory, PeerMetrics* metrics, const base::Clock* clock);
  ~PeerProber();
  PeerProber(const PeerProber&) = delete;
  PeerProber& operator=(const PeerProber&) = delete;
  void Stop();

  // One round now (on the caller's thread): probes every other member.
  void ProbeAll();

 private:
  void Run();

  const Options opts_;
  PeerDirectory* directory_;
  PeerMetrics* metrics_;
  const base::Clock* clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace server
