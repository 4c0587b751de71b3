#include "server/edge/authenticate_limiter.h"

#include <algorithm>
#include <utility>

namespace server {

int AuthenticateLimiter::Options::DefaultWorkers() {
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
}

AuthenticateLimiter::AuthenticateLimiter(const base::Clock* clock, Options opts)
    : clock_(clock), opts_(opts) {
  for (int i = 0; i < std::max(1, opts_.workers); ++i) workers_.emplace_back([this] { Work(); });
}

AuthenticateLimiter::~AuthenticateLimiter() {
  std::deque<Job> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    left.swap(queue_);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  for (auto& job : left) job(true);
}

std::string AuthenticateLimiter::ClientOf(std::string_view grpc_peer) {
  const size_t colon = grpc_peer.rfind(':');
  // "unix:/path" and the like have no port: the whole string is the client.
  if (colon == std::string_view::npos || grpc_peer.find(':') == colon) return std::string(grpc_peer);
  return std::string(grpc_peer.substr(0, colon));
}

AuthenticateLimiter::Bucket& AuthenticateLimiter::RefillLocked(const std::string& client, absl::Time now) {
  const double burst = opts_.failure_burst;
  auto [it, added] = buckets_.try_emplace(client, Bucket{burst, now});
  Bucket& b = it->second;
  if (!added && now > b.at) {
    b.tokens = std::min(burst, b.tokens + absl::FDivDuration(now - b.at, opts_.failure_refill));
    b.at = now;
  }
  return b;
}

void AuthenticateLimiter::ForgetFullLocked(absl::Time now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double refilled = it->second.tokens + absl::FDivDuration(now - it->second.at, opts_.failure_refill);
    it = refilled >= opts_.failure_burst ? buckets_.erase(it) : std::next(it);
  }
}

bool AuthenticateLimiter::Admit(const std::string& client) {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  if (buckets_.size() >= opts_.max_clients && buckets_.count(client) == 0) {
    ForgetFullLocked(now);
    // Still full of clients that are all guessing: no room for a new one.
    if (buckets_.size() >= opts_.max_clients) return false;
  }
  return RefillLocked(client, now).tokens >= 1;
}

void AuthenticateLimiter::Failed(const std::string& client) {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& b = RefillLocked(client, now);
  b.tokens = std::max(-static_cast<double>(opts_.max_queued), b.tokens - 1);
}

double AuthenticateLimiter::BudgetForTest(const std::string& client) {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  return RefillLocked(client, now).tokens;
}

bool AuthenticateLimiter::Submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= opts_.max_queued) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void AuthenticateLimiter::Work() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job(false);
  }
}

}  // namespace server
