// ReadView's whole-history reads for backups: the applied index, the meta
// table as of the view, and the stored revisions etcd's compaction keeps.
#include <limits>

#include "rocksdb/db.h"
#include "storage/key_codec.h"
#include "storage/meta_schema.h"
#include "storage/mvcc_internal.h"
#include "storage/rocks_status.h"

namespace storage {

using mvcc_internal::IsTombstone;
using mvcc_internal::kRevDelete;
using mvcc_internal::View;

uint64_t ReadView::AppliedIndex() const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snap_;
  std::string v;
  if (!store_->db_->Get(ro, store_->meta_cf_, kMetaAppliedIndex, &v).ok()) return 0;
  return static_cast<uint64_t>(DecodeMetaInt64(v));
}

std::vector<std::pair<std::string, std::string>> ReadView::ListMeta(std::string_view prefix) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snap_;
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(store_->db_->NewIterator(ro, store_->meta_cf_));
  const rocksdb::Slice p(prefix.data(), prefix.size());
  for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  return out;
}

namespace {

// Positions `kvs` on the newest version of `key` at or below `at`; false
// when the key has none.
bool SeekVersionAtOrBelow(rocksdb::Iterator* kvs, const std::string& key, int64_t at,
                          Revision* found) {
  // Versions sort newest first, so the largest sub of `at` comes first.
  kvs->Seek(EncodeKvKey(key, {at, std::numeric_limits<int64_t>::max()}));
  if (!kvs->Valid()) return false;
  auto decoded = DecodeKvKey(View(kvs->key()));
  if (!decoded || decoded->user_key != key) return false;
  *found = decoded->rev;
  return true;
}

}  // namespace

absl::Status ReadView::ForEachKeptRevision(const KeptRevisionVisitor& visit) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snap_;
  std::unique_ptr<rocksdb::Iterator> revs(store_->db_->NewIterator(ro, store_->rev_cf_));
  std::unique_ptr<rocksdb::Iterator> kvs(store_->db_->NewIterator(ro, store_->kv_cf_));
  const int64_t compact = std::max<int64_t>(compact_rev_, 0);
  mvccpb::KeyValue kv;
  for (revs->SeekToFirst(); revs->Valid(); revs->Next()) {
    auto rev = DecodeRevKey(View(revs->key()));
    if (!rev) return absl::DataLossError("mvcc: undecodable key in rev column family");
    if (rev->main > rev_) break;
    const rocksdb::Slice v = revs->value();
    if (v.empty()) return absl::DataLossError("mvcc: empty rev record");
    const bool tombstone = v[0] == kRevDelete;
    const std::string key(v.data() + 1, v.size() - 1);
    if (rev->main <= compact && tombstone) continue;
    if (rev->main < compact) {
      // Kept only as the key's newest version at or below the compaction
      // (physical compaction may have removed it already).
      Revision at;
      if (!SeekVersionAtOrBelow(kvs.get(), key, compact, &at) || at != *rev ||
          IsTombstone(kvs->value())) {
        continue;
      }
    } else {
      const std::string kv_key = EncodeKvKey(key, *rev);
      kvs->Seek(kv_key);
      if (!kvs->Valid() || kvs->key() != rocksdb::Slice(kv_key)) {
        return absl::DataLossError("mvcc: a revision without its key-value record");
      }
    }
    kv.Clear();
    if (tombstone) {
      kv.set_key(key);
    } else if (!kv.ParseFromArray(kvs->value().data(), static_cast<int>(kvs->value().size()))) {
      return absl::DataLossError("mvcc: undecodable key-value record");
    }
    if (absl::Status s = visit(*rev, tombstone, kv); !s.ok()) return s;
  }
  if (!revs->status().ok()) return FromRocks(revs->status());
  if (!kvs->status().ok()) return FromRocks(kvs->status());
  return absl::OkStatus();
}

}  // namespace storage
