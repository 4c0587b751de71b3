// MvccStore's physical compaction: a background thread that removes, in
// bounded batches, the versions a logical compaction made unreachable, and
// the waiters released as it advances.
#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <unordered_map>

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/logger.h"
#include "rocksdb/db.h"
#include "rocksdb/rate_limiter.h"
#include "rocksdb/sst_file_manager.h"
#include "storage/key_codec.h"
#include "storage/meta_schema.h"
#include "storage/mvcc_internal.h"
#include "storage/rocks_status.h"

namespace storage {

using mvcc_internal::IsTombstone;
using mvcc_internal::View;

namespace {
constexpr int kCompactorNice = 19;
}  // namespace

void MvccStore::StartCompactor() {
  {
    std::lock_guard<std::mutex> lock(compact_mu_);
    stopping_ = false;
  }
  compactor_ = std::thread([this] {
    // The pass runs at nice 19, as RocksDB's own compactions do: on a busy
    // member it takes the cores the writes leave. At normal priority, even
    // resting half the time, the passes of three members on two cores took
    // the writes' p99 to 3.2x its idle value (bench/compare --scale, 1M keys).
    pthread_setname_np(pthread_self(), "mvcc-compactor");
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kCompactorNice);
    CompactorLoop();
  });
}

void MvccStore::StopCompactor() {
  {
    std::lock_guard<std::mutex> lock(compact_mu_);
    stopping_ = true;
  }
  compact_cv_.notify_all();
  if (compactor_.joinable()) compactor_.join();
  RunCompactWaiters(/*all=*/true);
}

void MvccStore::WaitCompacted(int64_t rev) {
  std::unique_lock<std::mutex> lock(compact_mu_);
  compact_cv_.wait(lock, [&] { return stopping_ || compact_finished_ >= rev; });
}

void MvccStore::NotifyWhenCompacted(int64_t rev, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(compact_mu_);
    if (compact_finished_ < rev && !stopping_) {
      compact_waiters_.emplace(rev, std::move(fn));
      return;
    }
  }
  fn();
}

void MvccStore::RunCompactWaiters(bool all) {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard<std::mutex> lock(compact_mu_);
    auto end = all ? compact_waiters_.end() : compact_waiters_.upper_bound(compact_finished_);
    for (auto it = compact_waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    compact_waiters_.erase(compact_waiters_.begin(), end);
  }
  for (auto& fn : ready) fn();
}

int64_t MvccStore::PhysicallyCompactedRev() const {
  std::lock_guard<std::mutex> lock(compact_mu_);
  return compact_finished_;
}

int64_t MvccStore::HoldLimit() const { return compaction_hold_.load(std::memory_order_acquire); }

void MvccStore::SetCompactionHold(int64_t rev) {
  // Raising the hold needs no ordering (a pass that misses it compacts
  // less), and the watch hub raises it every round; only a lowered hold
  // must be ordered against the start of a pass.
  if (rev >= compaction_hold_.load(std::memory_order_acquire)) {
    compaction_hold_.store(rev, std::memory_order_release);
    return;
  }
  std::lock_guard<std::mutex> lock(compact_mu_);
  compaction_hold_.store(rev, std::memory_order_release);
}

void MvccStore::CompactorLoop() {
  // After a failed pass: retried after this long (doubling up to 30 s), or
  // at once when a new compaction is requested. A pass that fails at once
  // again (a persistent write error) must not spin.
  std::chrono::milliseconds retry_after{1000};
  while (true) {
    int64_t target;
    int64_t requested;
    {
      std::unique_lock<std::mutex> lock(compact_mu_);
      // A hold (the watch hub's next revision) keeps history that watchers
      // are still being given: the compactor waits below it, re-checking.
      auto runnable = [&] {
        return stopping_ || std::min(compact_target_, HoldLimit()) > compact_finished_;
      };
      while (!runnable()) {
        if (compact_target_ > compact_finished_) {
          compact_cv_.wait_for(lock, std::chrono::milliseconds(50));
        } else {
          compact_cv_.wait(lock);
        }
      }
      if (stopping_) return;
      requested = compact_target_;
      target = std::min(requested, HoldLimit());
    }
    std::string cursor;
    bool done = false;
    while (!done) {
      {
        std::lock_guard<std::mutex> lock(compact_mu_);
        if (stopping_) return;
      }
      const auto batch_start = std::chrono::steady_clock::now();
      auto s = CompactStep(target, &cursor, &done);
      if (!s.ok()) {
        // Physical compaction only frees space; a failed step is retried from
        // the start on the next request or restart, reads stay correct.
        if (logger_ != nullptr) {
          logger_->Warn("compaction failed", {{"revision", target}, {"error", s}});
        }
        break;
      }
      if (!done) {
        PauseBetweenBatches(std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - batch_start));
      }
    }
    if (!done) {
      std::unique_lock<std::mutex> lock(compact_mu_);
      compact_cv_.wait_for(lock, retry_after, [&] { return stopping_ || compact_target_ != requested; });
      retry_after = std::min(retry_after * 2, std::chrono::milliseconds(30'000));
      continue;
    }
    retry_after = std::chrono::milliseconds(1000);
    (void)db_->Put(rocksdb::WriteOptions(), meta_cf_, kMetaCompactFinished, EncodeMetaInt64(target));
    {
      std::lock_guard<std::mutex> lock(compact_mu_);
      compact_finished_ = std::max(compact_finished_, target);
    }
    compact_cv_.notify_all();
    RunCompactWaiters(/*all=*/false);
  }
}

void MvccStore::PauseBetweenBatches(std::chrono::milliseconds last_batch_took) {
  // Without a rest, the passes of three members sharing two cores took the
  // writes' p50 from 1.6 to 27 ms while they ran (bench/compare --scale).
  auto pause = compaction_pause_;
  if (pause_as_long_as_batch_) pause = std::max(pause, last_batch_took);
  if (pause <= std::chrono::milliseconds(0)) return;
  std::unique_lock<std::mutex> lock(compact_mu_);
  compact_cv_.wait_for(lock, pause, [&] { return stopping_; });
}

// One bounded batch: examines up to compaction_batch_ revisions at or below
// `target`, deleting each version that is not the newest live one of its key
// at `target`. Safe beside the apply loop: it only writes revisions > target.
absl::Status MvccStore::CompactStep(int64_t target, std::string* cursor, bool* done) {
  rocksdb::WriteBatch wb;
  std::unordered_map<std::string, std::optional<Revision>> keep;  // key -> version kept
  // The pass reads each old block once: it leaves the block cache to the
  // keys the members' requests read.
  rocksdb::ReadOptions once;
  once.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(once, rev_cf_));
  std::unique_ptr<rocksdb::Iterator> kv_it(db_->NewIterator(once, kv_cf_));
  // Revision `target` itself stays whole: a watcher may start there (etcd
  // serves a start at the compacted revision) and must get all its events.
  const std::string limit = EncodeRevKey({target, 0});
  int examined = 0;
  if (cursor->empty()) it->SeekToFirst(); else it->Seek(*cursor);
  for (; it->Valid() && examined < compaction_batch_; it->Next(), ++examined) {
    if (it->key().compare(limit) >= 0) break;
    auto rev = DecodeRevKey(View(it->key()));
    if (!rev || it->value().empty()) return absl::DataLossError("mvcc: undecodable rev record");
    std::string key(it->value().data() + 1, it->value().size() - 1);
    auto found = keep.find(key);
    if (found == keep.end()) {
      std::optional<Revision> kept;
      kv_it->Seek(EncodeKvKey(key, {target, std::numeric_limits<int64_t>::max()}));
      if (kv_it->Valid()) {
        auto d = DecodeKvKey(View(kv_it->key()));
        if (d && d->user_key == key && !IsTombstone(kv_it->value())) kept = d->rev;
      }
      found = keep.emplace(key, kept).first;
    }
    if (found->second && *found->second == *rev) continue;
    wb.Delete(kv_cf_, EncodeKvKey(key, *rev));
    wb.Delete(rev_cf_, it->key());
  }
  if (!it->status().ok()) return FromRocks(it->status());
  // Done (and the cursor moved) only once this batch's deletes are written:
  // a failed last step must not count the compaction as finished.
  const bool finished = !it->Valid() || it->key().compare(limit) >= 0;
  std::string next = finished ? std::string() : it->key().ToString();
  if (wb.Count() > 0) {
    if (auto s = FromRocks(db_->Write(rocksdb::WriteOptions(), &wb)); !s.ok()) return s;
  }
  *done = finished;
  if (!finished) *cursor = std::move(next);
  return absl::OkStatus();
}

int64_t MvccStore::CountVersionsForTest() const {
  SharedHold hold(gate_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), kv_cf_));
  int64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  return n;
}

int64_t MvccStore::DeleteRateForTest() const {
  SharedHold hold(gate_);
  const auto& sfm = db_->GetDBOptions().sst_file_manager;
  return sfm ? sfm->GetDeleteRateBytesPerSecond() : 0;
}

absl::Status MvccStore::Defragment() {
  std::lock_guard<std::mutex> one_at_a_time(defrag_mu_);
  SharedHold hold(gate_);
  rocksdb::CompactRangeOptions opts;
  opts.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  // Unpaced, a defrag's rewrite took the writes' p99 beside it to 7.9x
  // their idle p99 on a shared disk (bench/compare --scale).
  write_pacer_->SetBytesPerSecond(defrag_bytes_per_second_);
  absl::Status result;
  for (auto* cf : handles_) {
    if (auto s = db_->CompactRange(opts, cf, nullptr, nullptr); !s.ok()) {
      result = FromRocks(s);
      break;
    }
  }
  write_pacer_->SetBytesPerSecond(mvcc_internal::kUnpacedBytesPerSecond);
  return result;
}

}  // namespace storage
