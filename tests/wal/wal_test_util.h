// Helpers for the WAL tests: temp dirs, deterministic entries, raw file
// surgery, and a model of what Open must return.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "storage/wal.h"
#include "tests/common/temp_dir.h"
#include "storage/wal_format.h"

namespace wal_test {

// The tests' one temp-dir guard (tests/common/temp_dir.h).
using TempDir = ketcd_test::TempDir;

inline storage::WalOptions SmallSegments(uint64_t bytes = 4096) {
  storage::WalOptions o;
  o.segment_bytes = bytes;
  return o;
}

// Entry data is a function of (index, term), so any entry can be checked.
inline raftpb::Entry MakeEntry(uint64_t index, uint64_t term, size_t size = 40) {
  raftpb::Entry e;
  e.set_index(index);
  e.set_term(term);
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>('a' + (index * 7 + term * 3 + i) % 26);
  e.set_data(data);
  return e;
}

inline std::vector<raftpb::Entry> MakeEntries(uint64_t first, uint64_t n, uint64_t term,
                                              size_t size = 40) {
  std::vector<raftpb::Entry> v;
  for (uint64_t i = 0; i < n; ++i) v.push_back(MakeEntry(first + i, term, size));
  return v;
}

inline raftpb::HardState MakeHardState(uint64_t term, uint64_t vote, uint64_t commit) {
  raftpb::HardState hs;
  hs.set_term(term);
  hs.set_vote(vote);
  hs.set_commit(commit);
  return hs;
}

inline raftpb::SnapshotMetadata MakeMarker(uint64_t index, uint64_t term) {
  raftpb::SnapshotMetadata m;
  m.set_index(index);
  m.set_term(term);
  m.mutable_conf_state()->add_voters(1);
  m.mutable_conf_state()->add_voters(2);
  return m;
}

// What Open must return: raft's log rules applied to what was saved.
class Model {
 public:
  void Save(const raftpb::HardState& hs, const std::vector<raftpb::Entry>& ents) {
    if (hs.term() || hs.vote() || hs.commit()) hs_ = hs;
    for (const auto& e : ents) {
      if (e.index() <= snap_) continue;
      log_.erase(log_.lower_bound(e.index()), log_.end());
      log_[e.index()] = e;
    }
  }
  void Marker(uint64_t index) {
    snap_ = index;
    log_.erase(log_.begin(), log_.upper_bound(index));
  }
  uint64_t snap() const { return snap_; }
  uint64_t last() const { return log_.empty() ? snap_ : log_.rbegin()->first; }
  const raftpb::HardState& hs() const { return hs_; }

  // Empty string if `got` matches; else what differs.
  std::string Diff(const storage::WalRecovered& got) const {
    if (got.snapshot.index() != snap_) {
      return "snapshot " + std::to_string(got.snapshot.index()) + " != " + std::to_string(snap_);
    }
    if (got.hard_state.SerializeAsString() != hs_.SerializeAsString()) {
      return "hard state " + got.hard_state.ShortDebugString() + " != " + hs_.ShortDebugString();
    }
    if (got.entries.size() != log_.size()) {
      return "entry count " + std::to_string(got.entries.size()) + " != " +
             std::to_string(log_.size());
    }
    size_t k = 0;
    for (const auto& [i, e] : log_) {
      if (got.entries[k].SerializeAsString() != e.SerializeAsString()) {
        return "entry " + std::to_string(i) + " differs: " + got.entries[k].ShortDebugString();
      }
      ++k;
    }
    return "";
  }

 private:
  raftpb::HardState hs_;
  uint64_t snap_ = 0;
  std::map<uint64_t, raftpb::Entry> log_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Offset just past the last non-zero byte.
inline size_t DataEnd(const std::string& file) {
  size_t end = file.size();
  while (end > 0 && file[end - 1] == 0) --end;
  return end;
}

inline void CopyDir(const std::string& from, const std::string& to) {
  std::filesystem::remove_all(to);
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

// [start, end) of each committed batch of a segment's content, in order
// (the header batch first), found by parsing it.
inline std::vector<std::pair<size_t, size_t>> Batches(const std::string& file) {
  namespace f = storage::wal_format;
  std::vector<std::pair<size_t, size_t>> out;
  size_t off = 0, start = 0;
  f::Record rec;
  std::string why;
  while (f::ParseRecord(file, off, &rec, &why) == f::Parse::kOk) {
    off += rec.size;
    if (rec.type == f::RecordType::kCommit) {
      out.emplace_back(start, off);
      start = off;
    }
  }
  return out;
}

}  // namespace wal_test
