#include "storage/mvcc_store.h"

#include <cstdio>
#include <limits>
#include <unordered_map>

#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "storage/errors.h"
#include "storage/key_codec.h"
#include "storage/rocks_status.h"
#include "storage/snapshot_install.h"

namespace storage {
namespace {

constexpr char kMetaRev[] = "rev";
constexpr char kMetaCompactRev[] = "compact_rev";
constexpr char kMetaCompactFinished[] = "compact_finished";
constexpr char kMetaAppliedIndex[] = "applied_index";
// Present once the live column family holds every live key (see OpenDb).
constexpr char kMetaLiveIndex[] = "live_index";

// live column family: the raw user key, with an empty value, of each key
// that is live at the newest revision. Reads at the newest revision count
// keys from it without walking their histories. Only a key's creation and
// deletion touch it: an update of a live key writes nothing there, so hot
// keys pile up no overwritten entries for an iterator to skip.

// A kv column-family value: a serialized mvccpb.KeyValue, or empty for a
// tombstone (etcd keys are never empty, so a live record is never empty).
bool IsTombstone(const rocksdb::Slice& v) { return v.empty(); }

// rev column-family value: one type byte then the user key.
constexpr char kRevPut = 'p';
constexpr char kRevDelete = 'd';

std::string EncodeInt(int64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<uint64_t>(v) >> (56 - 8 * i)) & 0xff);
  return out;
}

int64_t DecodeInt(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return static_cast<int64_t>(v);
}

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

// Counts the entries of the live column family in [from, end) (`to_end`: no
// end): the live keys there at the newest revision.
absl::StatusOr<int64_t> CountLive(rocksdb::Iterator* live, std::string_view from,
                                  const KeyRange& range) {
  int64_t n = 0;
  const rocksdb::Slice end = ToSlice(range.end);
  for (live->Seek(ToSlice(from)); live->Valid(); live->Next()) {
    if (!range.to_end && live->key().compare(end) >= 0) break;
    ++n;
  }
  if (!live->status().ok()) return FromRocks(live->status());
  return n;
}

std::string LeaseIdHex(int64_t lease) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(lease));
  return buf;
}

// Walks the kv column family and applies etcd's range rules at revision
// `at_rev`. `it` must iterate the kv column family (with or without a batch).
using KvVisitor = std::function<void(const mvccpb::KeyValue&)>;

// With `visit`, every live key-value goes to it instead of into the result.
// `live` iterates the live column family (same snapshot or batch as `it`):
// at the newest revision, once no more key-values are wanted, the rest of
// the range is counted from it, one step per key whatever its history.
absl::StatusOr<RangeResult> RangeOver(rocksdb::Iterator* it, rocksdb::Iterator* live,
                                      const KeyRange& range, const RangeOptions& opts,
                                      int64_t cur_rev, int64_t compact_rev,
                                      const KvVisitor* visit = nullptr) {
  RangeResult result;
  int64_t at_rev = opts.rev;
  if (at_rev > cur_rev) {
    return FutureRevError();
  }
  if (at_rev <= 0) at_rev = cur_rev;
  if (at_rev < compact_rev) {
    return CompactedError();
  }
  result.rev = cur_rev;
  if (!range.single && !range.to_end && range.end <= range.key) return result;
  const bool count_rest_from_live = live != nullptr && !range.single && !visit && at_rev == cur_rev;
  auto collected_enough = [&] {
    return opts.count_only || (opts.limit > 0 && static_cast<int64_t>(result.kvs.size()) >= opts.limit);
  };
  if (count_rest_from_live && collected_enough()) {
    auto n = CountLive(live, range.key, range);
    if (!n.ok()) return n.status();
    result.count = *n;
    return result;
  }

  std::string upper;
  if (range.single) {
    upper = EncodeUserKeySuccessor(range.key);
  } else if (!range.to_end) {
    upper = EncodeUserKey(range.end);
  }
  const rocksdb::Slice upper_slice(upper);
  it->Seek(EncodeUserKey(range.key));
  while (it->Valid()) {
    if (!upper.empty() && it->key().compare(upper_slice) >= 0) break;
    auto decoded = DecodeKvKey(View(it->key()));
    if (!decoded) return absl::DataLossError("mvcc: undecodable key in kv column family");
    if (decoded->rev.main > at_rev) {
      // Skip the versions newer than the read revision in one seek.
      it->Seek(EncodeKvKey(decoded->user_key, {at_rev, std::numeric_limits<int64_t>::max()}));
      if (!it->Valid()) break;
      auto again = DecodeKvKey(View(it->key()));
      if (!again) return absl::DataLossError("mvcc: undecodable key in kv column family");
      if (again->user_key != decoded->user_key) continue;  // no version <= at_rev
      decoded = std::move(again);
    }
    if (!IsTombstone(it->value())) {
      ++result.count;
      if (visit) {
        mvccpb::KeyValue kv;
        if (!kv.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
          return absl::DataLossError("mvcc: undecodable key-value record");
        }
        (*visit)(kv);
      } else if (!opts.count_only &&
          (opts.limit <= 0 || static_cast<int64_t>(result.kvs.size()) < opts.limit)) {
        mvccpb::KeyValue kv;
        if (!kv.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
          return absl::DataLossError("mvcc: undecodable key-value record");
        }
        result.kvs.push_back(std::move(kv));
      }
    }
    if (range.single) break;
    if (count_rest_from_live && collected_enough()) {
      std::string next_key = decoded->user_key;
      next_key.push_back('\0');  // the smallest key after it
      auto n = CountLive(live, next_key, range);
      if (!n.ok()) return n.status();
      result.count += *n;
      return result;
    }
    // On to the next user key: a few Next() steps reach it when this key has
    // few versions (the common case), and are much cheaper than a Seek.
    const std::string successor = EncodeUserKeySuccessor(decoded->user_key);
    const rocksdb::Slice successor_slice(successor);
    bool arrived = false;
    for (int step = 0; step < 4 && !arrived; ++step) {
      it->Next();
      arrived = !it->Valid() || it->key().compare(successor_slice) >= 0;
    }
    if (!arrived) it->Seek(successor_slice);
  }
  if (!it->status().ok()) return FromRocks(it->status());
  return result;
}

}  // namespace

bool KeyRange::Contains(std::string_view k) const {
  if (single) return k == key;
  if (k < std::string_view(key)) return false;
  return to_end || k < std::string_view(end);
}

KeyRange KeyRange::FromEtcd(std::string_view key, std::string_view range_end) {
  KeyRange r;
  r.key = std::string(key);
  if (range_end.empty()) {
    r.single = true;
  } else if (range_end.size() == 1 && range_end[0] == '\0') {
    r.single = false;
    r.to_end = true;
  } else {
    r.single = false;
    r.end = std::string(range_end);
  }
  return r;
}

// ---------------------------------------------------------------- ReadView

ReadView::ReadView(const MvccStore* store, const rocksdb::Snapshot* snap)
    : store_(store), snap_(snap) {
  // The caller (MvccStore::Read) took the shared hold for this view.
  rocksdb::ReadOptions ro;
  ro.snapshot = snap_;
  std::string v;
  if (store_->db_->Get(ro, store_->meta_cf_, kMetaRev, &v).ok()) rev_ = DecodeInt(v);
  if (store_->db_->Get(ro, store_->meta_cf_, kMetaCompactRev, &v).ok()) compact_rev_ = DecodeInt(v);
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
    if (with_prev) {
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

std::string LeaseKeyMetaKey(int64_t lease, std::string_view key) {
  std::string out = LeaseKeysMetaPrefix(lease);
  out.append(key);
  return out;
}

std::string LeaseKeysMetaPrefix(int64_t lease) {
  return std::string(kLeaseKeyMetaPrefix) + LeaseIdHex(lease) + "/";
}

std::vector<std::string> MvccStore::LeaseKeys(int64_t lease) const {
  std::vector<std::string> out;
  const std::string prefix = LeaseKeysMetaPrefix(lease);
  for (auto& [k, v] : ListMeta(prefix)) out.push_back(k.substr(prefix.size()));
  return out;
}

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
    std::unique_ptr<rocksdb::Iterator> base(store->db_->NewIterator(rocksdb::ReadOptions(), store->kv_cf_));
    std::unique_ptr<rocksdb::Iterator> it(batch_->wb_->NewIteratorWithBase(store->kv_cf_, base.release()));
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
  if (s.ok()) s = batch_->wb_->Put(store->rev_cf_, EncodeRevKey(rev), rev_value);
  if (s.ok() && !was_live) s = batch_->wb_->Put(store->live_cf_, ToSlice(key), rocksdb::Slice());
  if (!s.ok()) return FromRocks(s);
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
    if (s.ok()) s = batch_->wb_->Put(store->rev_cf_, EncodeRevKey(rev), rev_value);
    if (s.ok()) s = batch_->wb_->Delete(store->live_cf_, kv.key());
    if (s.ok() && kv.lease() != 0) s = batch_->wb_->Delete(store->meta_cf_, LeaseKeyMetaKey(kv.lease(), kv.key()));
    if (!s.ok()) return FromRocks(s);
  }
  return std::move(found->kvs);
}

// ---------------------------------------------------------------- WriteBatch

WriteBatch::WriteBatch(MvccStore* store)
    : store_(store),
      wb_(std::make_unique<rocksdb::WriteBatchWithIndex>(rocksdb::BytewiseComparator(), 0,
                                                        /*overwrite_key=*/true)),
      rev_(store->Rev()),
      compact_rev_(store->CompactRev()) {}

WriteBatch::~WriteBatch() = default;

WriteTxn WriteBatch::BeginTxn() { return WriteTxn(this, rev_ + 1); }

void WriteBatch::EndTxn(const WriteTxn& txn) { rev_ = txn.rev_after(); }

absl::Status WriteBatch::Compact(int64_t rev) {
  if (rev <= compact_rev_) return CompactedError();
  if (rev > rev_) return FutureRevError();
  compact_rev_ = rev;
  scheduled_compact_ = rev;
  return FromRocks(wb_->Put(store_->meta_cf_, kMetaCompactRev, EncodeInt(rev)));
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
  auto s = wb_->Put(store_->meta_cf_, kMetaRev, EncodeInt(rev_));
  if (s.ok()) s = wb_->Put(store_->meta_cf_, kMetaAppliedIndex, EncodeInt(static_cast<int64_t>(applied_index)));
  if (!s.ok()) return FromRocks(s);
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  s = store_->db_->Write(wo, wb_->GetWriteBatch());
  if (!s.ok()) return FromRocks(s);
  store_->OnCommitted(*this, applied_index);
  return absl::OkStatus();
}

// ---------------------------------------------------------------- MvccStore

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

absl::StatusOr<std::unique_ptr<MvccStore>> MvccStore::Open(const std::string& dir) {
  std::unique_ptr<MvccStore> store(new MvccStore());
  store->dir_ = dir;
  if (auto s = store->OpenDb(); !s.ok()) return s;
  store->StartCompactor();
  return store;
}

absl::Status MvccStore::OpenDb() {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.IncreaseParallelism(2);
  options.keep_log_file_num = 4;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(options)},
      {"kv", rocksdb::ColumnFamilyOptions(options)},
      {"rev", rocksdb::ColumnFamilyOptions(options)},
      {"meta", rocksdb::ColumnFamilyOptions(options)},
      {"live", rocksdb::ColumnFamilyOptions(options)},
  };
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
  // The newest version of each key sorts first among its versions.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), kv_cf_));
  it->SeekToFirst();
  while (it->Valid()) {
    auto decoded = DecodeKvKey(View(it->key()));
    if (!decoded) return absl::DataLossError("mvcc: undecodable key in kv column family");
    if (!IsTombstone(it->value())) {
      wb.Put(live_cf_, decoded->user_key, rocksdb::Slice());
      if (wb.Count() >= 10000) {
        if (auto st = flush(); !st.ok()) return st;
      }
    }
    it->Seek(EncodeUserKeySuccessor(decoded->user_key));
  }
  if (!it->status().ok()) return FromRocks(it->status());
  wb.Put(meta_cf_, kMetaLiveIndex, "1");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto st = FromRocks(db_->Write(wo, &wb));
  return st;
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

void MvccStore::StartCompactor() {
  {
    std::lock_guard<std::mutex> lock(compact_mu_);
    stopping_ = false;
  }
  compactor_ = std::thread([this] { CompactorLoop(); });
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
    *out = DecodeInt(v);
    return absl::OkStatus();
  };
  // An empty store is at revision 1, so the first write is revision 2, as in etcd.
  // Nothing is compacted yet: -1 lets a first compaction at revision 0 succeed, as in etcd.
  int64_t rev = 1, compact = -1, finished = 0, applied = 0;
  for (auto [name, out] : {std::pair{kMetaRev, &rev}, {kMetaCompactRev, &compact},
                           {kMetaCompactFinished, &finished}, {kMetaAppliedIndex, &applied}}) {
    if (auto s = get(name, out); !s.ok()) return s;
  }
  rev_.store(rev);
  compact_rev_.store(compact);
  applied_index_.store(static_cast<uint64_t>(applied));
  std::lock_guard<std::mutex> lock(compact_mu_);
  compact_finished_ = finished;
  compact_target_ = compact;
  return absl::OkStatus();
}

std::unique_ptr<ReadView> MvccStore::Read() const {
  gate_.LockShared();  // released by ~ReadView
  return std::unique_ptr<ReadView>(new ReadView(this, db_->GetSnapshot()));
}

std::unique_ptr<WriteBatch> MvccStore::Write() {
  return std::unique_ptr<WriteBatch>(new WriteBatch(this));
}

void MvccStore::OnCommitted(const WriteBatch& batch, uint64_t applied_index) {
  rev_.store(batch.rev_, std::memory_order_release);
  compact_rev_.store(batch.compact_rev_, std::memory_order_release);
  applied_index_.store(applied_index, std::memory_order_release);
  if (batch.scheduled_compact_ > 0) {
    {
      std::lock_guard<std::mutex> lock(compact_mu_);
      compact_target_ = std::max(compact_target_, batch.scheduled_compact_);
    }
    compact_cv_.notify_all();
  }
  if (commit_listener_) commit_listener_();
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

void MvccStore::CompactorLoop() {
  while (true) {
    int64_t target;
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
      target = std::min(compact_target_, HoldLimit());
    }
    std::string cursor;
    bool done = false;
    while (!done) {
      {
        std::lock_guard<std::mutex> lock(compact_mu_);
        if (stopping_) return;
      }
      auto s = CompactStep(target, &cursor, &done);
      if (!s.ok()) {
        // Physical compaction only frees space; a failed step is retried from
        // the start on the next request or restart, reads stay correct.
        fprintf(stderr, "ketcd: compaction to %lld failed: %s\n",
                static_cast<long long>(target), std::string(s.message()).c_str());
        break;
      }
    }
    if (!done) continue;
    (void)db_->Put(rocksdb::WriteOptions(), meta_cf_, kMetaCompactFinished, EncodeInt(target));
    {
      std::lock_guard<std::mutex> lock(compact_mu_);
      compact_finished_ = std::max(compact_finished_, target);
    }
    compact_cv_.notify_all();
    RunCompactWaiters(/*all=*/false);
  }
}

// One bounded batch: examines up to compaction_batch_ revisions at or below
// `target`, deleting each version that is not the newest live one of its key
// at `target`. Safe beside the apply loop: it only writes revisions > target.
absl::Status MvccStore::CompactStep(int64_t target, std::string* cursor, bool* done) {
  rocksdb::WriteBatch wb;
  std::unordered_map<std::string, std::optional<Revision>> keep;  // key -> version kept
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), rev_cf_));
  std::unique_ptr<rocksdb::Iterator> kv_it(db_->NewIterator(rocksdb::ReadOptions(), kv_cf_));
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
  *done = !it->Valid() || it->key().compare(limit) >= 0;
  if (!*done) *cursor = it->key().ToString();
  if (wb.Count() == 0) return absl::OkStatus();
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &wb));
}

absl::Status MvccStore::Sync() {
  SharedHold hold(gate_);
  return FromRocks(db_->FlushWAL(/*sync=*/true));
}

int64_t MvccStore::DbSize() const {
  SharedHold hold(gate_);
  uint64_t sst = 0, mem = 0;
  db_->GetAggregatedIntProperty("rocksdb.total-sst-files-size", &sst);
  db_->GetAggregatedIntProperty("rocksdb.cur-size-all-mem-tables", &mem);
  return static_cast<int64_t>(sst + mem);
}

absl::StatusOr<std::string> MvccStore::GetMeta(std::string_view name) const {
  SharedHold hold(gate_);
  std::string v;
  auto s = db_->Get(rocksdb::ReadOptions(), meta_cf_, rocksdb::Slice(name.data(), name.size()), &v);
  if (!s.ok()) return FromRocks(s);
  return v;
}

absl::Status MvccStore::PutMeta(std::string_view name, std::string_view value) {
  SharedHold hold(gate_);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, meta_cf_, rocksdb::Slice(name.data(), name.size()),
                            rocksdb::Slice(value.data(), value.size())));
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
  return FromRocks(db_->Write(rocksdb::WriteOptions(), &wb));
}

int64_t MvccStore::CountVersionsForTest() const {
  SharedHold hold(gate_);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), kv_cf_));
  int64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  return n;
}

}  // namespace storage
