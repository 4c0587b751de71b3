// Wal::Open: reads every segment, checks every record, repairs a torn tail.
// The rules are in wal.h ("Crash safety").
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "storage/crc32c.h"
#include "storage/wal.h"
#include "storage/wal_file.h"
#include "storage/wal_format.h"

namespace storage {

using wal_format::Parse;
using wal_format::Record;
using wal_format::RecordType;

namespace {

// End of the data in `file`: the offset just past its last non-zero byte,
// rounded up to a record boundary.
uint64_t DataEnd(std::string_view file) {
  uint64_t end = file.size();
  // Mostly tens of MiB of pre-allocated zeros: skip them a word at a time.
  while (end >= 8 && (end % 8) != 0 && file[end - 1] == 0) --end;
  while (end >= 8) {
    uint64_t word;
    std::memcpy(&word, file.data() + end - 8, 8);
    if (word != 0) break;
    end -= 8;
  }
  while (end > 0 && file[end - 1] == 0) --end;
  return wal_format::AlignUp(end);
}

// The state rebuilt by replaying committed batches in order.
class Replay {
 public:
  WalRecovered& state() { return state_; }
  const std::vector<uint64_t>& markers() const { return markers_; }

  void HardState(const raftpb::HardState& hs) { state_.hard_state = hs; }

  void Marker(const raftpb::SnapshotMetadata& m) {
    state_.snapshot = m;
    if (m.index() > 0 && (markers_.empty() || markers_.back() < m.index())) {
      markers_.push_back(m.index());
    }
    std::vector<raftpb::Entry>& ents = state_.entries;
    if (ents.empty() || ents.front().index() > m.index()) return;
    if (ents.back().index() <= m.index()) {
      ents.clear();
    } else {
      ents.erase(ents.begin(), ents.begin() + static_cast<ptrdiff_t>(m.index() + 1 - ents.front().index()));
    }
  }

  // raft's rule: entry i replaces every entry >= i; entries at or below the
  // snapshot are ignored. A jump forward leaves a gap that only a later
  // snapshot marker can cover; Finish() checks that one did.
  void Entry(raftpb::Entry&& e) {
    std::vector<raftpb::Entry>& ents = state_.entries;
    uint64_t i = e.index();
    if (i <= state_.snapshot.index()) return;
    if (!ents.empty() && i >= ents.front().index() && i <= ents.back().index() + 1) {
      ents.resize(i - ents.front().index());
    } else {
      ents.clear();
    }
    ents.push_back(std::move(e));
  }

  absl::Status Finish() const {
    const std::vector<raftpb::Entry>& ents = state_.entries;
    uint64_t want = state_.snapshot.index() + 1;
    if (!ents.empty() && ents.front().index() != want) {
      return absl::DataLossError(absl::StrCat("wal: entries ", want, " to ",
                                              ents.front().index() - 1,
                                              " are missing (snapshot marker at ",
                                              state_.snapshot.index(), ")"));
    }
    return absl::OkStatus();
  }

 private:
  WalRecovered state_;
  std::vector<uint64_t> markers_;
};

struct SegmentResult {
  uint64_t committed_end = 0;    // just past the last committed batch
  uint64_t data_end = 0;         // just past the last non-zero byte
  uint64_t max_entry_index = 0;  // over committed batches
};

// Reads one segment into `replay`. `next_batch` is the number its first
// batch must carry (0 for the first segment read: any), advanced past the
// committed batches. Errors are DataLoss and name the file and offset.
class SegmentReader {
 public:
  // `first`: the oldest segment, whose metadata the others must match.
  // `last`: the newest segment, the only one that may end in a torn tail.
  SegmentReader(const std::string& path, uint64_t seq, uint64_t first_index, bool first,
                bool last, std::string_view file, Replay* replay, WalMetadata* metadata,
                uint64_t* next_batch)
      : path_(path), seq_(seq), first_index_(first_index), first_(first), last_(last),
        file_(file), replay_(replay), metadata_(metadata), next_batch_(next_batch) {}

  absl::StatusOr<SegmentResult> Read() {
    SegmentResult result;
    uint64_t off = 0;
    uint64_t batch = 0;           // number of the batch being read
    uint64_t batch_start = 0;
    std::vector<Record> pending;  // its records so far
    std::string why;
    bool header = false;          // the header batch has committed
    Parse parsed;
    for (;;) {
      Record rec;
      parsed = wal_format::ParseRecord(file_, off, &rec, &why);
      if (parsed != Parse::kOk) break;
      if (pending.empty()) {
        if (*next_batch_ != 0 && rec.batch != *next_batch_) {
          why = absl::StrCat("batch ", rec.batch, " where batch ", *next_batch_, " was expected");
          parsed = Parse::kBad;
          break;
        }
        batch = rec.batch;
        batch_start = off;
      } else if (rec.batch != batch) {
        why = absl::StrCat("record of batch ", rec.batch, " inside batch ", batch);
        parsed = Parse::kBad;
        break;
      }
      if ((rec.type == RecordType::kMetadata) != (off == 0)) {
        why = off == 0 ? "the segment does not start with a metadata record"
                       : "a metadata record after the start of the segment";
        parsed = Parse::kBad;
        break;
      }
      if (rec.type != RecordType::kCommit) {
        pending.push_back(rec);
        off += rec.size;
        continue;
      }
      wal_format::Commit commit;
      if (!wal_format::DecodeCommit(rec.payload, &commit) || commit.records != pending.size() ||
          commit.bytes != off - batch_start ||
          commit.crc != Crc(batch_start, off)) {
        why = absl::StrCat("commit record of batch ", batch, " does not match its records");
        parsed = Parse::kBad;
        break;
      }
      // The batch checks out: from here on its content must be valid.
      for (const Record& r : pending) {
        if (absl::Status s = Apply(r, &result); !s.ok()) return s;
      }
      if (!header && (pending.empty() || pending.front().type != RecordType::kMetadata)) {
        return Corrupt(0, "the segment does not start with a metadata record");
      }
      header = true;
      pending.clear();
      off += rec.size;
      result.committed_end = off;
      *next_batch_ = batch + 1;
    }

    result.data_end = DataEnd(file_);
    if (!header) {
      // A segment gets its final name only after its header batch is durable.
      return Corrupt(off, parsed == Parse::kZero ? "no header batch" : why);
    }
    bool clean = parsed == Parse::kZero && pending.empty() && result.data_end <= off;
    if (clean) return result;
    if (parsed == Parse::kZero) {
      why = pending.empty() ? "unexpected data after the last batch"
                            : absl::StrCat("batch ", batch, " has no commit record");
    }
    if (!last_) {
      // Later segments exist, so this one was complete and synced.
      return Corrupt(off, why);
    }
    // The last segment: torn tail, or damage with later batches behind it?
    uint64_t torn_batch = *next_batch_;
    for (uint64_t q = off + wal_format::kAlign; q < result.data_end;) {
      Record rec;
      std::string ignored;
      if (wal_format::ParseRecord(file_, q, &rec, &ignored) != Parse::kOk) {
        q += wal_format::kAlign;
        continue;
      }
      if (rec.batch != torn_batch) {
        return Corrupt(off, absl::StrCat(why, "; a valid record of batch ", rec.batch,
                                         " at offset ", q, " follows, so batch ", torn_batch,
                                         " is not a torn tail"));
      }
      q += rec.size;
    }
    return result;  // [committed_end, data_end) is the torn tail
  }

 private:
  uint32_t Crc(uint64_t from, uint64_t to) const { return Crc32c(file_.substr(from, to - from)); }

  absl::Status Corrupt(uint64_t off, absl::string_view why) const {
    return absl::DataLossError(absl::StrCat("wal: corrupt WAL segment ", path_, " at offset ",
                                            off, ": ", why));
  }

  absl::Status Apply(const Record& r, SegmentResult* result) {
    uint64_t off = static_cast<uint64_t>(r.payload.data() - file_.data()) - wal_format::kHeaderSize;
    switch (r.type) {
      case RecordType::kMetadata: {
        wal_format::SegmentHeader h;
        std::string why;
        if (!wal_format::DecodeSegmentHeader(r.payload, &h, &why)) return Corrupt(off, why);
        if (h.seq != seq_ || h.first_index != first_index_) {
          return Corrupt(off, absl::StrCat("the metadata names segment ", h.seq, "-", h.first_index,
                                           ", not the file's name"));
        }
        if (first_) {
          *metadata_ = h.metadata;
        } else if (h.metadata.cluster_id != metadata_->cluster_id ||
                   h.metadata.member_id != metadata_->member_id) {
          return Corrupt(off, absl::StrCat("segment of cluster ", h.metadata.cluster_id,
                                           " member ", h.metadata.member_id,
                                           " among segments of cluster ", metadata_->cluster_id,
                                           " member ", metadata_->member_id));
        }
        return absl::OkStatus();
      }
      case RecordType::kEntry: {
        raftpb::Entry e;
        if (!e.ParseFromArray(r.payload.data(), static_cast<int>(r.payload.size()))) {
          return Corrupt(off, "undecodable entry");
        }
        result->max_entry_index = std::max(result->max_entry_index, e.index());
        replay_->Entry(std::move(e));
        return absl::OkStatus();
      }
      case RecordType::kHardState: {
        raftpb::HardState hs;
        if (!hs.ParseFromArray(r.payload.data(), static_cast<int>(r.payload.size()))) {
          return Corrupt(off, "undecodable hard state");
        }
        replay_->HardState(hs);
        return absl::OkStatus();
      }
      case RecordType::kSnapshot: {
        raftpb::SnapshotMetadata m;
        if (!m.ParseFromArray(r.payload.data(), static_cast<int>(r.payload.size()))) {
          return Corrupt(off, "undecodable snapshot marker");
        }
        replay_->Marker(m);
        return absl::OkStatus();
      }
      case RecordType::kCommit:
        break;  // never pending
    }
    return absl::OkStatus();
  }

  const std::string& path_;
  uint64_t seq_;
  uint64_t first_index_;
  bool first_;
  bool last_;
  std::string_view file_;
  Replay* replay_;
  WalMetadata* metadata_;
  uint64_t* next_batch_;
};

}  // namespace

absl::StatusOr<Wal::Opened> Wal::Open(const std::string& dir, const WalOptions& options) {
  if (options.segment_bytes < 4096) {
    return absl::InvalidArgumentError("wal: segment_bytes must be at least 4096");
  }
  absl::StatusOr<int> dir_fd = wal_file::OpenDir(dir, /*lock=*/true);
  if (!dir_fd.ok()) return dir_fd.status();
  std::unique_ptr<Wal> wal(new Wal(dir, options));
  wal->dir_fd_ = *dir_fd;

  // name by seq; *.tmp files are segments whose creation never finished.
  std::map<uint64_t, std::pair<std::string, uint64_t>> names;
  bool removed = false;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    uint64_t seq, index;
    if (name.size() > 4 && name.ends_with(".tmp")) {
      std::filesystem::remove(e.path(), ec);
      if (ec) return absl::InternalError(absl::StrCat("wal: remove ", name, ": ", ec.message()));
      removed = true;
    } else if (wal_format::ParseSegmentName(name, &seq, &index)) {
      if (!names.emplace(seq, std::make_pair(name, index)).second) {
        return absl::DataLossError(absl::StrCat("wal: two segments numbered ", seq, " in ", dir,
                                                ": ", names[seq].first, " and ", name));
      }
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("wal: list ", dir, ": ", ec.message()));
  if (removed) {
    if (absl::Status s = wal_file::SyncDir(wal->dir_fd_, dir); !s.ok()) return s;
  }
  if (names.empty()) return absl::DataLossError(absl::StrCat("wal: no segments in ", dir));
  for (auto it = std::next(names.begin()); it != names.end(); ++it) {
    if (it->first != std::prev(it)->first + 1) {
      return absl::DataLossError(absl::StrCat("wal: segment ", std::prev(it)->first + 1,
                                              " is missing from ", dir, " (found ", it->second.first,
                                              " after ", std::prev(it)->second.first, ")"));
    }
  }

  Replay replay;
  uint64_t next_batch = 0;
  SegmentResult tail;
  for (auto it = names.begin(); it != names.end(); ++it) {
    const auto& [seq, entry] = *it;
    const auto& [name, index] = entry;
    std::string path = dir + "/" + name;
    bool last = std::next(it) == names.end();
    int fd = ::open(path.c_str(), (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return wal_file::ErrnoError("open", path, errno);
    absl::StatusOr<uint64_t> size = wal_file::FileSize(fd, path);
    if (!size.ok()) {
      ::close(fd);
      return size.status();
    }
    const uint64_t file_size = *size;
    // A whole pre-allocated segment is mapped. A file shorter than its
    // pre-allocation (someone truncated it) is read and padded with the
    // zeros posix_fallocate would have put there.
    std::optional<wal_file::MappedFile> mapped;
    std::string copy;
    std::string_view bytes;
    if (file_size >= options.segment_bytes) {
      absl::StatusOr<wal_file::MappedFile> m = wal_file::MappedFile::Map(fd, file_size, path);
      if (!m.ok()) {
        ::close(fd);
        return m.status();
      }
      mapped.emplace(std::move(*m));
      bytes = mapped->data();
    } else {
      absl::StatusOr<std::string> file = wal_file::ReadAll(fd, path);
      if (!file.ok()) {
        ::close(fd);
        return file.status();
      }
      copy = std::move(*file);
      copy.resize(options.segment_bytes, '\0');
      bytes = copy;
    }
    SegmentReader reader(path, seq, index, it == names.begin(), last, bytes, &replay,
                         &wal->metadata_, &next_batch);
    absl::StatusOr<SegmentResult> read = reader.Read();
    if (!read.ok()) {
      ::close(fd);
      return read.status();
    }
    wal->segments_.push_back(Segment{name, seq, read->max_entry_index});
    if (!last) {
      ::close(fd);
      continue;
    }
    wal->file_fd_ = fd;
    tail = *read;
    tail.data_end = std::min<uint64_t>(tail.data_end, file_size);
  }
  if (absl::Status s = replay.Finish(); !s.ok()) return s;

  // Repair the tail: zero the torn batch (so no stale record can be taken for
  // a later batch), restore the pre-allocation, and make both durable before
  // any new batch is written over them.
  const std::string path = dir + "/" + wal->segments_.back().name;
  WalRecovered& state = replay.state();
  bool dirty = false;
  if (tail.data_end > tail.committed_end) {
    if (absl::Status s = wal_file::ZeroRange(wal->file_fd_, tail.committed_end, tail.data_end, path);
        !s.ok()) {
      return s;
    }
    state.torn_tail = absl::StrCat(path, ": ", tail.data_end - tail.committed_end,
                                   " bytes at offset ", tail.committed_end);
    dirty = true;
  }
  absl::StatusOr<uint64_t> size = wal_file::FileSize(wal->file_fd_, path);
  if (!size.ok()) return size.status();
  wal->file_size_ = *size;
  if (*size < options.segment_bytes) {
    if (absl::Status s = wal_file::Allocate(wal->file_fd_, options.segment_bytes, path); !s.ok()) {
      return s;
    }
    wal->file_size_ = options.segment_bytes;
    dirty = true;
  }
  if (dirty) {
    if (absl::Status s = wal_file::SyncData(wal->file_fd_, path); !s.ok()) return s;
  }

  wal->offset_ = tail.committed_end;
  wal->next_batch_ = next_batch;
  wal->marker_indexes_ = replay.markers();
  wal->hard_state_ = state.hard_state;
  wal->snapshot_ = state.snapshot;
  wal->last_index_ = state.entries.empty() ? state.snapshot.index() : state.entries.back().index();
  state.metadata = wal->metadata_;
  Opened opened;
  opened.state = std::move(state);
  opened.wal = std::move(wal);
  return opened;
}

}  // namespace storage
