// A bbolt database as plain maps, for the bbolt writer/reader tests and the
// backup test tool: random databases of every shape (empty, inline-sized
// and page-tree buckets, long keys, large values, nested buckets), written
// through bbolt::Writer and read back through bbolt::Reader.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/bbolt/file.h"
#include "storage/bbolt/reader.h"
#include "storage/bbolt/writer.h"
#include "storage/crc32c.h"

namespace ketcd_test {

struct BucketModel {
  std::map<std::string, std::string> keys;
  std::map<std::string, BucketModel> buckets;  // names never equal a key
  bool operator==(const BucketModel&) const = default;
};

inline std::string RandomBytes(std::mt19937_64& rng, size_t min, size_t max) {
  std::string s(std::uniform_int_distribution<size_t>(min, max)(rng), '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// One bucket of a random shape; nests up to `depth` more levels.
inline BucketModel RandomBucket(std::mt19937_64& rng, int depth) {
  struct Shape {
    int min_keys, max_keys;
    size_t key_min, key_max, value_min, value_max;
  };
  static constexpr Shape kShapes[] = {
      {0, 0, 1, 1, 0, 0},              // empty
      {1, 12, 1, 20, 0, 40},           // inline-sized
      {20, 400, 1, 40, 0, 300},        // a few leaves
      {5, 150, 100, 2000, 0, 100},     // long keys: deep branch trees
      {1, 6, 1, 30, 4000, 102400},     // values spanning overflow pages
      {1000, 6000, 1, 8, 0, 0},        // many tiny keys: wide branches
  };
  const Shape& shape = kShapes[rng() % std::size(kShapes)];
  BucketModel b;
  int n = std::uniform_int_distribution<int>(shape.min_keys, shape.max_keys)(rng);
  for (int i = 0; i < n; ++i) {
    b.keys[RandomBytes(rng, shape.key_min, shape.key_max)] =
        RandomBytes(rng, shape.value_min, shape.value_max);
  }
  if (depth > 0 && rng() % 5 == 0) {
    for (int i = 1 + static_cast<int>(rng() % 3); i > 0; --i) {
      std::string name = RandomBytes(rng, 1, 30);
      if (!b.keys.count(name)) b.buckets[name] = RandomBucket(rng, depth - 1);
    }
  }
  return b;
}

// The root: only buckets (bbolt's root bucket holds no keys).
inline BucketModel RandomDatabase(std::mt19937_64& rng) {
  BucketModel root;
  for (int i = static_cast<int>(rng() % 10); i > 0; --i) {
    root.buckets[RandomBytes(rng, 1, 12)] = RandomBucket(rng, 2);
  }
  return root;
}

// Writes the entries of `b` (keys and nested buckets merged in order).
inline absl::Status WriteBucketEntries(storage::bbolt::Writer* w, const BucketModel& b) {
  auto k = b.keys.begin();
  auto n = b.buckets.begin();
  while (k != b.keys.end() || n != b.buckets.end()) {
    absl::Status s;
    if (n == b.buckets.end() || (k != b.keys.end() && k->first < n->first)) {
      s = w->Put(k->first, k->second);
      ++k;
    } else {
      s = w->BeginBucket(n->first);
      if (s.ok()) s = WriteBucketEntries(w, n->second);
      if (s.ok()) s = w->EndBucket();
      ++n;
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Writes `root` as a bbolt file at `path`; returns the writer's page count.
inline absl::StatusOr<uint64_t> WriteDatabase(const std::string& path, const BucketModel& root) {
  absl::StatusOr<storage::bbolt::File> file = storage::bbolt::File::Create(path);
  if (!file.ok()) return file.status();
  storage::bbolt::FileSink sink(&*file);
  storage::bbolt::Writer writer(&sink);
  if (absl::Status s = WriteBucketEntries(&writer, root); !s.ok()) return s;
  absl::StatusOr<std::string> metas = writer.Finish();
  if (!metas.ok()) return metas.status();
  if (absl::Status s = sink.Finish(*metas); !s.ok()) return s;
  return writer.page_count();
}

inline absl::StatusOr<BucketModel> ReadBucket(const storage::bbolt::Reader& r,
                                              std::vector<std::string> path) {
  BucketModel b;
  std::vector<std::string> nested;
  absl::Status s = r.ForEach(path, [&](std::string_view k, std::string_view v, bool is_bucket) {
    if (is_bucket) {
      nested.emplace_back(k);
    } else {
      b.keys.emplace(std::string(k), std::string(v));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  for (const std::string& name : nested) {
    path.push_back(name);
    absl::StatusOr<BucketModel> child = ReadBucket(r, path);
    path.pop_back();
    if (!child.ok()) return child.status();
    b.buckets[name] = std::move(*child);
  }
  return b;
}

// `etcdctl snapshot status`'s hash and key count over the top-level
// buckets: name, then each key and value (a nested bucket: its name only).
struct ModelStatus {
  uint32_t hash = 0;
  int64_t total_keys = 0;
};
inline ModelStatus StatusOf(const BucketModel& root) {
  ModelStatus st;
  auto add = [&](const std::string& s) { st.hash = storage::Crc32cExtend(st.hash, s.data(), s.size()); };
  for (const auto& [name, b] : root.buckets) {
    add(name);
    auto k = b.keys.begin();
    auto n = b.buckets.begin();
    while (k != b.keys.end() || n != b.buckets.end()) {
      if (n == b.buckets.end() || (k != b.keys.end() && k->first < n->first)) {
        add(k->first);
        add(k->second);
        ++k;
      } else {
        add(n->first);
        ++n;
      }
      ++st.total_keys;
    }
  }
  return st;
}

}  // namespace ketcd_test
