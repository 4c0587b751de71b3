// PeerHealth: since when this member has been connected to each peer, as
// etcd's transport reports ActiveSince for --strict-reconfig-check (a
// membership change that would lose quorum among the members this one can
// reach is refused with "unhealthy cluster").
//
// Connected means the shared message channel to the peer (PeerDirectory)
// is READY: TCP, TLS and HTTP/2 are up. A follower rarely sends to another
// follower, so the channel is asked to connect (and kept connected) by a
// poll every `poll` interval, not only when raft has something to send.
// Ownership: borrows the directory and clock; owns one thread, joined by
// Stop() or the destructor. Thread-safety: all methods are thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/time/time.h"
#include "base/clock.h"
#include "server/peer/peer_directory.h"

namespace server {

class PeerHealth {
 public:
  PeerHealth(PeerDirectory* directory, uint64_t self_id, const base::Clock* clock,
             absl::Duration poll = absl::Milliseconds(500));
  ~PeerHealth();
  PeerHealth(const PeerHealth&) = delete;
  PeerHealth& operator=(const PeerHealth&) = delete;
  void Stop();

  // When the current connection to `id` came up (as seen by the poll);
  // nullopt while not connected.
  std::optional<absl::Time> ActiveSince(uint64_t id) const;

 private:
  void Run();
  void PollOnce();

  PeerDirectory* directory_;
  const uint64_t self_id_;
  const base::Clock* clock_;
  const absl::Duration poll_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                  // guarded by mu_
  std::map<uint64_t, absl::Time> since_;   // guarded by mu_
  std::thread thread_;
};

}  // namespace server
