// Fuzz target: receiving a raft snapshot from a peer — the manifest and
// file chunks of peerpb::SnapshotChunk messages through SnapshotInbox
// (server/peer/snapshot_inbox.cc) into SnapshotFileSink and the install
// directories (storage/snapshot_install.cc). The input is a stream of
// length-delimited SnapshotChunk messages (fuzz_util.h SplitDelimited), fed
// as PeerService's snapshot reader feeds them: the first one must name the
// cluster and carries the MSG_SNAP and the manifest, every chunk may carry
// file bytes, and the one marked `last` ends the stream (Finish: sync, open
// the received store, mark it ready). A stream that breaks off is aborted.
// The member directory lives in this process's scratch directory.
//
// Properties: no crash; nothing is ever written outside the member
// directory, whatever names the manifest holds.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/logger.h"
#include "peerpb/peer.pb.h"
#include "server/peer/snapshot_inbox.h"
#include "storage/snapshot_install.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// The cluster the seeds are addressed to (tests/fuzz/make_corpus.py).
constexpr uint64_t kClusterId = 0x1000;
constexpr uint64_t kMemberId = 0x1;
constexpr size_t kMaxChunks = 64;

// Files and directories anywhere under `dir`, for the containment check.
size_t CountEntries(const std::filesystem::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ketcd_fuzz::ScratchDir scratch("snapshot");
  static const base::ManualClock clock;
  static base::Logger logger(&clock, base::LogFormat::kText, base::LogLevel::kFatal);
  scratch.Clear();
  const std::string member_dir = scratch.Sub("member");
  const std::string outside = scratch.Sub("outside");
  std::filesystem::create_directories(member_dir);
  std::filesystem::create_directories(outside);

  server::SnapshotInbox inbox(storage::SnapshotDirs(member_dir), kMemberId, &logger);
  bool begun = false;
  bool done = false;
  for (std::string_view frame : ketcd_fuzz::SplitDelimited(data, size, kMaxChunks)) {
    peerpb::SnapshotChunk chunk;
    if (!chunk.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) break;  // gRPC drops the call
    if (!begun) {
      if (chunk.cluster_id() != kClusterId) break;
      std::vector<storage::SnapshotFile> manifest;
      for (const auto& f : chunk.manifest()) manifest.push_back({f.name(), f.size()});
      absl::Status s = inbox.Begin(chunk.message(), std::move(manifest));
      FUZZ_NOTE("begin: %s", s.ToString().c_str());
      if (!s.ok()) break;
      begun = true;
    }
    absl::Status s;
    if (!chunk.file().empty()) s = inbox.Write(chunk.file(), chunk.offset(), chunk.data(), chunk.crc32c());
    if (s.ok() && chunk.last()) {
      auto msg = inbox.Finish();
      FUZZ_NOTE("finish: %s", msg.status().ToString().c_str());
      done = true;
      break;
    }
    if (!s.ok()) {
      FUZZ_NOTE("write: %s", s.ToString().c_str());
      inbox.Abort();
      done = true;
      break;
    }
  }
  if (begun && !done) inbox.Abort();  // the stream ended early
  FUZZ_CHECK(CountEntries(outside) == 0, "a snapshot wrote outside the member directory");
  FUZZ_CHECK(CountEntries(scratch.path()) - CountEntries(member_dir) == 2,
             "a snapshot wrote next to the member directory");
  return 0;
}
