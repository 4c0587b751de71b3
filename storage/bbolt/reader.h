// Reader: opens a bbolt database file (format.h) — one written by Writer,
// by bbolt itself, or an etcd backup with its hash trailer cut off through
// `length` — and iterates a bucket's entries in key order.
//
// Contract
// - Open() reads both meta pages and keeps the valid one with the higher
//   txid, as bbolt does; a meta is valid when its magic, version, checksum
//   and page size are right and its root, freelist and high-water mark fit
//   the file. No valid meta is DataLoss naming both reasons.
// - Nothing is trusted after that: every page read checks that the page id
//   is below the high-water mark and inside the file, that the page header
//   names that page, that its type is the expected one, and that every
//   element, key and value lies inside the page. Every page is visited at
//   most once per walk and tree depth is bounded, so a corrupt file yields
//   DataLoss (naming the page and what is wrong), never a crash, a loop or
//   an allocation larger than the file.
// - ForEach visits each entry of one bucket in order; keys that are not in
//   strictly increasing order are DataLoss too. The views passed to the
//   visitor live until it returns. A visitor error stops the walk and is
//   returned as is.
// - Memory: a page per tree level (and the largest overflow page); the
//   file is read with pread, never mapped.
// Thread-safety: const methods may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/bbolt/file.h"
#include "storage/bbolt/format.h"

namespace storage::bbolt {

class Reader {
 public:
  // `length`: how many bytes of the file belong to the database (default:
  // all of it); must not exceed the file's size.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Reader>> Open(
      const std::string& path, std::optional<uint64_t> length = std::nullopt);

  const Meta& meta() const { return meta_; }
  // The database's size as bbolt reports it (tx.Size()): pgid * page size.
  uint64_t size() const { return meta_.pgid * meta_.page_size; }

  // is_bucket: the entry is a nested bucket (`value` is then its raw bucket
  // header and inline page).
  using Visitor =
      std::function<absl::Status(std::string_view key, std::string_view value, bool is_bucket)>;
  // Visits the entries of the bucket at `path` (bucket names from the root;
  // empty: the root bucket, whose entries are the top-level buckets).
  // NotFound if a bucket on the path does not exist.
  [[nodiscard]] absl::Status ForEach(const std::vector<std::string>& path,
                                     const Visitor& visit) const;
  // Whether the bucket at `path` exists.
  [[nodiscard]] absl::StatusOr<bool> HasBucket(const std::vector<std::string>& path) const;

  // bbolt's tx.Check(): the freelist is well formed and every page below
  // the high-water mark is either free or reachable from exactly one place
  // (meta, freelist, or one bucket's tree), walking every nested bucket.
  // Without a stored freelist (etcd's NoFreelistSync: meta.freelist is
  // kNoFreelist) every unreachable page counts as free, as in bbolt.
  [[nodiscard]] absl::Status Check() const;

  struct BucketRef;  // a bucket's root page or inline page (reader.cc)
  struct Walk;       // one walk's visited pages and key order (reader.cc)

 private:
  Reader(File file, uint64_t length, const Meta& meta)
      : file_(std::move(file)), length_(length), meta_(meta) {}
  absl::Status ReadPage(uint64_t pgid, uint16_t want_flags, std::string* page) const;
  // The keys a page may hold: [low, high), high unbounded when absent.
  struct KeyRange {
    std::string_view low;
    std::optional<std::string_view> high;
  };
  absl::Status WalkPage(uint64_t pgid, int depth, const KeyRange& range, Walk* walk,
                        const Visitor& visit) const;
  absl::Status WalkBucket(const BucketRef& ref, Walk* walk, const Visitor& visit) const;
  absl::StatusOr<BucketRef> FindBucket(const std::vector<std::string>& path) const;
  absl::StatusOr<std::optional<BucketRef>> Child(const BucketRef& parent,
                                                 std::string_view name) const;
  absl::Status CheckBucket(const BucketRef& ref, int depth, Walk* walk) const;
  absl::Status ReadFreelist(Walk* walk) const;

  File file_;
  uint64_t length_;
  Meta meta_;
};

}  // namespace storage::bbolt
