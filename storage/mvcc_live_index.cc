// The live column family (see mvcc_internal.h): built once for a store
// written before it existed, or whose build was interrupted.
#include "rocksdb/db.h"
#include "storage/key_codec.h"
#include "storage/meta_schema.h"
#include "storage/mvcc_internal.h"
#include "storage/rocks_status.h"

namespace storage {

using mvcc_internal::IsTombstone;
using mvcc_internal::View;

absl::Status mvcc_internal::ForEachNewestVersion(rocksdb::Iterator* kv, const NewestVersionVisitor& visit) {
  kv->SeekToFirst();
  while (kv->Valid()) {
    auto decoded = DecodeKvKey(View(kv->key()));
    if (!decoded) return absl::DataLossError("mvcc: undecodable key in kv column family");
    if (auto s = visit(decoded->user_key, kv->value()); !s.ok()) return s;
    kv->Seek(EncodeUserKeySuccessor(decoded->user_key));
  }
  return FromRocks(kv->status());
}

// A store written before the live column family existed (or a snapshot
// from such a member) gets it built here, once; an interrupted build is
// redone from scratch on the next open.
absl::Status MvccStore::BuildLiveIndex() {
  std::string marker;
  auto s = db_->Get(rocksdb::ReadOptions(), meta_cf_, kMetaLiveIndex, &marker);
  if (s.ok()) return absl::OkStatus();
  if (!s.IsNotFound()) return FromRocks(s);
  rocksdb::WriteBatch wb;
  auto flush = [&]() -> absl::Status {
    if (wb.Count() == 0) return absl::OkStatus();
    auto st = FromRocks(db_->Write(rocksdb::WriteOptions(), &wb));
    wb.Clear();
    return st;
  };
  std::unique_ptr<rocksdb::Iterator> stale(db_->NewIterator(rocksdb::ReadOptions(), live_cf_));
  for (stale->SeekToFirst(); stale->Valid(); stale->Next()) {
    wb.Delete(live_cf_, stale->key());
    if (wb.Count() >= 10000) {
      if (auto st = flush(); !st.ok()) return st;
    }
  }
  if (!stale->status().ok()) return FromRocks(stale->status());
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), kv_cf_));
  int64_t live = 0;
  auto walked = mvcc_internal::ForEachNewestVersion(
      it.get(), [&](const std::string& user_key, const rocksdb::Slice& value) -> absl::Status {
        if (IsTombstone(value)) return absl::OkStatus();
        wb.Put(live_cf_, user_key, rocksdb::Slice());
        ++live;
        return wb.Count() >= 10000 ? flush() : absl::OkStatus();
      });
  if (!walked.ok()) return walked;
  wb.Put(meta_cf_, kMetaLiveKeys, EncodeMetaInt64(live));
  wb.Put(meta_cf_, kMetaLiveIndex, kMetaLiveIndexDone);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto st = FromRocks(db_->Write(wo, &wb));
  return st;
}

// The live-key count, from the meta table; a store written before the
// count was kept (or a checkpoint from such a member) has it counted from
// the live column family here, once, and written back.
absl::Status MvccStore::LoadLiveKeys() {
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), meta_cf_, kMetaLiveKeys, &v);
  if (s.ok()) {
    live_keys_.store(DecodeMetaInt64(v), std::memory_order_release);
    return absl::OkStatus();
  }
  if (!s.IsNotFound()) return FromRocks(s);
  int64_t live = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), live_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++live;
  if (!it->status().ok()) return FromRocks(it->status());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (auto st = FromRocks(db_->Put(wo, meta_cf_, kMetaLiveKeys, EncodeMetaInt64(live))); !st.ok()) return st;
  live_keys_.store(live, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status MvccStore::DropLiveIndexForTest() {
  SharedHold hold(gate_);
  rocksdb::WriteBatch wb;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), live_cf_));
  int n = 0;
  // Leave a stale entry behind, as an interrupted build could.
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (n++ % 2 == 0) wb.Delete(live_cf_, it->key());
  }
  wb.Put(live_cf_, "stale-entry", rocksdb::Slice());
  wb.Delete(meta_cf_, kMetaLiveIndex);
  wb.Put(meta_cf_, kMetaLiveKeys, EncodeMetaInt64(-12345));  // a wrong count, for the rebuild to fix
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &wb));
}

absl::Status MvccStore::DropLiveKeysForTest() {
  SharedHold hold(gate_);
  return FromRocks(db_->Delete(rocksdb::WriteOptions(), meta_cf_, kMetaLiveKeys));
}

}  // namespace storage
