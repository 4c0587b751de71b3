// Writer: builds a fresh, compact bbolt database (format.h) in one pass.
//
// Contract
// - The caller opens buckets with BeginBucket(name), adds their keys with
//   Put(key, value) and closes them with EndBucket(); a bucket opened inside
//   an open bucket is nested in it. Inside one bucket, keys and nested bucket
//   names together must arrive in strictly increasing bytewise order (a
//   nested bucket takes its place in its parent's order at BeginBucket).
//   Out-of-order, empty or oversized keys are InvalidArgument and leave the
//   writer unusable (every later call fails).
// - Pages go to the PageSink as they fill, in page-id order starting at
//   page 2, each call one whole page or one large page with its overflow
//   pages. The writer holds, per open bucket, one leaf being filled and one
//   branch per tree level: a few pages (plus the largest single value),
//   whatever the database's size.
// - Finish() closes the root bucket, appends an empty freelist page and
//   returns pages 0 and 1 (the two meta pages), which the caller places at
//   the start of the file. The layout is a pure function of the calls, so a
//   caller that must send the meta pages first (a stream) may run the same
//   calls twice: once into a CountingSink for the size and meta pages, once
//   for real.
// - Layout as bbolt writes it: a bucket whose single leaf fits in
//   kMaxInlineBucketSize and that holds no nested bucket is stored inline in
//   its parent's leaf; any other bucket is a B+tree of leaf and branch pages
//   (leaves filled up to a page; a value larger than a page gets a leaf of
//   its own spanning overflow pages). The meta pages carry txids 2 (page 0,
//   current) and 1 (page 1), so bbolt's next commit writes page 1.
// Thread-safety: none; one thread drives a writer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace storage::bbolt {

// Where the writer's pages go.
class PageSink {
 public:
  virtual ~PageSink() = default;
  // `pages` is page `pgid` and its overflow pages: a multiple of the page size.
  [[nodiscard]] virtual absl::Status Append(uint64_t pgid, std::string_view pages) = 0;
};

// Discards the pages and counts them (a dry run's size).
class CountingSink : public PageSink {
 public:
  absl::Status Append(uint64_t pgid, std::string_view pages) override {
    bytes_ += pages.size();
    return absl::OkStatus();
  }
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t bytes_ = 0;
};

class Writer {
 public:
  // `sink` is not owned and must outlive the writer.
  explicit Writer(PageSink* sink);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Opens a bucket named `name` inside the innermost open bucket (the root
  // bucket when none is open).
  [[nodiscard]] absl::Status BeginBucket(std::string_view name);
  // Adds a key to the innermost open bucket.
  [[nodiscard]] absl::Status Put(std::string_view key, std::string_view value);
  // Closes the innermost open bucket.
  [[nodiscard]] absl::Status EndBucket();
  // Closes the root bucket (every other bucket must be closed), writes the
  // freelist page and returns the two meta pages (2 * kPageSize bytes).
  [[nodiscard]] absl::StatusOr<std::string> Finish();

  // Pages allocated so far, the two meta pages included; after Finish() the
  // file's page count (its size is page_count() * kPageSize).
  uint64_t page_count() const { return next_pgid_; }

  struct Bucket;  // one open bucket's tree under construction (writer.cc)

 private:
  absl::Status Fail(absl::Status s);
  absl::StatusOr<uint64_t> WritePage(std::string node);
  absl::Status FlushLeaf(Bucket* b);
  absl::Status AddBranch(Bucket* b, size_t level, std::string key, uint64_t pgid);
  absl::Status FlushBranch(Bucket* b, size_t level);
  absl::StatusOr<uint64_t> FinishTree(Bucket* b);
  absl::Status CheckKey(Bucket* b, std::string_view key);
  absl::Status AddLeafItem(Bucket* b, std::string_view key, std::string_view value,
                           uint32_t flags);

  PageSink* sink_;
  uint64_t next_pgid_ = 2;
  std::vector<std::unique_ptr<Bucket>> open_;  // open_[0] is the root bucket
  absl::Status status_;                        // the first failure, sticky
  bool finished_ = false;
};

}  // namespace storage::bbolt
