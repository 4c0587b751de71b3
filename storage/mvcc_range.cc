// etcd's range rules over the kv column family: KeyRange, and the walk
// shared by ReadView::Range/Scan and WriteTxn::Range.
#include <limits>

#include "storage/errors.h"
#include "storage/key_codec.h"
#include "storage/mvcc_internal.h"
#include "storage/rocks_status.h"

namespace storage {

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

namespace mvcc_internal {
namespace {

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

// The revision a read at `requested` (0: the newest) sees, or etcd's error.
absl::StatusOr<int64_t> ReadRev(int64_t requested, int64_t cur_rev, int64_t compact_rev) {
  if (requested > cur_rev) return FutureRevError();
  const int64_t at_rev = requested <= 0 ? cur_rev : requested;
  if (at_rev < compact_rev) return CompactedError();
  return at_rev;
}

// `it` is at some version of `decoded->user_key`, newer than `at_rev`:
// moves it, in one seek, to the newest version at or below at_rev. False
// when the key has no such version (`it` is then past the key, or invalid).
absl::StatusOr<bool> SeekToVersionAt(rocksdb::Iterator* it, std::optional<DecodedKvKey>* decoded,
                                     int64_t at_rev) {
  it->Seek(EncodeKvKey((*decoded)->user_key, {at_rev, std::numeric_limits<int64_t>::max()}));
  if (!it->Valid()) return false;
  auto again = DecodeKvKey(View(it->key()));
  if (!again) return absl::DataLossError("mvcc: undecodable key in kv column family");
  if (again->user_key != (*decoded)->user_key) return false;
  *decoded = std::move(again);
  return true;
}

absl::StatusOr<mvccpb::KeyValue> ParseKv(const rocksdb::Slice& v) {
  mvccpb::KeyValue kv;
  if (!kv.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
    return absl::DataLossError("mvcc: undecodable key-value record");
  }
  return kv;
}

// On to the next user key: a few Next() steps reach it when this key has
// few versions (the common case), and are much cheaper than a Seek.
void NextUserKey(rocksdb::Iterator* it, const std::string& user_key) {
  const std::string successor = EncodeUserKeySuccessor(user_key);
  const rocksdb::Slice successor_slice(successor);
  bool arrived = false;
  for (int step = 0; step < 4 && !arrived; ++step) {
    it->Next();
    arrived = !it->Valid() || it->key().compare(successor_slice) >= 0;
  }
  if (!arrived) it->Seek(successor_slice);
}

}  // namespace

absl::StatusOr<RangeResult> RangeOver(rocksdb::Iterator* it, rocksdb::Iterator* live,
                                      const KeyRange& range, const RangeOptions& opts,
                                      int64_t cur_rev, int64_t compact_rev,
                                      const KvVisitor* visit) {
  auto at = ReadRev(opts.rev, cur_rev, compact_rev);
  if (!at.ok()) return at.status();
  const int64_t at_rev = *at;
  RangeResult result;
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
      auto found = SeekToVersionAt(it, &decoded, at_rev);
      if (!found.ok()) return found.status();
      if (!*found) continue;  // no version <= at_rev: `it` is past the key
    }
    if (!IsTombstone(it->value())) {
      ++result.count;
      const bool wanted = visit != nullptr || (!opts.count_only && (opts.limit <= 0 ||
          static_cast<int64_t>(result.kvs.size()) < opts.limit));
      if (wanted) {
        auto kv = ParseKv(it->value());
        if (!kv.ok()) return kv.status();
        if (visit) (*visit)(*kv); else result.kvs.push_back(std::move(*kv));
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
    NextUserKey(it, decoded->user_key);
  }
  if (!it->status().ok()) return FromRocks(it->status());
  return result;
}

}  // namespace mvcc_internal
}  // namespace storage
