// MvccStore's lifecycle: opening the RocksDB store and its column
// families, the reader gate, checkpoints and the whole-store swap, and the
// synchronous meta-table writes.
#include "storage/mvcc_store.h"

#include <utility>

#include "rocksdb/db.h"
#include "rocksdb/sst_file_manager.h"
#include "rocksdb/cache.h"
#include "rocksdb/table.h"
#include "rocksdb/options.h"
#include "rocksdb/rate_limiter.h"
#include "rocksdb/utilities/checkpoint.h"
#include "storage/meta_schema.h"
#include "storage/mvcc_internal.h"
#include "storage/rocks_logger.h"
#include "storage/rocks_status.h"
#include "storage/snapshot_install.h"

namespace storage {

void MvccStore::Gate::LockShared() const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !writer_; });
  ++readers_;
}

void MvccStore::Gate::UnlockShared() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (--readers_ == 0) cv_.notify_all();
}

void MvccStore::Gate::Lock() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !writer_; });
  writer_ = true;
  cv_.wait(lock, [&] { return readers_ == 0; });
}

void MvccStore::Gate::Unlock() {
  std::lock_guard<std::mutex> lock(mu_);
  writer_ = false;
  cv_.notify_all();
}

absl::StatusOr<std::unique_ptr<MvccStore>> MvccStore::Open(const std::string& dir,
                                                           const MvccStoreOptions& options) {
  std::unique_ptr<MvccStore> store(new MvccStore());
  store->dir_ = dir;
  store->logger_ = options.logger;
  store->env_ = options.env;
  store->max_wal_bytes_ = options.max_wal_bytes;
  store->compaction_pause_ = options.compaction_pause;
  store->defrag_bytes_per_second_ = options.defrag_bytes_per_second;
  store->delete_bytes_per_second_ = options.delete_bytes_per_second;
  if (auto s = store->OpenDb(); !s.ok()) return s;
  store->StartCompactor();
  return store;
}

absl::Status MvccStore::OpenDb() {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  // RocksDB deletes a WAL file only when every family holding writes in it
  // has flushed. The meta family takes a few bytes per batch and would not
  // fill a memtable for ages, so with the default cap (4x the families'
  // memtables: 2.5 GiB) the store's WAL grew without bound under load
  // (436 MiB of it after 1M puts of 256 B, against 57 MiB of tables). Past
  // this size the families pinning the oldest file are flushed instead.
  options.max_total_wal_size = max_wal_bytes_;
  // RocksDB's warnings and errors go to the member's log, not to a LOG file
  // on the disk they may be about (see rocks_logger.h).
  options.info_log = NewRocksInfoLogger(logger_);
  if (env_ != nullptr) options.env = env_;
  {
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(mvcc_internal::kBlockCacheBytes);
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(options)},
      {"kv", rocksdb::ColumnFamilyOptions(options)},
      {"rev", rocksdb::ColumnFamilyOptions(options)},
      {"meta", rocksdb::ColumnFamilyOptions(options)},
      {"live", rocksdb::ColumnFamilyOptions(options)},
  };
  // RocksDB's own compactions (and a defrag's, which run in the same pool)
  // yield the cores to the foreground: at normal priority a defrag took
  // writes' p99 on a loaded 2-core member to 5.7x its idle value. Flushes
  // (the HIGH pool) keep their priority: writes stall behind them.
  (void)options.env->LowerThreadPoolCPUPriority(rocksdb::Env::LOW, rocksdb::CpuPriority::kLow);
  // Table files are synced a MiB at a time as they are written, not all at
  // once when closed: one large sync stalled the raft log's on the same disk.
  // RocksDB's own (unsynced) WAL is written back the same way, so that an
  // ext4 journal commit forced by the raft log's fdatasync finds little of
  // it still dirty.
  options.bytes_per_sync = 1 << 20;
  options.wal_bytes_per_sync = 1 << 20;
  if (!write_pacer_) {
    write_pacer_.reset(rocksdb::NewGenericRateLimiter(mvcc_internal::kUnpacedBytesPerSecond));
  }
  options.rate_limiter = write_pacer_;
  if (delete_bytes_per_second_ > 0) {
    options.sst_file_manager.reset(rocksdb::NewSstFileManager(
        options.env, options.info_log, /*trash_dir=*/"", delete_bytes_per_second_,
        /*delete_existing_trash=*/true, /*status=*/nullptr, mvcc_internal::kMaxTrashRatio,
        mvcc_internal::kDeleteChunkBytes));
  }
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(rocksdb::DBOptions(options), dir_, cfs, &handles_, &raw);
  if (!s.ok()) return FromRocks(s);
  db_.reset(raw);
  kv_cf_ = handles_[1];
  rev_cf_ = handles_[2];
  meta_cf_ = handles_[3];
  live_cf_ = handles_[4];
  if (auto s = BuildLiveIndex(); !s.ok()) return s;
  return Load();
}

void MvccStore::CloseDb() {
  for (auto* h : handles_) {
    // Closing a handle only fails for the default family, which is fine to skip.
    (void)db_->DestroyColumnFamilyHandle(h);
  }
  handles_.clear();
  if (db_) (void)db_->Close();
  db_.reset();
}

MvccStore::~MvccStore() {
  StopCompactor();
  if (db_) CloseDb();
}

absl::Status MvccStore::CreateCheckpoint(const std::string& dir) const {
  SharedHold hold(gate_);
  rocksdb::Checkpoint* raw = nullptr;
  if (auto s = rocksdb::Checkpoint::Create(db_.get(), &raw); !s.ok()) return FromRocks(s);
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  // log_size_for_flush = 0: flush the memtables first, so the checkpoint
  // holds every committed batch in its tables, whether or not it was synced.
  return FromRocks(cp->CreateCheckpoint(dir, /*log_size_for_flush=*/0));
}

absl::Status MvccStore::ReplaceWith(const std::string& checkpoint_dir) {
  gate_.Lock();
  StopCompactor();
  CloseDb();
  absl::Status s = SwapInStore(dir_, checkpoint_dir);
  if (s.ok()) s = OpenDb();
  if (s.ok()) StartCompactor();
  gate_.Unlock();
  generation_.fetch_add(1, std::memory_order_acq_rel);
  if (s.ok() && commit_listener_) commit_listener_();
  return s;
}

absl::Status MvccStore::Load() {
  std::string v;
  auto get = [&](const char* name, int64_t* out) -> absl::Status {
    auto s = db_->Get(rocksdb::ReadOptions(), meta_cf_, name, &v);
    if (s.IsNotFound()) return absl::OkStatus();
    if (!s.ok()) return FromRocks(s);
    *out = DecodeMetaInt64(v);
    return absl::OkStatus();
  };
  // An empty store is at revision 1, so the first write is revision 2, as in etcd.
  // Nothing is compacted yet: -1 lets a first compaction at revision 0 succeed, as in etcd.
  int64_t rev = 1, compact = -1, finished = 0, applied = 0;
  for (auto [name, out] : {std::pair{kMetaRev, &rev}, {kMetaCompactRev, &compact},
                           {kMetaCompactFinished, &finished}, {kMetaAppliedIndex, &applied}}) {
    if (auto s = get(name, out); !s.ok()) return s;
  }
  if (auto s = LoadLiveKeys(); !s.ok()) return s;
  rev_.store(rev);
  compact_rev_.store(compact);
  applied_index_.store(static_cast<uint64_t>(applied));
  std::lock_guard<std::mutex> lock(compact_mu_);
  compact_finished_ = finished;
  compact_target_ = compact;
  return absl::OkStatus();
}

absl::Status MvccStore::Sync() {
  SharedHold hold(gate_);
  return FromRocks(db_->FlushWAL(/*sync=*/true));
}

absl::Status MvccStore::PutMeta(std::string_view name, std::string_view value) {
  SharedHold hold(gate_);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, meta_cf_, rocksdb::Slice(name.data(), name.size()),
                            rocksdb::Slice(value.data(), value.size())));
}

}  // namespace storage
