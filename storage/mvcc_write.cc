// MvccStore writes: WriteTxn (one request's changes) and WriteBatch (the
// txns of one apply round, committed as one RocksDB write with the raft
// applied index).
#include <algorithm>

#include "rocksdb/db.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "storage/errors.h"
#include "storage/key_codec.h"
#include "storage/meta_schema.h"
#include "storage/mvcc_internal.h"
#include "storage/rocks_status.h"

namespace storage {

using mvcc_internal::IsTombstone;
using mvcc_internal::kRevDelete;
using mvcc_internal::kRevPut;
using mvcc_internal::RangeOver;
using mvcc_internal::ToSlice;

// ---------------------------------------------------------------- WriteTxn

absl::StatusOr<RangeResult> WriteTxn::Range(const KeyRange& range, const RangeOptions& opts) {
  MvccStore* store = batch_->store_;
  std::unique_ptr<rocksdb::Iterator> base(store->db_->NewIterator(rocksdb::ReadOptions(), store->kv_cf_));
  std::unique_ptr<rocksdb::Iterator> it(batch_->wb_->NewIteratorWithBase(store->kv_cf_, base.release()));
  std::unique_ptr<rocksdb::Iterator> live_base(store->db_->NewIterator(rocksdb::ReadOptions(), store->live_cf_));
  std::unique_ptr<rocksdb::Iterator> live(
      batch_->wb_->NewIteratorWithBase(store->live_cf_, live_base.release()));
  return RangeOver(it.get(), live.get(), range, opts, rev_after(), batch_->compact_rev_);
}

absl::StatusOr<mvccpb::KeyValue> WriteTxn::Put(std::string_view key, std::string_view value,
                                               int64_t lease) {
  MvccStore* store = batch_->store_;
  mvccpb::KeyValue kv;
  kv.set_key(std::string(key));
  kv.set_value(std::string(value));
  kv.set_lease(lease);
  kv.set_mod_revision(write_rev_);
  kv.set_create_revision(write_rev_);
  kv.set_version(1);
  int64_t prev_lease = 0;
  bool was_live = false;
  {
    rocksdb::Iterator* it = batch_->KvThroughBatch();
    const std::string prefix = EncodeUserKey(key);
    it->Seek(prefix);
    if (it->Valid() && it->key().starts_with(prefix) && !IsTombstone(it->value())) {
      mvccpb::KeyValue prev;
      if (!prev.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError("mvcc: undecodable key-value record");
      }
      kv.set_create_revision(prev.create_revision());
      kv.set_version(prev.version() + 1);
      prev_lease = prev.lease();
      was_live = true;
    }
    if (!it->status().ok()) return FromRocks(it->status());
  }
  if (prev_lease != lease) {
    if (prev_lease != 0) {
      if (auto s = batch_->wb_->Delete(store->meta_cf_, LeaseKeyMetaKey(prev_lease, key)); !s.ok()) {
        return FromRocks(s);
      }
    }
    if (lease != 0) {
      if (auto s = batch_->wb_->Put(store->meta_cf_, LeaseKeyMetaKey(lease, key), ""); !s.ok()) {
        return FromRocks(s);
      }
    }
  }
  const Revision rev{write_rev_, sub_++};
  std::string rev_value(1, kRevPut);
  rev_value.append(key);
  auto s = batch_->wb_->Put(store->kv_cf_, EncodeKvKey(key, rev), kv.SerializeAsString());
  if (s.ok()) s = batch_->PutUnindexed(store->rev_cf_, EncodeRevKey(rev), rev_value);
  if (s.ok() && !was_live) s = batch_->wb_->Put(store->live_cf_, ToSlice(key), rocksdb::Slice());
  if (!s.ok()) return FromRocks(s);
  if (!was_live) ++batch_->live_keys_;
  return kv;
}

absl::StatusOr<std::vector<mvccpb::KeyValue>> WriteTxn::DeleteRange(const KeyRange& range) {
  MvccStore* store = batch_->store_;
  auto found = Range(range, RangeOptions{});
  if (!found.ok()) return found.status();
  for (const auto& kv : found->kvs) {
    const Revision rev{write_rev_, sub_++};
    std::string rev_value(1, kRevDelete);
    rev_value.append(kv.key());
    auto s = batch_->wb_->Put(store->kv_cf_, EncodeKvKey(kv.key(), rev), rocksdb::Slice());
    if (s.ok()) s = batch_->PutUnindexed(store->rev_cf_, EncodeRevKey(rev), rev_value);
    if (s.ok()) s = batch_->wb_->Delete(store->live_cf_, kv.key());
    if (s.ok() && kv.lease() != 0) s = batch_->wb_->Delete(store->meta_cf_, LeaseKeyMetaKey(kv.lease(), kv.key()));
    if (!s.ok()) return FromRocks(s);
    --batch_->live_keys_;
  }
  return std::move(found->kvs);
}

// ---------------------------------------------------------------- WriteBatch

WriteBatch::WriteBatch(MvccStore* store)
    : store_(store),
      wb_(std::make_unique<rocksdb::WriteBatchWithIndex>(rocksdb::BytewiseComparator(), 0,
                                                        /*overwrite_key=*/true)),
      rev_(store->Rev()),
      compact_rev_(store->CompactRev()),
      live_keys_(store->LiveKeys()) {}

WriteBatch::~WriteBatch() = default;

rocksdb::Iterator* WriteBatch::KvThroughBatch() {
  if (!kv_through_batch_) {
    kv_through_batch_.reset(
        wb_->NewIteratorWithBase(store_->kv_cf_, store_->db_->NewIterator(rocksdb::ReadOptions(), store_->kv_cf_)));
  }
  return kv_through_batch_.get();
}

rocksdb::Status WriteBatch::PutUnindexed(rocksdb::ColumnFamilyHandle* cf, const std::string& key,
                                         const std::string& value) {
  // Into the batch beneath the index (appending there leaves the index's
  // offsets valid): the revision family is never read back through a
  // batch, and indexing its records cost about 1% of a leader's CPU at
  // put-1000 (skiplist comparisons that decode records from the batch).
  return wb_->GetWriteBatch()->Put(cf, key, value);
}

WriteTxn WriteBatch::BeginTxn() { return WriteTxn(this, rev_ + 1); }

void WriteBatch::EndTxn(const WriteTxn& txn) { rev_ = txn.rev_after(); }

absl::Status WriteBatch::Compact(int64_t rev) {
  if (rev <= compact_rev_) return CompactedError();
  if (rev > rev_) return FutureRevError();
  compact_rev_ = rev;
  scheduled_compact_ = rev;
  return FromRocks(wb_->Put(store_->meta_cf_, kMetaCompactRev, EncodeMetaInt64(rev)));
}

absl::Status WriteBatch::PutMeta(std::string_view name, std::string_view value) {
  return FromRocks(wb_->Put(store_->meta_cf_, rocksdb::Slice(name.data(), name.size()),
                            rocksdb::Slice(value.data(), value.size())));
}

absl::Status WriteBatch::DeleteMeta(std::string_view name) {
  return FromRocks(wb_->Delete(store_->meta_cf_, rocksdb::Slice(name.data(), name.size())));
}

absl::StatusOr<std::vector<std::string>> WriteBatch::LeaseKeys(int64_t lease) const {
  std::unique_ptr<rocksdb::Iterator> base(store_->db_->NewIterator(rocksdb::ReadOptions(), store_->meta_cf_));
  std::unique_ptr<rocksdb::Iterator> it(wb_->NewIteratorWithBase(store_->meta_cf_, base.release()));
  const std::string prefix = LeaseKeysMetaPrefix(lease);
  std::vector<std::string> out;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.push_back(it->key().ToString().substr(prefix.size()));
  }
  if (!it->status().ok()) return FromRocks(it->status());
  return out;
}

absl::Status WriteBatch::Commit(uint64_t applied_index, bool sync) {
  auto s = wb_->Put(store_->meta_cf_, kMetaRev, EncodeMetaInt64(rev_));
  if (s.ok()) s = wb_->Put(store_->meta_cf_, kMetaAppliedIndex, EncodeMetaInt64(static_cast<int64_t>(applied_index)));
  if (s.ok() && live_keys_ != store_->LiveKeys()) {
    s = wb_->Put(store_->meta_cf_, kMetaLiveKeys, EncodeMetaInt64(live_keys_));
  }
  if (!s.ok()) return FromRocks(s);
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  kv_through_batch_.reset();  // pins the memtables and files it was made on
  s = store_->db_->Write(wo, wb_->GetWriteBatch());
  if (!s.ok()) return FromRocks(s);
  store_->OnCommitted(*this, applied_index);
  return absl::OkStatus();
}

std::unique_ptr<WriteBatch> MvccStore::Write() {
  return std::unique_ptr<WriteBatch>(new WriteBatch(this));
}

void MvccStore::OnCommitted(const WriteBatch& batch, uint64_t applied_index) {
  rev_.store(batch.rev_, std::memory_order_release);
  compact_rev_.store(batch.compact_rev_, std::memory_order_release);
  applied_index_.store(applied_index, std::memory_order_release);
  live_keys_.store(batch.live_keys_, std::memory_order_release);
  if (batch.scheduled_compact_ > 0) {
    {
      std::lock_guard<std::mutex> lock(compact_mu_);
      compact_target_ = std::max(compact_target_, batch.scheduled_compact_);
    }
    compact_cv_.notify_all();
  }
  if (commit_listener_) commit_listener_();
}

}  // namespace storage
