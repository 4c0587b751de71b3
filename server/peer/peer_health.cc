#include "server/peer/peer_health.h"

#include <utility>

namespace server {

PeerHealth::PeerHealth(PeerDirectory* directory, uint64_t self_id, const base::Clock* clock,
                       absl::Duration poll)
    : directory_(directory), self_id_(self_id), clock_(clock), poll_(poll) {
  thread_ = std::thread([this] { Run(); });
}

PeerHealth::~PeerHealth() { Stop(); }

void PeerHealth::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<absl::Time> PeerHealth::ActiveSince(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = since_.find(id);
  if (it == since_.end()) return std::nullopt;
  return it->second;
}

void PeerHealth::PollOnce() {
  std::map<uint64_t, bool> ready;
  for (uint64_t id : directory_->Ids()) {
    if (id == self_id_) continue;
    auto channel = directory_->Channel(id);
    // GetState(true) also starts a connection attempt on an idle channel.
    ready[id] = channel.ok() && (*channel)->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY;
  }
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  std::map<uint64_t, absl::Time> next;
  for (const auto& [id, up] : ready) {
    if (!up) continue;
    auto it = since_.find(id);
    next[id] = it == since_.end() ? now : it->second;
  }
  since_ = std::move(next);
}

void PeerHealth::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    PollOnce();
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoNanoseconds(poll_), [this] { return stopping_; });
  }
}

}  // namespace server
