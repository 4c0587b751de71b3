// The WAL's API: round trips, truncation, snapshot markers, release, reopen.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

#include "storage/wal.h"
#include "wal_test_util.h"

namespace {

using storage::Wal;
using storage::WalMetadata;
using wal_test::MakeEntries;
using wal_test::MakeEntry;
using wal_test::MakeHardState;
using wal_test::MakeMarker;
using wal_test::Model;
using wal_test::SmallSegments;
using wal_test::TempDir;

constexpr WalMetadata kMeta{0x1234abcd, 7};

std::unique_ptr<Wal> MustCreate(const std::string& dir, storage::WalOptions o = SmallSegments()) {
  auto w = Wal::Create(dir, kMeta, o);
  REQUIRE(w.ok());
  return std::move(*w);
}

Wal::Opened MustOpen(const std::string& dir, storage::WalOptions o = SmallSegments()) {
  auto r = Wal::Open(dir, o);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return std::move(*r);
}

size_t CountSegments(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    n += e.path().extension() == ".wal";
  }
  return n;
}

TEST_CASE("a new WAL opens empty with its metadata", "[wal]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  REQUIRE_FALSE(Wal::Exists(dir));
  MustCreate(dir)->Close();
  REQUIRE(Wal::Exists(dir));
  CHECK(std::filesystem::exists(tmp.Sub("wal/0000000000000001-0000000000000001.wal")));
  Wal::Opened o = MustOpen(dir);
  CHECK(o.state.metadata.cluster_id == kMeta.cluster_id);
  CHECK(o.state.metadata.member_id == kMeta.member_id);
  CHECK(o.state.entries.empty());
  CHECK(o.state.snapshot.index() == 0);
  CHECK(o.state.hard_state.term() == 0);
  CHECK(o.state.torn_tail.empty());
  CHECK(o.wal->last_index() == 0);
}

TEST_CASE("create refuses an existing directory; open refuses a missing one", "[wal]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  MustCreate(dir)->Close();
  CHECK(Wal::Create(dir, kMeta, SmallSegments()).status().code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(Wal::Open(tmp.Sub("nope"), SmallSegments()).status().code() ==
        absl::StatusCode::kNotFound);
  // Missing parents are created.
  MustCreate(tmp.Sub("data/member/wal"))->Close();
  CHECK(Wal::Exists(tmp.Sub("data/member/wal")));
  // An empty directory is taken over.
  std::filesystem::create_directories(tmp.Sub("empty"));
  REQUIRE_FALSE(Wal::Exists(tmp.Sub("empty")));
  MustCreate(tmp.Sub("empty"))->Close();
  CHECK(Wal::Exists(tmp.Sub("empty")));
  CHECK_FALSE(std::filesystem::exists(tmp.Sub("empty.tmp")));
}

TEST_CASE("a closed WAL refuses writes", "[wal]") {
  TempDir tmp;
  auto w = MustCreate(tmp.Sub("wal"));
  w->Close();
  CHECK_FALSE(w->Save(MakeHardState(1, 1, 0), MakeEntries(1, 1, 1)).ok());
  CHECK_FALSE(w->SaveSnapshotMarker(MakeMarker(1, 1)).ok());
}

TEST_CASE("a WAL can be open only once at a time", "[wal]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  auto w = MustCreate(dir);
  CHECK(Wal::Open(dir, SmallSegments()).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  w->Close();
  MustOpen(dir);
}

TEST_CASE("many batches round-trip across segment rollovers", "[wal]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  Model model;
  std::mt19937_64 rng(7);
  {
    auto w = MustCreate(dir);
    uint64_t term = 1;
    for (int b = 0; b < 200; ++b) {
      if (rng() % 10 == 0) ++term;
      auto ents = MakeEntries(model.last() + 1, 1 + rng() % 5, term, rng() % 300);
      raftpb::HardState hs = MakeHardState(term, 1 + term % 3, model.last());
      REQUIRE(w->Save(hs, ents).ok());
      model.Save(hs, ents);
      REQUIRE(w->last_index() == model.last());
    }
    CHECK(w->SegmentNames().size() >= 5);
  }
  CHECK(CountSegments(dir) >= 5);
  Wal::Opened o = MustOpen(dir);
  CHECK(model.Diff(o.state) == "");
  CHECK(o.state.torn_tail.empty());
  CHECK(o.wal->last_index() == model.last());
}

TEST_CASE("a batch larger than a segment gets a segment of its own", "[wal]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  Model model;
  {
    auto w = MustCreate(dir);
    auto small = MakeEntries(1, 2, 1);
    REQUIRE(w->Save(MakeHardState(1, 1, 0), small).ok());
    model.Save(MakeHardState(1, 1, 0), small);
    auto big = MakeEntries(3, 3, 1, 5000);
    REQUIRE(w->Save({}, big).ok());
    model.Save({}, big);
    auto more = MakeEntries(6, 2, 1);
    REQUIRE(w->Save({}, more).ok());
    model.Save({}, more);
  }
  Wal::Opened o = MustOpen(dir);
  CHECK(model.Diff(o.state) == "");
}

TEST_CASE("a later entry at index i replaces every entry >= i", "[wal]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  Model model;
  auto save = [&](Wal* w, const raftpb::HardState& hs, const std::vector<raftpb::Entry>& e) {
    REQUIRE(w->Save(hs, e).ok());
    model.Save(hs, e);
    REQUIRE(w->last_index() == model.last());
  };
  {
    auto w = MustCreate(dir);
    save(w.get(), MakeHardState(1, 1, 0), MakeEntries(1, 10, 1));
    save(w.get(), MakeHardState(2, 2, 3), MakeEntries(6, 3, 2));   // 6..8 term 2, 9..10 gone
    save(w.get(), {}, MakeEntries(9, 4, 2));                        // 9..12
    // Enough term-2 entries to roll over, then truncate back across the
    // segment boundary.
    for (uint64_t i = 13; i < 73; i += 6) save(w.get(), {}, MakeEntries(i, 6, 2, 200));
    REQUIRE(w->SegmentNames().size() >= 3);
    save(w.get(), MakeHardState(3, 3, 5), MakeEntries(7, 2, 3));   // 7..8 term 3
    CHECK(w->Save({}, MakeEntries(12, 1, 3)).code() == absl::StatusCode::kInvalidArgument);
  }
  Wal::Opened o = MustOpen(dir);
  CHECK(model.Diff(o.state) == "");
  REQUIRE(o.state.entries.size() == 8);
  CHECK(o.state.entries[5].term() == 2);
  CHECK(o.state.entries[6].term() == 3);
}

TEST_CASE("an unchanged or empty hard state with no entries writes nothing", "[wal]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  auto w = MustCreate(dir);
  REQUIRE(w->Save(MakeHardState(1, 1, 0), MakeEntries(1, 1, 1)).ok());
  std::string seg = dir + "/" + w->SegmentNames().back();
  std::string before = wal_test::ReadFile(seg);
  REQUIRE(w->Save(MakeHardState(1, 1, 0), {}).ok());
  REQUIRE(w->Save({}, {}).ok());
  CHECK(wal_test::ReadFile(seg) == before);
  REQUIRE(w->Save(MakeHardState(1, 1, 1), {}).ok());
  CHECK(wal_test::ReadFile(seg) != before);
  w->Close();
  Wal::Opened o = MustOpen(dir);
  CHECK(o.state.hard_state.commit() == 1);
}

TEST_CASE("reopen and append more, several times", "[wal]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  Model model;
  MustCreate(dir)->Close();
  uint64_t term = 0;
  for (int round = 0; round < 5; ++round) {
    Wal::Opened o = MustOpen(dir);
    REQUIRE(model.Diff(o.state) == "");
    REQUIRE(o.state.torn_tail.empty());
    ++term;
    for (int b = 0; b < 15; ++b) {
      auto ents = MakeEntries(model.last() + 1, 3, term, 100);
      auto hs = MakeHardState(term, 1, model.last());
      REQUIRE(o.wal->Save(hs, ents).ok());
      model.Save(hs, ents);
    }
    // Truncate a little on each round, too.
    auto ents = MakeEntries(model.last() - 1, 1, term, 10);
    REQUIRE(o.wal->Save({}, ents).ok());
    model.Save({}, ents);
  }
  CHECK(model.Diff(MustOpen(dir).state) == "");
}

TEST_CASE("snapshot markers hide older entries and drive ReleaseTo", "[wal]") {
  TempDir tmp;
  std::string dir = tmp.Sub("wal");
  Model model;
  auto w = MustCreate(dir);
  // The hard state is written once, early; it must survive the release of
  // the segment it was written to.
  auto hs = MakeHardState(4, 2, 1);
  REQUIRE(w->Save(hs, MakeEntries(1, 1, 4)).ok());
  model.Save(hs, MakeEntries(1, 1, 4));
  for (uint64_t i = 2; i <= 300; i += 3) {
    auto ents = MakeEntries(i, 3, 4, 150);
    REQUIRE(w->Save({}, ents).ok());
    model.Save({}, ents);
  }
  size_t segments = w->SegmentNames().size();
  REQUIRE(segments >= 8);

  SECTION("no marker: nothing is released") {
    REQUIRE(w->ReleaseTo(300).ok());
    CHECK(w->SegmentNames().size() == segments);
  }
  SECTION("marker above the release index is not used") {
    REQUIRE(w->SaveSnapshotMarker(MakeMarker(200, 4)).ok());
    model.Marker(200);
    REQUIRE(w->ReleaseTo(150).ok());
    CHECK(w->SegmentNames().size() == segments);
  }
  SECTION("release keeps exactly the segments holding entries after the marker") {
    REQUIRE(w->SaveSnapshotMarker(MakeMarker(100, 4)).ok());
    model.Marker(100);
    CHECK(w->SaveSnapshotMarker(MakeMarker(99, 4)).code() ==
          absl::StatusCode::kFailedPrecondition);
    REQUIRE(w->SaveSnapshotMarker(MakeMarker(150, 4)).ok());
    model.Marker(150);
    // State machine durable through 280 but the newest marker <= 280 is 150:
    // entries 151.. must stay.
    REQUIRE(w->ReleaseTo(280).ok());
    std::vector<std::string> left = w->SegmentNames();
    CHECK(left.size() < segments);
    CHECK(CountSegments(dir) == left.size());
    w->Close();
    {
      Wal::Opened o = MustOpen(dir);
      CHECK(model.Diff(o.state) == "");
      CHECK(o.state.snapshot.index() == 150);
      CHECK(o.state.snapshot.conf_state().voters_size() == 2);
      CHECK(o.state.hard_state.term() == 4);
    }
    // Minimal: without the oldest segment kept, entry 151 would be lost.
    std::filesystem::remove(dir + "/" + left.front());
    auto broken = Wal::Open(dir, SmallSegments());
    CHECK(broken.status().code() == absl::StatusCode::kDataLoss);
  }
  SECTION("release after reopen uses the markers read back") {
    REQUIRE(w->SaveSnapshotMarker(MakeMarker(250, 4)).ok());
    model.Marker(250);
    w->Close();
    Wal::Opened o = MustOpen(dir);
    REQUIRE(model.Diff(o.state) == "");
    REQUIRE(o.wal->ReleaseTo(1000).ok());
    CHECK(o.wal->SegmentNames().size() < segments);
    auto ents = MakeEntries(301, 5, 5);
    REQUIRE(o.wal->Save(MakeHardState(5, 1, 300), ents).ok());
    model.Save(MakeHardState(5, 1, 300), ents);
    o.wal->Close();
    CHECK(model.Diff(MustOpen(dir).state) == "");
  }
  SECTION("a marker past the log (a snapshot from the leader) restarts the log after it") {
    REQUIRE(w->SaveSnapshotMarker(MakeMarker(500, 6)).ok());
    model.Marker(500);
    CHECK(w->last_index() == 500);
    auto ents = MakeEntries(501, 3, 6);
    REQUIRE(w->Save(MakeHardState(6, 3, 500), ents).ok());
    model.Save(MakeHardState(6, 3, 500), ents);
    REQUIRE(w->ReleaseTo(500).ok());
    CHECK(w->SegmentNames().size() == 1);
    w->Close();
    Wal::Opened o = MustOpen(dir);
    CHECK(model.Diff(o.state) == "");
    CHECK(o.state.entries.front().index() == 501);
  }
}

TEST_CASE("the metadata of another cluster is reported, and mixing clusters is an error",
          "[wal]") {
  TempDir tmp;
  std::string a = tmp.Sub("a");
  std::string b = tmp.Sub("b");
  {
    auto w = Wal::Create(a, WalMetadata{99, 3}, SmallSegments());
    REQUIRE(w.ok());
  }
  Wal::Opened o = MustOpen(a);
  CHECK(o.state.metadata.cluster_id == 99);
  CHECK(o.state.metadata.member_id == 3);
  CHECK(o.wal->metadata().cluster_id == 99);
  o.wal->Close();

  // A segment of cluster 99 placed after segment 1 of another cluster.
  MustCreate(b)->Close();
  std::filesystem::copy_file(a + "/0000000000000001-0000000000000001.wal",
                             b + "/0000000000000002-0000000000000001.wal");
  auto mixed = Wal::Open(b, SmallSegments());
  REQUIRE(mixed.status().code() == absl::StatusCode::kDataLoss);
}

}  // namespace
