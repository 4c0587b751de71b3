// Private to the MvccStore's .cc files: the column-family value formats
// and the range walk shared by ReadView and WriteTxn. Not a public header.
//
// Column families:
//   kv    EncodeKvKey(user key, revision) -> a serialized mvccpb.KeyValue,
//         or empty for a tombstone (etcd keys are never empty, so a live
//         record is never empty).
//   rev   EncodeRevKey(revision) -> one type byte ('p' put, 'd' delete)
//         then the user key.
//   live  the raw user key, with an empty value, of each key that is live
//         at the newest revision. Reads at the newest revision count keys
//         from it without walking their histories. Only a key's creation
//         and deletion touch it: an update of a live key writes nothing
//         there, so hot keys pile up no overwritten entries to skip.
//   meta  storage/meta_schema.h.
#pragma once

#include <functional>
#include <string_view>

#include "absl/status/statusor.h"
#include "rocksdb/iterator.h"
#include "rocksdb/slice.h"
#include "storage/mvcc_store.h"

namespace storage::mvcc_internal {

inline bool IsTombstone(const rocksdb::Slice& v) { return v.empty(); }

inline constexpr char kRevPut = 'p';
inline constexpr char kRevDelete = 'd';

// RocksDB's rate limiter cannot be switched off once set: the store's runs
// at a rate no disk reaches but for a defrag (MvccStore::Defragment).
inline constexpr int64_t kUnpacedBytesPerSecond = int64_t{8} << 30;

// Paced deletion (MvccStoreOptions::delete_bytes_per_second): a large
// obsolete file is truncated this much at a time, and the trash waiting
// may reach this multiple of the store's size before files go at once.
// A defrag replaces the whole store, so its trash is about the store's
// size: at 0.25 the later three quarters went at once and stalled the raft
// log's fdatasyncs again (the writer's p99 during the defrags 2.1x idle at
// 1M keys; 1.3x at 4.0).
inline constexpr uint64_t kDeleteChunkBytes = uint64_t{4} << 20;
inline constexpr double kMaxTrashRatio = 4.0;

// The block cache all column families share. Every put seeks its key's
// latest version; with RocksDB's default (32 MiB) a store of 100k keys
// written 400k times read and decompressed table blocks on most of them.
inline constexpr size_t kBlockCacheBytes = size_t{128} << 20;

inline std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }
inline rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

using KvVisitor = std::function<void(const mvccpb::KeyValue&)>;

// Walks the kv column family and applies etcd's range rules at revision
// opts.rev (0: cur_rev). `it` iterates the kv column family (with or
// without a batch). With `visit`, every live key-value goes to it instead
// of into the result. `live` (may be null) iterates the live column family
// on the same snapshot or batch: at the newest revision, once no more
// key-values are wanted, the rest of the range is counted from it, one step
// per key whatever its history.
absl::StatusOr<RangeResult> RangeOver(rocksdb::Iterator* it, rocksdb::Iterator* live,
                                      const KeyRange& range, const RangeOptions& opts,
                                      int64_t cur_rev, int64_t compact_rev,
                                      const KvVisitor* visit = nullptr);

// Visits the newest version of each key of the kv column family (it sorts
// first among the key's versions), through `kv`, an iterator on it: the
// user key and the stored value (empty for a tombstone). Stops at the
// visitor's first error; an undecodable key is DataLoss.
using NewestVersionVisitor =
    std::function<absl::Status(const std::string& user_key, const rocksdb::Slice& value)>;
absl::Status ForEachNewestVersion(rocksdb::Iterator* kv, const NewestVersionVisitor& visit);

}  // namespace storage::mvcc_internal
