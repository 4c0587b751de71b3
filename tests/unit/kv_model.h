// KvModel: a deliberately naive in-memory model of etcd's MVCC key space, the
// oracle the unit tests compare storage::MvccStore and server::Applier with.
//
// Every key keeps its whole history as a vector of versions in (main, sub)
// order; a delete is a tombstone version. Reads at revision R take, per key,
// the newest version with main <= R and skip tombstones. Compaction to C keeps
// each key's newest version <= C unless it is a tombstone, and everything
// written at C itself, and drops everything older: what the store's physical
// compaction leaves behind.
// Byte order: std::string compares through char_traits<char>, which the
// standard defines as unsigned char comparison, i.e. etcd's bytes.Compare.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mvccpb/kv.pb.h"

namespace ketcd_test {

struct Version {
  int64_t main = 0;
  int64_t sub = 0;
  bool tombstone = false;
  std::string value;
  int64_t create_rev = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

enum class ReadError { kNone, kCompacted, kFutureRev };

struct ModelRange {
  ReadError error = ReadError::kNone;
  std::vector<mvccpb::KeyValue> kvs;
  int64_t count = 0;
  int64_t rev = 0;
};

// etcd's range rule: empty end = just `key`; "\0" = every key >= key;
// otherwise [key, end).
inline bool InEtcdRange(const std::string& k, const std::string& key, const std::string& end) {
  if (end.empty()) return k == key;
  if (end == std::string(1, '\0')) return k >= key;
  return k >= key && k < end;
}

// clientv3.GetPrefixRangeEnd.
inline std::string PrefixEnd(std::string key) {
  for (int i = static_cast<int>(key.size()) - 1; i >= 0; --i) {
    if (static_cast<unsigned char>(key[i]) < 0xff) {
      key[i] = static_cast<char>(static_cast<unsigned char>(key[i]) + 1);
      key.resize(i + 1);
      return key;
    }
  }
  return std::string(1, '\0');
}

class KvModel {
 public:
  int64_t rev() const { return rev_; }
  int64_t compact_rev() const { return compact_; }
  int64_t write_rev() const { return write_rev_; }
  int64_t RevAfter() const { return sub_ > 0 ? write_rev_ : write_rev_ - 1; }

  // One request: Begin(), any Put/DeleteRange/Range, End().
  void Begin() {
    write_rev_ = rev_ + 1;
    sub_ = 0;
    in_txn_ = true;
  }
  void End() {
    rev_ = RevAfter();
    in_txn_ = false;
  }

  mvccpb::KeyValue Put(const std::string& key, const std::string& value, int64_t lease) {
    Version v{write_rev_, sub_++, false, value, write_rev_, 1, lease};
    auto& hist = keys_[key];
    if (!hist.empty() && !hist.back().tombstone) {
      v.create_rev = hist.back().create_rev;
      v.version = hist.back().version + 1;
    }
    hist.push_back(v);
    return ToKv(key, v);
  }

  std::vector<mvccpb::KeyValue> DeleteRange(const std::string& key, const std::string& end) {
    auto found = Range(key, end, 0, 0, false);
    for (const auto& kv : found.kvs) {
      Version v;
      v.main = write_rev_;
      v.sub = sub_++;
      v.tombstone = true;
      keys_[kv.key()].push_back(v);
    }
    return found.kvs;
  }

  // Reads see the open request's own writes, as etcd's write txn does.
  ModelRange Range(const std::string& key, const std::string& end, int64_t limit, int64_t at_rev,
                   bool count_only) const {
    const int64_t cur = in_txn_ ? RevAfter() : rev_;
    ModelRange out;
    if (at_rev > cur) {
      out.error = ReadError::kFutureRev;
      return out;
    }
    if (at_rev <= 0) at_rev = cur;
    if (at_rev < compact_) {
      out.error = ReadError::kCompacted;
      return out;
    }
    out.rev = cur;
    for (const auto& [k, hist] : keys_) {
      if (!InEtcdRange(k, key, end)) continue;
      const Version* v = At(hist, at_rev);
      if (v == nullptr || v->tombstone) continue;
      ++out.count;
      if (!count_only && (limit <= 0 || static_cast<int64_t>(out.kvs.size()) < limit)) {
        out.kvs.push_back(ToKv(k, *v));
      }
    }
    return out;
  }

  std::optional<mvccpb::KeyValue> Get(const std::string& key) const {
    auto r = Range(key, "", 0, 0, false);
    if (r.kvs.empty()) return std::nullopt;
    return r.kvs[0];
  }

  ReadError Compact(int64_t rev) {
    if (rev <= compact_) return ReadError::kCompacted;
    if (rev > rev_) return ReadError::kFutureRev;
    compact_ = rev;
    for (auto it = keys_.begin(); it != keys_.end();) {
      auto& hist = it->second;
      int keep = -1;
      for (int i = static_cast<int>(hist.size()) - 1; i >= 0; --i) {
        if (hist[i].main <= rev) {
          keep = i;
          break;
        }
      }
      if (keep >= 0) {
        int drop = keep + (hist[keep].tombstone ? 1 : 0);
        if (hist[keep].main == rev) {
          // Revision C itself stays whole (a watch may start there).
          drop = 0;
          while (hist[drop].main < rev) ++drop;
        }
        hist.erase(hist.begin(), hist.begin() + drop);
      }
      if (hist.empty()) {
        it = keys_.erase(it);
      } else {
        ++it;
      }
    }
    return ReadError::kNone;
  }

  // Keys whose newest version is not a delete (etcd's keys_total).
  int64_t LiveKeyCount() const {
    int64_t n = 0;
    for (const auto& [k, hist] : keys_) n += !hist.empty() && !hist.back().tombstone;
    return n;
  }

  // Physical (key, revision) records, tombstones included.
  int64_t VersionCount() const {
    int64_t n = 0;
    for (const auto& [k, hist] : keys_) n += static_cast<int64_t>(hist.size());
    return n;
  }

  static mvccpb::KeyValue ToKv(const std::string& key, const Version& v) {
    mvccpb::KeyValue kv;
    kv.set_key(key);
    kv.set_value(v.value);
    kv.set_create_revision(v.create_rev);
    kv.set_mod_revision(v.main);
    kv.set_version(v.version);
    kv.set_lease(v.lease);
    return kv;
  }

 private:
  static const Version* At(const std::vector<Version>& hist, int64_t at_rev) {
    for (auto it = hist.rbegin(); it != hist.rend(); ++it) {
      if (it->main <= at_rev) return &*it;
    }
    return nullptr;
  }

  std::map<std::string, std::vector<Version>> keys_;
  int64_t rev_ = 1;  // an empty etcd store is at revision 1
  int64_t compact_ = -1;  // as etcd: nothing compacted, so compacting revision 0 succeeds
  int64_t write_rev_ = 0;
  int64_t sub_ = 0;
  bool in_txn_ = false;
};

// Printable forms, so a failed comparison shows both sides readably.
inline std::string Esc(const std::string& s) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out + "\"";
}

inline std::string KvStr(const mvccpb::KeyValue& kv) {
  return "{" + Esc(kv.key()) + "=" + Esc(kv.value()) + " c" + std::to_string(kv.create_revision()) +
         " m" + std::to_string(kv.mod_revision()) + " v" + std::to_string(kv.version()) + " l" +
         std::to_string(kv.lease()) + "}";
}

template <typename Container>
std::string KvsStr(const Container& kvs) {
  std::string out = "[";
  for (const auto& kv : kvs) out += KvStr(kv) + " ";
  return out + "]";
}

}  // namespace ketcd_test
