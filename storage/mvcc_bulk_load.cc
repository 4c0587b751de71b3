// MvccStore::LoadHistory: a whole history written into a fresh store at
// once (a restore), without the per-request bookkeeping of WriteTxn: the
// revisions keep the numbers, create revisions and versions they were
// given, which WriteTxn would compute anew.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "storage/key_codec.h"
#include "storage/meta_schema.h"
#include "storage/mvcc_internal.h"
#include "storage/rocks_status.h"

namespace storage {

using mvcc_internal::IsTombstone;
using mvcc_internal::kRevDelete;
using mvcc_internal::kRevPut;

namespace {

// Bulk writes skip RocksDB's WAL (the memtables are flushed before
// LoadHistory returns) and go out in batches of about this many bytes.
constexpr size_t kBatchBytes = 4 << 20;
constexpr int64_t kProgressEvery = 4096;

rocksdb::WriteOptions BulkWriteOptions() {
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  return wo;
}

}  // namespace

absl::Status MvccStore::LoadHistory(const HistoryFeed& feed, const HistoryBounds& bounds,
                                    const LoadProgress& progress) {
  SharedHold hold(gate_);
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), kv_cf_));
    it->SeekToFirst();
    if (it->Valid() || Rev() != 1 || AppliedIndex() != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("mvcc: a history is loaded only into an empty store; ", dir_, " holds data"));
    }
    if (!it->status().ok()) return FromRocks(it->status());
  }
  int64_t last_main = 1;
  if (auto s = WriteLoadedHistory(feed, progress, &last_main); !s.ok()) return s;
  if (auto s = IndexLoadedHistory(bounds.lease_exists); !s.ok()) return s;

  const int64_t rev = std::max(last_main, bounds.compact_rev);
  rocksdb::WriteBatch wb;
  wb.Put(meta_cf_, kMetaRev, EncodeMetaInt64(rev));
  if (bounds.compact_rev > 0) {
    wb.Put(meta_cf_, kMetaCompactRev, EncodeMetaInt64(bounds.compact_rev));
    wb.Put(meta_cf_, kMetaCompactFinished,
           EncodeMetaInt64(std::min(bounds.compacted_through, bounds.compact_rev)));
  }
  if (auto s = db_->Write(BulkWriteOptions(), &wb); !s.ok()) return FromRocks(s);
  rocksdb::FlushOptions fo;
  fo.wait = true;
  if (auto s = db_->Flush(fo, handles_); !s.ok()) return FromRocks(s);
  // The compactor picks up a compaction the history had not finished.
  if (auto s = Load(); !s.ok()) return s;
  compact_cv_.notify_all();
  return absl::OkStatus();
}

// Pass 1: every revision into the kv and rev column families.
absl::Status MvccStore::WriteLoadedHistory(const HistoryFeed& feed, const LoadProgress& progress,
                                           int64_t* last_main) {
  rocksdb::WriteBatch wb;
  std::optional<Revision> prev;
  int64_t count = 0;
  uint64_t bytes = 0;
  auto flush = [&]() -> absl::Status {
    if (wb.Count() == 0) return absl::OkStatus();
    auto s = db_->Write(BulkWriteOptions(), &wb);
    wb.Clear();
    return FromRocks(s);
  };
  absl::Status fed = feed([&](Revision rev, bool tombstone, const mvccpb::KeyValue& kv) -> absl::Status {
    if (prev && rev <= *prev) {
      return absl::DataLossError(absl::StrCat("mvcc: revision ", rev.main, "_", rev.sub,
                                              " does not follow ", prev->main, "_", prev->sub));
    }
    if (kv.key().empty()) {
      return absl::DataLossError(absl::StrCat("mvcc: revision ", rev.main, "_", rev.sub, " has no key"));
    }
    if (!tombstone && kv.mod_revision() != rev.main) {
      return absl::DataLossError(absl::StrCat("mvcc: the put at revision ", rev.main, "_", rev.sub,
                                              " says mod_revision ", kv.mod_revision()));
    }
    prev = rev;
    std::string rev_value(1, tombstone ? kRevDelete : kRevPut);
    rev_value.append(kv.key());
    const std::string value = tombstone ? std::string() : kv.SerializeAsString();
    wb.Put(kv_cf_, EncodeKvKey(kv.key(), rev), value);
    wb.Put(rev_cf_, EncodeRevKey(rev), rev_value);
    bytes += kv.key().size() + value.size();
    if (++count % kProgressEvery == 0 && progress) progress(count, bytes);
    if (wb.GetDataSize() >= kBatchBytes) return flush();
    return absl::OkStatus();
  });
  if (!fed.ok()) return fed;
  if (auto s = flush(); !s.ok()) return s;
  if (progress) progress(count, bytes);
  if (prev) *last_main = prev->main;
  return absl::OkStatus();
}

// Pass 2: each key's newest version, which sorts first among its versions,
// decides whether it is live and which lease holds it.
absl::Status MvccStore::IndexLoadedHistory(const std::function<bool(int64_t)>& lease_exists) {
  rocksdb::WriteBatch wb;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), kv_cf_));
  int64_t live = 0;
  auto walked = mvcc_internal::ForEachNewestVersion(
      it.get(), [&](const std::string& user_key, const rocksdb::Slice& value) -> absl::Status {
        if (IsTombstone(value)) return absl::OkStatus();
        wb.Put(live_cf_, user_key, rocksdb::Slice());
        ++live;
        mvccpb::KeyValue kv;
        if (!kv.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          return absl::DataLossError("mvcc: undecodable key-value record");
        }
        if (kv.lease() != 0 && lease_exists && lease_exists(kv.lease())) {
          wb.Put(meta_cf_, LeaseKeyMetaKey(kv.lease(), user_key), rocksdb::Slice());
        }
        if (wb.GetDataSize() < kBatchBytes) return absl::OkStatus();
        auto s = db_->Write(BulkWriteOptions(), &wb);
        wb.Clear();
        return FromRocks(s);
      });
  if (!walked.ok()) return walked;
  wb.Put(meta_cf_, kMetaLiveKeys, EncodeMetaInt64(live));
  if (auto s = FromRocks(db_->Write(BulkWriteOptions(), &wb)); !s.ok()) return s;
  live_keys_.store(live, std::memory_order_release);
  return absl::OkStatus();
}

}  // namespace storage
