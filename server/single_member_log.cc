#include "server/single_member_log.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "server/errors.h"

namespace server {
namespace {
// Bounds one batch so a flood of writers still gets answers at a steady pace.
constexpr size_t kMaxBatch = 4096;
}  // namespace

SingleMemberLog::SingleMemberLog(storage::MvccStore* store, const Applier* applier)
    : store_(store), applier_(applier) {}

SingleMemberLog::~SingleMemberLog() { Stop(); }

void SingleMemberLog::Start() { loop_ = std::thread([this] { Loop(); }); }

void SingleMemberLog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !loop_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  std::deque<Pending> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(pending_);
  }
  for (auto& p : left) p.done(StoppedError());
}

void SingleMemberLog::Propose(serverpb::InternalRequest req, ProposeDone done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      pending_.push_back({std::move(req), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(StoppedError());
}

uint64_t SingleMemberLog::BatchesCommitted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return batches_;
}

void SingleMemberLog::Loop() {
  std::vector<Pending> batch;
  std::vector<ProposeResult> results;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      while (!pending_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    auto wb = store_->Write();
    uint64_t index = store_->AppliedIndex();
    results.clear();
    for (auto& p : batch) {
      ++index;
      results.push_back(applier_->ApplyEntry(*wb, p.req));
      if (!results.back().ok() && results.back().status().code() == absl::StatusCode::kInternal) {
        std::fprintf(stderr, "ketcd: fatal: apply of index %llu failed: %s\n",
                     static_cast<unsigned long long>(index),
                     std::string(results.back().status().message()).c_str());
        std::abort();
      }
    }
    if (auto s = wb->Commit(index, /*sync=*/true); !s.ok()) {
      std::fprintf(stderr, "ketcd: fatal: cannot make the log durable: %s\n",
                   std::string(s.message()).c_str());
      std::abort();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++batches_;
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
    batch.clear();
  }
}

}  // namespace server
