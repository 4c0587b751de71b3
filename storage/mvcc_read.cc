// MvccStore reads: ReadView (a RocksDB snapshot under a shared hold of the
// gate) and the meta-table reads.
#include <algorithm>

#include "rocksdb/db.h"
#include "storage/errors.h"
#include "storage/key_codec.h"
#include "storage/meta_schema.h"
#include "storage/mvcc_internal.h"
#include "storage/rocks_status.h"

namespace storage {

using mvcc_internal::IsTombstone;
using mvcc_internal::KvVisitor;
using mvcc_internal::kRevPut;
using mvcc_internal::RangeOver;
using mvcc_internal::View;

ReadView::ReadView(const MvccStore* store, const rocksdb::Snapshot* snap)
    : store_(store), snap_(snap) {
  // The caller (MvccStore::Read) took the shared hold for this view.
  rocksdb::ReadOptions ro;
  ro.snapshot = snap_;
  std::string v;
  if (store_->db_->Get(ro, store_->meta_cf_, kMetaRev, &v).ok()) rev_ = DecodeMetaInt64(v);
  if (store_->db_->Get(ro, store_->meta_cf_, kMetaCompactRev, &v).ok()) compact_rev_ = DecodeMetaInt64(v);
}

ReadView::~ReadView() {
  store_->db_->ReleaseSnapshot(snap_);
  store_->gate_.UnlockShared();
}

absl::StatusOr<RangeResult> ReadView::Range(const KeyRange& range,
                                            const RangeOptions& opts) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snap_;
  std::unique_ptr<rocksdb::Iterator> it(store_->db_->NewIterator(ro, store_->kv_cf_));
  std::unique_ptr<rocksdb::Iterator> live(store_->db_->NewIterator(ro, store_->live_cf_));
  return RangeOver(it.get(), live.get(), range, opts, rev_, compact_rev_);
}

absl::Status ReadView::Scan(const KeyRange& range, int64_t rev, const KvVisitor& visit) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snap_;
  std::unique_ptr<rocksdb::Iterator> it(store_->db_->NewIterator(ro, store_->kv_cf_));
  RangeOptions opts;
  opts.rev = rev;
  return RangeOver(it.get(), nullptr, range, opts, rev_, compact_rev_, &visit).status();
}

absl::StatusOr<Changes> ReadView::ReadChanges(int64_t from_rev, int64_t max_revs,
                                              bool with_prev, bool held) const {
  if (from_rev < compact_rev_ && !held) return CompactedError();
  Changes out;
  out.next_rev = std::max<int64_t>(from_rev, 1);
  if (from_rev > rev_) return out;
  rocksdb::ReadOptions ro;
  ro.snapshot = snap_;
  std::unique_ptr<rocksdb::Iterator> revs(store_->db_->NewIterator(ro, store_->rev_cf_));
  std::unique_ptr<rocksdb::Iterator> kvs(store_->db_->NewIterator(ro, store_->kv_cf_));
  int64_t revs_seen = 0, last_main = 0;
  for (revs->Seek(EncodeRevKey({from_rev, 0})); revs->Valid(); revs->Next()) {
    auto rev = DecodeRevKey(View(revs->key()));
    if (!rev) return absl::DataLossError("mvcc: undecodable key in rev column family");
    if (rev->main > rev_) break;
    if (rev->main != last_main) {
      if (revs_seen == max_revs) break;
      ++revs_seen;
      last_main = rev->main;
    }
    const rocksdb::Slice v = revs->value();
    if (v.empty()) return absl::DataLossError("mvcc: empty rev record");
    const std::string key(v.data() + 1, v.size() - 1);
    mvccpb::Event ev;
    kvs->Seek(EncodeKvKey(key, *rev));
    if (!kvs->Valid() || kvs->key() != rocksdb::Slice(EncodeKvKey(key, *rev))) {
      return absl::DataLossError("mvcc: a revision without its key-value record");
    }
    if (v[0] == kRevPut) {
      ev.set_type(mvccpb::Event::PUT);
      if (!ev.mutable_kv()->ParseFromArray(kvs->value().data(), static_cast<int>(kvs->value().size()))) {
        return absl::DataLossError("mvcc: undecodable key-value record");
      }
    } else {
      ev.set_type(mvccpb::Event::DELETE);
      ev.mutable_kv()->set_key(key);
      ev.mutable_kv()->set_mod_revision(rev->main);
    }
    // etcd reads prev_kv at mod_revision - 1, refused below the compaction
    // (whether or not the compactor has removed it yet).
    if (with_prev && rev->main - 1 >= compact_rev_) {
      // The next older version of the key, if it is live.
      kvs->Next();
      if (kvs->Valid()) {
        auto older = DecodeKvKey(View(kvs->key()));
        if (older && older->user_key == key && !IsTombstone(kvs->value())) {
          if (!ev.mutable_prev_kv()->ParseFromArray(kvs->value().data(),
                                                    static_cast<int>(kvs->value().size()))) {
            return absl::DataLossError("mvcc: undecodable key-value record");
          }
        }
      }
    }
    out.events.push_back(std::move(ev));
  }
  if (!revs->status().ok()) return FromRocks(revs->status());
  if (!kvs->status().ok()) return FromRocks(kvs->status());
  out.next_rev = revs->Valid() ? std::min(DecodeRevKey(View(revs->key()))->main, rev_ + 1) : rev_ + 1;
  if (out.next_rev <= last_main) out.next_rev = last_main + 1;
  return out;
}

std::vector<std::string> MvccStore::LeaseKeys(int64_t lease) const {
  std::vector<std::string> out;
  const std::string prefix = LeaseKeysMetaPrefix(lease);
  for (auto& [k, v] : ListMeta(prefix)) out.push_back(k.substr(prefix.size()));
  return out;
}

std::unique_ptr<ReadView> MvccStore::Read() const {
  gate_.LockShared();  // released by ~ReadView
  return std::unique_ptr<ReadView>(new ReadView(this, db_->GetSnapshot()));
}

int64_t MvccStore::DbSize() const {
  SharedHold hold(gate_);
  uint64_t sst = 0, mem = 0;
  db_->GetAggregatedIntProperty("rocksdb.total-sst-files-size", &sst);
  db_->GetAggregatedIntProperty("rocksdb.cur-size-all-mem-tables", &mem);
  return static_cast<int64_t>(sst + mem);
}

int64_t MvccStore::LiveDataSize() const {
  SharedHold hold(gate_);
  uint64_t sst = 0, live = 0, mem = 0;
  db_->GetAggregatedIntProperty("rocksdb.total-sst-files-size", &sst);
  db_->GetAggregatedIntProperty("rocksdb.estimate-live-data-size", &live);
  db_->GetAggregatedIntProperty("rocksdb.cur-size-all-mem-tables", &mem);
  // The estimate can run past the files it estimates (it is per level).
  return static_cast<int64_t>(std::min(live, sst) + mem);
}

int64_t MvccStore::OpenSnapshots() const {
  SharedHold hold(gate_);
  uint64_t n = 0;
  db_->GetIntProperty("rocksdb.num-snapshots", &n);
  return static_cast<int64_t>(n);
}

absl::StatusOr<std::string> MvccStore::GetMeta(std::string_view name) const {
  SharedHold hold(gate_);
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), meta_cf_, rocksdb::Slice(name.data(), name.size()), &v);
  if (!s.ok()) return FromRocks(s);
  return v;
}

std::vector<std::pair<std::string, std::string>> MvccStore::ListMeta(std::string_view prefix) const {
  SharedHold hold(gate_);
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_cf_));
  const rocksdb::Slice p(prefix.data(), prefix.size());
  for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  return out;
}

}  // namespace storage
