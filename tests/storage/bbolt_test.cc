// The bbolt writer and reader: random databases of every shape read back
// identically; the writer lays buckets out as bbolt does (inline up to a
// quarter page, page trees otherwise) and streams its pages; the reader
// rejects corrupt files with a clear error and never crashes or loops.
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "bbolt_model.h"
#include "storage/bbolt/file.h"
#include "storage/bbolt/format.h"
#include "storage/bbolt/reader.h"
#include "storage/bbolt/writer.h"
#include "tests/common/temp_dir.h"

using namespace storage::bbolt;
using ketcd_test::BucketModel;

namespace {

std::string ReadFileBytes(const std::string& path) {
  absl::StatusOr<File> f = File::OpenForRead(path);
  REQUIRE(f.ok());
  std::string out;
  REQUIRE(f->ReadAt(0, *f->Size(), &out).ok());
  return out;
}

void WriteFileBytes(const std::string& path, const std::string& bytes) {
  absl::StatusOr<File> f = File::Create(path);
  REQUIRE(f.ok());
  REQUIRE(f->WriteAt(0, bytes).ok());
}

// Opens, checks and reads every bucket: the first error, or OK.
absl::Status ReadEverything(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Reader>> r = Reader::Open(path);
  if (!r.ok()) return r.status();
  if (absl::Status s = (*r)->Check(); !s.ok()) return s;
  return ketcd_test::ReadBucket(**r, {}).status();
}

// The raw value (bucket header and inline page) of top-level bucket `name`.
std::string TopLevelValue(const Reader& r, const std::string& name) {
  std::string value;
  REQUIRE(r.ForEach({}, [&](std::string_view k, std::string_view v, bool) {
               if (k == name) value.assign(v);
               return absl::OkStatus();
             }).ok());
  return value;
}

// A database with a deep tree, nested and inline buckets and an overflow page.
BucketModel MixedDatabase() {
  std::mt19937_64 rng(7);
  BucketModel root;
  for (int i = 0; i < 300; ++i) root.buckets["deep"].keys[ketcd_test::RandomBytes(rng, 300, 900)] = "v";
  root.buckets["deep"].buckets["~nested"].keys["a"] = std::string(9000, 'x');
  root.buckets["small"].keys["k"] = "v";
  root.buckets["wide"].keys["z"] = "";
  for (int i = 0; i < 3000; ++i) root.buckets["wide"].keys[std::to_string(i)] = "0123456789";
  return root;
}

}  // namespace

TEST_CASE("random databases read back identically and pass bbolt's check", "[bbolt]") {
  ketcd_test::TempDir dir;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    DYNAMIC_SECTION("seed " << seed) {
      std::mt19937_64 rng(seed);
      BucketModel db = ketcd_test::RandomDatabase(rng);
      std::string path = dir.Sub("db" + std::to_string(seed));
      absl::StatusOr<uint64_t> pages = ketcd_test::WriteDatabase(path, db);
      REQUIRE(pages.ok());
      CHECK(std::filesystem::file_size(path) == *pages * kPageSize);
      absl::StatusOr<std::unique_ptr<Reader>> r = Reader::Open(path);
      REQUIRE(r.ok());
      CHECK((*r)->meta().pgid == *pages);
      CHECK((*r)->meta().txid == 2);
      CHECK((*r)->Check().ok());
      absl::StatusOr<BucketModel> back = ketcd_test::ReadBucket(**r, {});
      REQUIRE(back.ok());
      CHECK(*back == db);
    }
  }
}

TEST_CASE("a bucket is inline up to a quarter page and a page tree beyond", "[bbolt]") {
  ketcd_test::TempDir dir;
  // One key: 16 (page header) + 16 (element) + 1 (key) + v bytes.
  const size_t fits = kMaxInlineBucketSize - kPageHeaderSize - kElementSize - 1;
  BucketModel db;
  db.buckets["empty"];
  db.buckets["inline"].keys["k"] = std::string(fits, 'a');
  db.buckets["paged"].keys["k"] = std::string(fits + 1, 'a');
  db.buckets["parent"].buckets["child"].keys["k"] = "v";  // holds a bucket: never inline
  REQUIRE(ketcd_test::WriteDatabase(dir.Sub("db"), db).ok());
  absl::StatusOr<std::unique_ptr<Reader>> r = Reader::Open(dir.Sub("db"));
  REQUIRE(r.ok());
  std::string empty = TopLevelValue(**r, "empty");
  CHECK(empty.size() == kBucketHeaderSize + kPageHeaderSize);
  CHECK(GetU64(empty.data()) == 0);
  std::string inl = TopLevelValue(**r, "inline");
  CHECK(inl.size() == kBucketHeaderSize + kMaxInlineBucketSize);
  CHECK(GetU64(inl.data()) == 0);
  CHECK(TopLevelValue(**r, "paged").size() == kBucketHeaderSize);
  CHECK(GetU64(TopLevelValue(**r, "paged").data()) != 0);
  CHECK(GetU64(TopLevelValue(**r, "parent").data()) != 0);
  // The nested child is inline inside the parent's page.
  absl::StatusOr<BucketModel> back = ketcd_test::ReadBucket(**r, {});
  REQUIRE(back.ok());
  CHECK(*back == db);
  CHECK((*r)->Check().ok());
}

TEST_CASE("the writer streams pages as they fill", "[bbolt]") {
  struct Recording : PageSink {
    uint64_t bytes = 0, next = 2;
    bool in_order = true;
    absl::Status Append(uint64_t pgid, std::string_view pages) override {
      in_order = in_order && pgid == next && pages.size() % kPageSize == 0;
      next = pgid + pages.size() / kPageSize;
      bytes += pages.size();
      return absl::OkStatus();
    }
  } sink;
  Writer w(&sink);
  REQUIRE(w.BeginBucket("b").ok());
  std::string value(1000, 'v');
  char key[16];
  for (int i = 0; i < 20000; ++i) {
    snprintf(key, sizeof key, "%08d", i);
    REQUIRE(w.Put(key, value).ok());
  }
  // ~20 MB put: all but the last leaf and branch nodes are out already.
  CHECK(sink.bytes > 19'000'000);
  REQUIRE(w.EndBucket().ok());
  absl::StatusOr<std::string> metas = w.Finish();
  REQUIRE(metas.ok());
  CHECK(metas->size() == 2 * kPageSize);
  CHECK(sink.in_order);
  CHECK(sink.bytes + metas->size() == w.page_count() * kPageSize);
}

TEST_CASE("the writer refuses what bbolt refuses, and stays failed", "[bbolt]") {
  CountingSink sink;
  SECTION("a key out of order") {
    Writer w(&sink);
    REQUIRE(w.BeginBucket("b").ok());
    REQUIRE(w.Put("b", "").ok());
    absl::Status s = w.Put("a", "");
    CHECK(absl::IsInvalidArgument(s));
    CHECK(s.message().find("out of order") != std::string::npos);
    CHECK(!w.Put("c", "").ok());  // sticky
    CHECK(!w.Finish().ok());
  }
  SECTION("a duplicate key, and a bucket named like a key") {
    Writer w(&sink);
    REQUIRE(w.BeginBucket("b").ok());
    REQUIRE(w.Put("k", "").ok());
    CHECK(!w.BeginBucket("k").ok());
  }
  SECTION("empty and oversized keys, keys in the root bucket") {
    Writer w1(&sink);
    CHECK(!w1.Put("k", "v").ok());
    Writer w2(&sink);
    REQUIRE(w2.BeginBucket("b").ok());
    CHECK(!w2.Put("", "v").ok());
    Writer w3(&sink);
    REQUIRE(w3.BeginBucket("b").ok());
    CHECK(!w3.Put(std::string(kMaxKeySize + 1, 'k'), "v").ok());
  }
  SECTION("Finish with a bucket open, EndBucket without one") {
    Writer w1(&sink);
    REQUIRE(w1.BeginBucket("b").ok());
    CHECK(absl::IsFailedPrecondition(w1.Finish().status()));
    Writer w2(&sink);
    CHECK(!w2.EndBucket().ok());
  }
}

TEST_CASE("the reader names what is wrong with a corrupt file", "[bbolt][corrupt]") {
  ketcd_test::TempDir dir;
  const std::string path = dir.Sub("db");
  REQUIRE(ketcd_test::WriteDatabase(path, MixedDatabase()).ok());
  const std::string good = ReadFileBytes(path);
  REQUIRE(ReadEverything(path).ok());
  auto expect_error = [&](std::string bytes, std::string_view words) {
    WriteFileBytes(dir.Sub("bad"), bytes);
    absl::Status s = ReadEverything(dir.Sub("bad"));
    INFO(s);
    CHECK(absl::IsDataLoss(s));
    CHECK(std::string(s.message()).find(words) != std::string::npos);
  };
  // Meta: one bad meta page falls back to the other; two are an error.
  std::string one_bad = good;
  one_bad[kPageHeaderSize + 20] ^= 1;
  WriteFileBytes(dir.Sub("one_bad"), one_bad);
  CHECK(ReadEverything(dir.Sub("one_bad")).ok());
  std::string both = one_bad;
  both[kPageSize + kPageHeaderSize + 20] ^= 1;
  expect_error(both, "checksum mismatch");
  std::string magic = good;
  magic[kPageHeaderSize] ^= 0x55;
  magic[kPageSize + kPageHeaderSize] ^= 0x55;
  expect_error(magic, "bad magic");
  expect_error("", "truncated");
  expect_error(good.substr(0, good.size() / 2), "truncated");
  expect_error(std::string(3 * kPageSize, 'x'), "bad magic");
  // A page whose header names another page.
  std::string renamed = good;
  PutU64(renamed.data() + 3 * kPageSize, 77);
  expect_error(renamed, "header names page 77");
}

TEST_CASE("the reader catches bad references inside the tree", "[bbolt][corrupt]") {
  ketcd_test::TempDir dir;
  const std::string path = dir.Sub("db");
  REQUIRE(ketcd_test::WriteDatabase(path, MixedDatabase()).ok());
  std::string bytes = ReadFileBytes(path);
  absl::StatusOr<std::unique_ptr<Reader>> r = Reader::Open(path);
  REQUIRE(r.ok());
  const uint64_t root = (*r)->meta().root;
  const uint64_t deep = GetU64(TopLevelValue(**r, "deep").data());
  // The root bucket's leaf: find the "deep" element's value (bucket header).
  size_t at = root * kPageSize;
  size_t header = bytes.find(std::string_view("deep"), at) + 4;
  REQUIRE(GetU64(bytes.data() + header) == deep);
  // "deep" is a branch page: aim its first child at the branch itself.
  REQUIRE(DecodePageHeader(bytes.data() + deep * kPageSize).flags == kBranchPage);
  auto patched = [&](uint64_t offset, uint64_t v) {
    std::string b = bytes;
    PutU64(b.data() + offset, v);
    WriteFileBytes(dir.Sub("bad"), b);
    return ReadEverything(dir.Sub("bad"));
  };
  absl::Status cycle = patched(deep * kPageSize + kPageHeaderSize + 8, deep);
  CHECK(absl::IsDataLoss(cycle));
  CHECK(cycle.message().find("referenced more than once") != std::string::npos);
  absl::Status range = patched(header, 1'000'000);
  CHECK(range.message().find("out of range") != std::string::npos);
  absl::Status meta_page = patched(header, 0 + 1);
  CHECK(absl::IsDataLoss(meta_page));
}

TEST_CASE("flipped bytes and truncations never crash or hang the reader", "[bbolt][corrupt]") {
  ketcd_test::TempDir dir;
  const std::string path = dir.Sub("db");
  REQUIRE(ketcd_test::WriteDatabase(path, MixedDatabase()).ok());
  const std::string good = ReadFileBytes(path);
  std::mt19937_64 rng(99);
  int errors = 0;
  for (int i = 0; i < 400; ++i) {
    std::string bad = good;
    if (i % 4 == 3) {
      bad.resize(rng() % good.size());
    } else {
      // Mostly the structure: page headers and elements, where flips matter.
      size_t page = rng() % (good.size() / kPageSize);
      size_t off = page * kPageSize + (i % 2 ? rng() % 96 : rng() % kPageSize);
      bad[off] = static_cast<char>(bad[off] ^ (1 << (rng() % 8)));
    }
    WriteFileBytes(dir.Sub("bad"), bad);
    absl::Status s = ReadEverything(dir.Sub("bad"));
    if (!s.ok()) {
      ++errors;
      CHECK(absl::IsDataLoss(s));
    }
  }
  CHECK(errors > 100);
}
