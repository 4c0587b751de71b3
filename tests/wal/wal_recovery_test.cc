// Recovery: torn tails are dropped, damage to committed batches is an error.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

#include "storage/wal.h"
#include "wal_test_util.h"

namespace {

using storage::Wal;
using storage::WalMetadata;
using wal_test::MakeEntries;
using wal_test::MakeHardState;
using wal_test::Model;
using wal_test::ReadFile;
using wal_test::SmallSegments;
using wal_test::TempDir;
using wal_test::WriteFile;

constexpr WalMetadata kMeta{42, 1};

// A WAL in `dir` whose last batch is known byte for byte: `before` and
// `after` are the model and the last segment's content without and with it,
// and [batch_start, batch_end) are the bytes it added.
struct LastBatch {
  Model before;
  Model after;
  std::string segment;  // path of the last segment
  std::string file;     // its content with the batch
  size_t batch_start = 0;
  size_t batch_end = 0;  // just past the last non-zero byte of the batch
};

// Saves `batches` batches, then one last batch of `last_entries` entries of
// `last_size` bytes. With `roll`, the last batch is the first of a new segment.
LastBatch BuildWithLastBatch(const std::string& dir, uint64_t segment_bytes, int batches,
                             int last_entries, size_t last_size, bool roll) {
  LastBatch lb;
  auto w = Wal::Create(dir, kMeta, SmallSegments(segment_bytes));
  REQUIRE(w.ok());
  Wal& wal = **w;
  for (int b = 0; b < batches; ++b) {
    auto ents = MakeEntries(lb.before.last() + 1, 2, 1, 60);
    auto hs = MakeHardState(1, 1, lb.before.last());
    REQUIRE(wal.Save(hs, ents).ok());
    lb.before.Save(hs, ents);
  }
  size_t segments = wal.SegmentNames().size();
  auto ents = MakeEntries(lb.before.last() + 1, last_entries, 2, last_size);
  auto hs = MakeHardState(2, 1, lb.before.last());
  REQUIRE(wal.Save(hs, ents).ok());
  lb.after = lb.before;
  lb.after.Save(hs, ents);
  REQUIRE((wal.SegmentNames().size() > segments) == roll);
  lb.segment = dir + "/" + wal.SegmentNames().back();
  lb.file = ReadFile(lb.segment);
  auto parsed = wal_test::Batches(lb.file);
  REQUIRE(parsed.size() >= 2);
  lb.batch_start = parsed.back().first;
  lb.batch_end = wal_test::DataEnd(lb.file);
  REQUIRE(lb.batch_end > lb.batch_start);
  return lb;
}

Wal::Opened MustOpen(const std::string& dir, uint64_t segment_bytes) {
  auto r = Wal::Open(dir, SmallSegments(segment_bytes));
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return std::move(*r);
}

// Opens a damaged copy, expects `want`, then appends and reopens.
void CheckRecovers(const std::string& dir, uint64_t segment_bytes, const Model& want) {
  Model model = want;
  {
    Wal::Opened o = MustOpen(dir, segment_bytes);
    REQUIRE(model.Diff(o.state) == "");
    auto ents = MakeEntries(model.last() + 1, 2, 3, 50);
    auto hs = MakeHardState(3, 2, model.last());
    REQUIRE(o.wal->Save(hs, ents).ok());
    model.Save(hs, ents);
  }
  Wal::Opened o = MustOpen(dir, segment_bytes);
  REQUIRE(model.Diff(o.state) == "");
  REQUIRE(o.state.torn_tail.empty());
}

TEST_CASE("a torn last batch, cut at every byte, recovers to the batch before", "[wal][torn]") {
  for (bool roll : {false, true}) {
    DYNAMIC_SECTION((roll ? "last batch opens a new segment" : "last batch mid-segment")) {
      TempDir tmp;
      constexpr uint64_t kSeg = 8192;
      std::string base = tmp.Sub("base");
      LastBatch lb = roll ? BuildWithLastBatch(base, kSeg, 30, 2, 40, true)
                          : BuildWithLastBatch(base, kSeg, 3, 2, 40, false);
      std::string dir = tmp.Sub("t");
      std::string seg = dir + lb.segment.substr(base.size());
      for (size_t cut = lb.batch_start; cut <= lb.batch_end; ++cut) {
        INFO("cut at " << cut << " of batch [" << lb.batch_start << ", " << lb.batch_end << ")");
        const Model& want = cut == lb.batch_end ? lb.after : lb.before;
        // The file ends at `cut`.
        wal_test::CopyDir(base, dir);
        std::filesystem::resize_file(seg, cut);
        CheckRecovers(dir, kSeg, want);
        // The file keeps its size, zeros from `cut` on.
        wal_test::CopyDir(base, dir);
        std::string f = lb.file;
        std::fill(f.begin() + static_cast<ptrdiff_t>(cut), f.end(), '\0');
        WriteFile(seg, f);
        CheckRecovers(dir, kSeg, want);
      }
    }
  }
}

TEST_CASE("a torn last batch whose pages landed in any order is dropped", "[wal][torn]") {
  TempDir tmp;
  constexpr uint64_t kSeg = 1 << 16;
  std::string base = tmp.Sub("base");
  // ~20 KiB last batch: five or six pages, its commit record on the last one.
  LastBatch lb = BuildWithLastBatch(base, kSeg, 3, 10, 2000, false);
  std::string dir = tmp.Sub("t");
  std::string seg = dir + lb.segment.substr(base.size());
  size_t first_page = lb.batch_start / 4096;
  size_t last_page = (lb.batch_end - 1) / 4096;
  REQUIRE(last_page - first_page >= 4);
  SECTION("any one page missing (zero), the others written, commit record included") {
    for (size_t p = first_page; p <= last_page; ++p) {
      INFO("page " << p);
      wal_test::CopyDir(base, dir);
      std::string f = lb.file;
      size_t from = std::max(p * 4096, lb.batch_start);
      std::fill(f.begin() + static_cast<ptrdiff_t>(from),
                f.begin() + static_cast<ptrdiff_t>((p + 1) * 4096), '\0');
      WriteFile(seg, f);
      CheckRecovers(dir, kSeg, lb.before);
    }
  }
  SECTION("random subsets of 512-byte sectors written") {
    std::mt19937_64 rng(1234);
    for (int trial = 0; trial < 40; ++trial) {
      INFO("trial " << trial);
      wal_test::CopyDir(base, dir);
      std::string f = lb.file;
      bool all = true;
      for (size_t s = lb.batch_start / 512; s * 512 < lb.batch_end; ++s) {
        if (rng() % 2 == 0) continue;  // this sector made it
        size_t from = std::max(s * 512, lb.batch_start);
        std::fill(f.begin() + static_cast<ptrdiff_t>(from),
                  f.begin() + static_cast<ptrdiff_t>((s + 1) * 512), '\0');
        all = false;
      }
      WriteFile(seg, f);
      CheckRecovers(dir, kSeg, all ? lb.after : lb.before);
    }
  }
}

// Expects Open to fail with DataLoss naming the file and an offset.
void CheckCorrupt(const std::string& dir, uint64_t segment_bytes, const std::string& file_name) {
  auto r = Wal::Open(dir, SmallSegments(segment_bytes));
  INFO(r.status().ToString());
  REQUIRE(r.status().code() == absl::StatusCode::kDataLoss);
  REQUIRE(std::string(r.status().message()).find(file_name) != std::string::npos);
  REQUIRE(std::string(r.status().message()).find("offset") != std::string::npos);
}

TEST_CASE("a flipped byte anywhere in an earlier committed batch is an error", "[wal][corrupt]") {
  TempDir tmp;
  constexpr uint64_t kSeg = 16384;
  std::string base = tmp.Sub("base");
  std::vector<std::string> segments;
  {
    auto w = Wal::Create(base, kMeta, SmallSegments(kSeg));
    REQUIRE(w.ok());
    Model m;
    for (int b = 0; b < 250; ++b) {
      auto ents = MakeEntries(m.last() + 1, 2, 1, 50);
      REQUIRE((*w)->Save(MakeHardState(1, 1, m.last()), ents).ok());
      m.Save(MakeHardState(1, 1, m.last()), ents);
    }
    segments = (*w)->SegmentNames();
    REQUIRE(segments.size() >= 3);
  }
  std::string dir = tmp.Sub("t");
  auto flip_each_byte = [&](const std::string& name, size_t from, size_t to) {
    std::string orig = ReadFile(base + "/" + name);
    for (size_t i = from; i < to; ++i) {
      INFO(name << " byte " << i);
      wal_test::CopyDir(base, dir);
      std::string f = orig;
      f[i] = static_cast<char>(f[i] ^ 0x5a);
      WriteFile(dir + "/" + name, f);
      CheckCorrupt(dir, kSeg, name);
    }
  };
  SECTION("in a segment that is not the last") {
    auto batches = wal_test::Batches(ReadFile(base + "/" + segments.front()));
    REQUIRE(batches.size() > 10);
    auto [from, to] = batches[batches.size() / 2];
    flip_each_byte(segments.front(), from, to);
  }
  SECTION("in the last segment: its header batch and the batch after it") {
    auto batches = wal_test::Batches(ReadFile(base + "/" + segments.back()));
    REQUIRE(batches.size() >= 3);
    flip_each_byte(segments.back(), 0, batches[1].second);
  }
  SECTION("in the zeros after the last batch of a segment that is not the last") {
    size_t end = wal_test::DataEnd(ReadFile(base + "/" + segments.front()));
    flip_each_byte(segments.front(), end + 8, end + 16);
  }
}

TEST_CASE("damaged metadata is an error", "[wal][corrupt]") {
  TempDir tmp;
  for (int batches : {0, 3}) {
    std::string base = tmp.Sub("base" + std::to_string(batches));
    std::string name;
    {
      auto w = Wal::Create(base, kMeta, SmallSegments());
      REQUIRE(w.ok());
      for (int b = 0; b < batches; ++b) {
        REQUIRE((*w)->Save(MakeHardState(1, 1, 0), MakeEntries(b * 2 + 1, 2, 1)).ok());
      }
      name = (*w)->SegmentNames().front();
    }
    std::string orig = ReadFile(base + "/" + name);
    std::string dir = tmp.Sub("t");
    // The metadata record is the first 72 bytes (24 header + 48 payload).
    for (size_t i = 0; i < 72; ++i) {
      INFO(batches << " batches, byte " << i);
      wal_test::CopyDir(base, dir);
      std::string f = orig;
      f[i] = static_cast<char>(f[i] ^ 0x01);
      WriteFile(dir + "/" + name, f);
      CheckCorrupt(dir, 4096, name);
    }
  }
}

TEST_CASE("empty, zero-filled or garbage segments are errors", "[wal][corrupt]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  std::string name = "0000000000000001-0000000000000001.wal";
  std::filesystem::create_directories(dir);
  SECTION("no segment at all") {
    CHECK(Wal::Open(dir, SmallSegments()).status().code() == absl::StatusCode::kDataLoss);
  }
  SECTION("an empty file") {
    WriteFile(dir + "/" + name, "");
    CheckCorrupt(dir, 4096, name);
  }
  SECTION("a pre-allocated file of zeros") {
    WriteFile(dir + "/" + name, std::string(8192, '\0'));
    CheckCorrupt(dir, 4096, name);
  }
  SECTION("garbage") {
    std::mt19937_64 rng(5);
    std::string g(8192, '\0');
    for (char& c : g) c = static_cast<char>(rng());
    WriteFile(dir + "/" + name, g);
    CheckCorrupt(dir, 4096, name);
  }
  SECTION("text") {
    WriteFile(dir + "/" + name, "this is not a WAL segment\n");
    CheckCorrupt(dir, 4096, name);
  }
}

TEST_CASE("pre-allocated zero space is not mistaken for records", "[wal]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  constexpr uint64_t kSeg = 1 << 20;
  Model model;
  std::string seg;
  {
    auto w = Wal::Create(dir, kMeta, SmallSegments(kSeg));
    REQUIRE(w.ok());
    for (int b = 0; b < 3; ++b) {
      auto ents = MakeEntries(model.last() + 1, 2, 1);
      REQUIRE((*w)->Save(MakeHardState(1, 1, 0), ents).ok());
      model.Save(MakeHardState(1, 1, 0), ents);
    }
    seg = dir + "/" + (*w)->SegmentNames().back();
  }
  CHECK(std::filesystem::file_size(seg) == kSeg);
  CHECK(wal_test::DataEnd(ReadFile(seg)) < 2048);
  for (int round = 0; round < 2; ++round) {
    Wal::Opened o = MustOpen(dir, kSeg);
    CHECK(model.Diff(o.state) == "");
    CHECK(o.state.torn_tail.empty());
  }
  CHECK(std::filesystem::file_size(seg) == kSeg);
}

TEST_CASE("a missing segment, or a half-created one, is handled", "[wal][corrupt]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  Model model;
  std::vector<std::string> names;
  {
    auto w = Wal::Create(dir, kMeta, SmallSegments());
    REQUIRE(w.ok());
    for (int b = 0; b < 60; ++b) {
      auto ents = MakeEntries(model.last() + 1, 2, 1, 100);
      REQUIRE((*w)->Save(MakeHardState(1, 1, 0), ents).ok());
      model.Save(MakeHardState(1, 1, 0), ents);
    }
    names = (*w)->SegmentNames();
    REQUIRE(names.size() >= 4);
  }
  SECTION("a .tmp segment left by a crash during rollover is removed") {
    WriteFile(dir + "/0000000000000099-0000000000000099.wal.tmp", std::string(4096, 'x'));
    Wal::Opened o = MustOpen(dir, 4096);
    CHECK(model.Diff(o.state) == "");
    CHECK_FALSE(std::filesystem::exists(dir + "/0000000000000099-0000000000000099.wal.tmp"));
  }
  SECTION("a gap in segment numbers") {
    std::filesystem::remove(dir + "/" + names[2]);
    auto r = Wal::Open(dir, SmallSegments());
    CHECK(r.status().code() == absl::StatusCode::kDataLoss);
  }
  SECTION("the oldest segment gone without a snapshot marker") {
    std::filesystem::remove(dir + "/" + names[0]);
    auto r = Wal::Open(dir, SmallSegments());
    INFO(r.status().ToString());
    CHECK(r.status().code() == absl::StatusCode::kDataLoss);
  }
  SECTION("garbage after the last batch of the last segment is a torn tail") {
    std::string last = dir + "/" + names.back();
    std::string f = ReadFile(last);
    size_t end = (wal_test::DataEnd(f) + 7) & ~size_t{7};
    for (size_t i = end; i < end + 100; ++i) f[i] = 'g';
    WriteFile(last, f);
    Wal::Opened o = MustOpen(dir, 4096);
    CHECK(model.Diff(o.state) == "");
    CHECK_FALSE(o.state.torn_tail.empty());
    CHECK(wal_test::DataEnd(ReadFile(last)) <= end);
  }
}

}  // namespace
