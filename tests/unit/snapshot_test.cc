// Raft snapshots on disk: the checkpoint → files → received store path, the
// crash-safe swap of the live store at every crash point, and a raft log
// whose snapshot marker was not written before a crash.
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "server/state/applier.h"
#include "server/replication/raft_log.h"
#include "server/peer/snapshot_inbox.h"
#include "storage/crc32c.h"
#include "storage/snapshot_install.h"
#include "storage/wal.h"
#include "tests/unit/local_member.h"
#include "tests/unit/store_util.h"
#include "tests/common/temp_dir.h"

namespace ketcd_test {
namespace {

namespace fs = std::filesystem;

void PutKeys(storage::MvccStore& store, const std::string& prefix, int n, uint64_t applied) {
  auto wb = store.Write();
  for (int i = 0; i < n; ++i) {
    auto txn = wb->BeginTxn();
    REQUIRE(txn.Put(prefix + std::to_string(i), "v" + std::to_string(i), 0).ok());
    wb->EndTxn(txn);
  }
  REQUIRE(wb->Commit(applied, /*sync=*/false).ok());
}

int64_t CountKeys(const storage::MvccStore& store, const std::string& prefix) {
  auto view = store.Read();
  auto r = view->Range(storage::KeyRange::FromEtcd(prefix, prefix + "\xff"), {});
  REQUIRE(r.ok());
  return r->count;
}

// Moves a checkpoint of `from` into `dirs.receiving()` through the inbox, as
// the peer service does, and returns what it hands to raft.
absl::StatusOr<raftpb::Message> Transfer(storage::MvccStore& from, const std::string& checkpoint,
                                         server::SnapshotInbox& inbox, uint64_t index,
                                         bool corrupt_a_chunk = false) {
  REQUIRE(from.CreateCheckpoint(checkpoint).ok());
  auto files = storage::ListSnapshotFiles(checkpoint);
  REQUIRE(files.ok());
  raftpb::Message msg;
  msg.set_type(raftpb::MSG_SNAP);
  msg.set_from(9);
  msg.mutable_snapshot()->mutable_metadata()->set_index(index);
  msg.mutable_snapshot()->mutable_metadata()->set_term(3);
  if (auto s = inbox.Begin(msg, *files); !s.ok()) return s;
  constexpr size_t kChunk = 4096;  // small, so that files take several chunks
  bool corrupted = false;
  for (const auto& f : *files) {
    for (uint64_t off = 0; off < f.size; off += kChunk) {
      auto data = storage::ReadSnapshotChunk(checkpoint, f.name, off, kChunk);
      REQUIRE(data.ok());
      uint32_t crc = storage::Crc32c(*data);
      if (corrupt_a_chunk && !corrupted && !data->empty()) {
        (*data)[0] ^= 1;
        corrupted = true;
      }
      if (auto s = inbox.Write(f.name, off, *data, crc); !s.ok()) {
        inbox.Abort();
        return s;
      }
    }
  }
  return inbox.Finish();
}

}  // namespace

TEST_CASE("a checkpoint sent in chunks arrives as a store stamped for the receiver",
          "[snapshot]") {
  TempDir tmp;
  auto leader = OpenStore(tmp.Sub("leader"));
  PutKeys(*leader, "k/", 500, 40);
  REQUIRE(leader->PutMeta(storage::kMetaMemberId, "aaaa").ok());
  storage::SnapshotDirs dirs(tmp.Sub("member"));
  fs::create_directories(dirs.member_dir());
  base::RealClock clock;
  base::Logger logger(&clock);
  server::SnapshotInbox inbox(dirs, 0xbeef, &logger);

  SECTION("whole") {
    auto msg = Transfer(*leader, tmp.Sub("cp"), inbox, 40);
    REQUIRE(msg.ok());
    CHECK(msg->snapshot().metadata().index() == 40);
    REQUIRE(fs::exists(dirs.ready(40)));
    CHECK_FALSE(fs::exists(dirs.receiving()));
    auto got = OpenStore(dirs.ready(40));
    CHECK(CountKeys(*got, "k/") == 500);
    CHECK(got->AppliedIndex() == 40);
    CHECK(*got->GetMeta(storage::kMetaMemberId) == "beef");
    raftpb::SnapshotMetadata meta;
    REQUIRE(meta.ParseFromString(*got->GetMeta(storage::kMetaRaftSnapshot)));
    CHECK(meta.index() == 40);
    CHECK(meta.term() == 3);
  }
  SECTION("a chunk that fails its CRC is refused and nothing is left") {
    auto msg = Transfer(*leader, tmp.Sub("cp"), inbox, 40, /*corrupt_a_chunk=*/true);
    REQUIRE_FALSE(msg.ok());
    CHECK(absl::IsDataLoss(msg.status()));
    CHECK_FALSE(fs::exists(dirs.ready(40)));
    CHECK_FALSE(fs::exists(dirs.receiving()));
  }
  SECTION("a message whose index is not the store's applied index is refused") {
    auto msg = Transfer(*leader, tmp.Sub("cp"), inbox, 41);
    REQUIRE_FALSE(msg.ok());
    CHECK_FALSE(fs::exists(dirs.ready(41)));
  }
  SECTION("a second stream while one is in progress is refused") {
    raftpb::Message m;
    m.set_type(raftpb::MSG_SNAP);
    m.mutable_snapshot()->mutable_metadata()->set_index(5);
    REQUIRE(inbox.Begin(m, {}).ok());
    CHECK(absl::IsUnavailable(inbox.Begin(m, {})));
    inbox.Abort();
    CHECK(inbox.Begin(m, {}).ok());
    inbox.Abort();
  }
}

TEST_CASE("the file sink checks names, order and completeness", "[snapshot]") {
  TempDir tmp;
  CHECK_FALSE(storage::SnapshotFileSink::Create(tmp.Sub("a"), {{"../x", 1}}).ok());
  CHECK_FALSE(storage::SnapshotFileSink::Create(tmp.Sub("a"), {{"a/b", 1}}).ok());
  auto sink = storage::SnapshotFileSink::Create(tmp.Sub("a"), {{"f", 6}, {"empty", 0}});
  REQUIRE(sink.ok());
  CHECK_FALSE(sink->Write("g", 0, "abc").ok());    // not in the manifest
  CHECK_FALSE(sink->Write("f", 3, "abc").ok());    // out of order
  REQUIRE(sink->Write("f", 0, "abc").ok());
  CHECK_FALSE(sink->Write("f", 3, "abcd").ok());   // past the announced size
  CHECK(absl::IsDataLoss(sink->Finish()));         // f is incomplete
  auto again = storage::SnapshotFileSink::Create(tmp.Sub("a"), {{"f", 6}, {"empty", 0}});
  REQUIRE(again.ok());
  CHECK_FALSE(fs::exists(tmp.Sub("a") + "/f"));    // Create starts afresh
  REQUIRE(again->Write("f", 0, "abc").ok());
  REQUIRE(again->Write("f", 3, "def").ok());
  REQUIRE(again->Finish().ok());
  CHECK(fs::file_size(tmp.Sub("a") + "/f") == 6);
  CHECK(fs::exists(tmp.Sub("a") + "/empty"));
}

TEST_CASE("ReplaceWith swaps the live store for a checkpoint while readers come and go",
          "[snapshot]") {
  TempDir tmp;
  fs::create_directories(tmp.Sub("member"));
  auto live = OpenStore(tmp.Sub("member/db"));
  PutKeys(*live, "old/", 50, 10);
  auto other = OpenStore(tmp.Sub("other"));
  PutKeys(*other, "new/", 70, 99);
  REQUIRE(other->CreateCheckpoint(tmp.Sub("member/snap.install")).ok());

  std::atomic<bool> done{false}, mixed{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done) {
      // Every view sees one whole store or the other, never a mix.
      auto view = live->Read();
      auto o = view->Range(storage::KeyRange::FromEtcd("old/", "old0"), {});
      auto n = view->Range(storage::KeyRange::FromEtcd("new/", "new0"), {});
      if (!o.ok() || !n.ok() || !((o->count == 50 && n->count == 0) || (o->count == 0 && n->count == 70))) {
        mixed = true;
      }
      ++reads;
    }
  });
  while (reads < 20) std::this_thread::yield();
  REQUIRE(live->ReplaceWith(tmp.Sub("member/snap.install")).ok());
  const int after = reads;
  while (reads < after + 20) std::this_thread::yield();
  done = true;
  reader.join();
  CHECK_FALSE(mixed);
  CHECK(live->AppliedIndex() == 99);
  CHECK(CountKeys(*live, "new/") == 70);
  CHECK_FALSE(fs::exists(tmp.Sub("member/snap.install")));
  CHECK_FALSE(fs::exists(tmp.Sub("member/db.old")));
  PutKeys(*live, "more/", 5, 100);  // and it takes writes
  CHECK(CountKeys(*live, "more/") == 5);
}

TEST_CASE("a swap cut by a crash at any point is finished or dropped at start", "[snapshot]") {
  TempDir tmp;
  storage::SnapshotDirs dirs(tmp.Sub("member"));
  fs::create_directories(dirs.member_dir());
  auto make = [&](const std::string& dir, const std::string& prefix, uint64_t applied) {
    auto s = OpenStore(dir);
    PutKeys(*s, prefix, 3, applied);
  };
  // The states a crash can leave, in the order SwapInStore goes through them.
  SECTION("ready but not claimed: dropped, the old store stays") {
    make(dirs.db(), "old/", 5);
    make(dirs.ready(9), "new/", 9);
  }
  SECTION("claimed, not swapped: finished") {
    make(dirs.db(), "old/", 5);
    make(dirs.install(), "new/", 9);
  }
  SECTION("old store moved aside, new one not moved in: finished") {
    make(dirs.db() + ".old", "old/", 5);
    make(dirs.install(), "new/", 9);
  }
  SECTION("swapped, old store not removed yet: cleaned up") {
    make(dirs.db() + ".old", "old/", 5);
    make(dirs.db(), "new/", 9);
  }
  SECTION("a receive cut half-way: dropped") {
    make(dirs.db(), "old/", 5);
    fs::create_directories(dirs.receiving());
    std::ofstream(dirs.receiving() + "/000001.sst") << "partial";
  }
  REQUIRE(storage::RecoverSnapshotDirs(dirs).ok());
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dirs.member_dir())) left.push_back(e.path().filename());
  CHECK(left == std::vector<std::string>{"db"});
  auto store = OpenStore(dirs.db());
  const bool took_new = store->AppliedIndex() == 9;
  CHECK(CountKeys(*store, took_new ? "new/" : "old/") == 3);
  CHECK(CountKeys(*store, took_new ? "old/" : "new/") == 0);
}

TEST_CASE("a store installed from a snapshot whose log marker was lost still opens", "[snapshot]") {
  TempDir tmp;
  auto store = OpenStore(tmp.Sub("db"));
  server::RaftLogOptions lo = LoneRaftLogOptions(tmp.Sub("wal"));
  {
    auto log = server::OpenRaftLog(lo, *store);
    REQUIRE(log.ok());
  }
  // What InstallSnapshot leaves when it crashes right after the store swap:
  // a store at applied index 500 that records the snapshot, a log that ends
  // at the bootstrap entry.
  PutKeys(*store, "k/", 10, 500);
  raftpb::SnapshotMetadata meta;
  meta.set_index(500);
  meta.set_term(4);
  meta.mutable_conf_state()->add_voters(1);
  SECTION("with the store's record: the marker is written and the log opens") {
    REQUIRE(store->PutMeta(storage::kMetaRaftSnapshot, meta.SerializeAsString()).ok());
    {
      auto log = server::OpenRaftLog(lo, *store);
      INFO(log.status().ToString());
      REQUIRE(log.ok());
      CHECK(*log->cache->FirstIndex() == 501);
      CHECK(log->node->GetStatus().hard_state.term() == 4);
    }
    auto reopened = storage::Wal::Open(lo.wal_dir, {});
    REQUIRE(reopened.ok());
    CHECK(reopened->state.snapshot.index() == 500);
    CHECK(reopened->state.hard_state.term() == 4);
  }
  SECTION("without it: the log lost synced entries, refused") {
    auto log = server::OpenRaftLog(lo, *store);
    REQUIRE_FALSE(log.ok());
    CHECK(absl::IsDataLoss(log.status()));
  }
}

}  // namespace ketcd_test
