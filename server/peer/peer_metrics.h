// PeerMetrics: etcd's per-peer network metrics, counted by the peer
// transport (bytes and failures) and the prober (round trips):
//   etcd_network_peer_sent_bytes_total{To}, etcd_network_peer_received_bytes_total{From},
//   etcd_network_peer_sent_failures_total{To},
//   etcd_network_peer_round_trip_time_seconds{To} (0.1 ms doubling, 14 buckets, as etcd),
//   etcd_server_heartbeat_send_failures_total (a heartbeat to a peer sent more than two
//   heartbeat intervals after the previous one, in one term: the leader is late, as
//   etcd's timeout detector says).
// Peer labels are member ids in hexadecimal, as etcd's types.ID prints them.
//
// A peer's counters are made on first use and kept for the life of the
// process (etcd keeps its label sets too); the hot paths hold a pointer to
// them, so counting is relaxed atomic adds.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "base/latency_histogram.h"

namespace server {

struct PeerCounters {
  std::atomic<uint64_t> sent_bytes{0};
  std::atomic<uint64_t> sent_failures{0};  // messages dropped on the way to the peer
  std::atomic<uint64_t> received_bytes{0};
  base::LatencyHistogram round_trip{0.0001, 2};
  // Heartbeat timing (the raft loop's thread only): the last heartbeat's
  // time in Unix nanoseconds and its term.
  int64_t last_heartbeat_nanos = 0;
  uint64_t last_heartbeat_term = 0;
};

class PeerMetrics {
 public:
  // The counters of peer `id`, made on first use; the pointer stays valid.
  PeerCounters* For(uint64_t id);
  // Visits every peer's counters, in id order.
  void ForEach(const std::function<void(uint64_t id, const PeerCounters&)>& visit) const;

  std::atomic<uint64_t> heartbeat_send_failures{0};

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, std::unique_ptr<PeerCounters>> peers_;  // guarded by mu_
};

}  // namespace server
