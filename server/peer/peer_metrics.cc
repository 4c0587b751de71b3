#include "server/peer/peer_metrics.h"

namespace server {

PeerCounters* PeerMetrics::For(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = peers_[id];
  if (!slot) slot = std::make_unique<PeerCounters>();
  return slot.get();
}

void PeerMetrics::ForEach(const std::function<void(uint64_t id, const PeerCounters&)>& visit) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, counters] : peers_) visit(id, *counters);
}

}  // namespace server
