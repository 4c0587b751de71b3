// Fuzz target: the WAL reader (storage/wal_open.cc, wal_format.cc) through
// Wal::Open, which has no in-memory entry point: the input is written as the
// segment files of a WAL directory (in this process's scratch directory) and
// opened. The input is split into segments where a record's payload starts
// with the segment magic (so a seed of two concatenated segments yields a
// two-segment WAL); each file is named after its metadata record's seq and
// first index, so the name check passes whenever the metadata parses.
//
// Properties: Open never crashes; when it succeeds, the entries it returns
// follow the snapshot marker without a gap, and the repaired WAL takes one
// more entry and reopens clean with it (the torn-tail repair left nothing
// a later append trips over).
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "storage/wal.h"
#include "storage/wal_format.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace wf = storage::wal_format;

constexpr size_t kMaxSegments = 4;

uint64_t Le64(std::string_view s, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[at + static_cast<size_t>(i)]);
  return v;
}

// Offsets where a segment starts: 0, and each 8-aligned offset whose record
// payload begins with the magic.
std::vector<size_t> SegmentStarts(std::string_view in) {
  std::vector<size_t> starts{0};
  for (size_t off = wf::kAlign; off + wf::kHeaderSize + wf::kMagic.size() <= in.size() &&
                                starts.size() < kMaxSegments;
       off += wf::kAlign) {
    if (in.substr(off + wf::kHeaderSize, wf::kMagic.size()) == wf::kMagic) starts.push_back(off);
  }
  return starts;
}

std::string NameFor(std::string_view segment, size_t ordinal) {
  // Metadata payload: magic, version, zero, seq, first index, ...
  if (segment.size() >= wf::kHeaderSize + 32) {
    return wf::SegmentName(Le64(segment, wf::kHeaderSize + 16), Le64(segment, wf::kHeaderSize + 24));
  }
  return wf::SegmentName(ordinal + 1, 0);
}

void CheckContiguous(const storage::WalRecovered& st) {
  uint64_t want = st.snapshot.index() + 1;
  for (const auto& e : st.entries) {
    FUZZ_CHECK(e.index() == want, "entry %llu where %llu was expected",
               static_cast<unsigned long long>(e.index()), static_cast<unsigned long long>(want));
    ++want;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ketcd_fuzz::ScratchDir scratch("wal");
  const std::string dir = scratch.Sub("wal");
  scratch.Clear();
  std::filesystem::create_directory(dir);

  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::vector<size_t> starts = SegmentStarts(in);
  for (size_t i = 0; i < starts.size(); ++i) {
    const size_t end = i + 1 < starts.size() ? starts[i + 1] : in.size();
    const std::string_view seg = in.substr(starts[i], end - starts[i]);
    // Two segments with the same name: the later one wins, as a copy would.
    ketcd_fuzz::WriteFileOrDie(dir + "/" + NameFor(seg, i), seg);
  }

  storage::WalOptions opts;
  opts.segment_bytes = 4096;  // the minimum: inputs longer than it take the mmap path
  auto opened = storage::Wal::Open(dir, opts);
  if (!opened.ok()) {  // DataLoss and friends: the expected answer to junk
    FUZZ_NOTE("%zu segments: %s", starts.size(), opened.status().ToString().c_str());
    return 0;
  }
  FUZZ_NOTE("%zu segments: %zu entries after snapshot %llu, torn tail \"%s\"", starts.size(),
            opened->state.entries.size(), static_cast<unsigned long long>(opened->state.snapshot.index()),
            opened->state.torn_tail.c_str());
  CheckContiguous(opened->state);
  std::unique_ptr<storage::Wal> wal = std::move(opened->wal);
  const uint64_t last = wal->last_index();
  if (last == std::numeric_limits<uint64_t>::max()) return 0;
  const size_t had = opened->state.entries.size();

  raftpb::Entry next;
  next.set_index(last + 1);
  next.set_term(std::max<uint64_t>(wal->hard_state().term(), 1));
  next.set_data("fuzz");
  absl::Status saved = wal->Save(raftpb::HardState(), {next});
  FUZZ_CHECK(saved.ok(), "append after a successful open: %s", saved.ToString().c_str());
  wal.reset();

  auto again = storage::Wal::Open(dir, opts);
  FUZZ_CHECK(again.ok(), "reopen after an append: %s", again.status().ToString().c_str());
  FUZZ_CHECK(again->state.torn_tail.empty(), "torn tail after a clean append: %s",
             again->state.torn_tail.c_str());
  CheckContiguous(again->state);
  const auto& ents = again->state.entries;
  FUZZ_CHECK(!ents.empty() && ents.back().index() == last + 1 && ents.back().data() == "fuzz",
             "the appended entry did not come back");
  FUZZ_CHECK(ents.size() == had + 1, "%zu entries before the append, %zu after", had, ents.size());
  return 0;
}
