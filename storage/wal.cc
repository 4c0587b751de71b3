#include "storage/wal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "storage/wal_file.h"
#include "storage/wal_format.h"

namespace storage {

using wal_format::BatchEncoder;
using wal_format::RecordType;

namespace {

bool IsEmpty(const raftpb::HardState& hs) {
  return hs.term() == 0 && hs.vote() == 0 && hs.commit() == 0;
}

bool Equal(const raftpb::HardState& a, const raftpb::HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}

std::string Join(const std::string& dir, const std::string& name) { return dir + "/" + name; }

}  // namespace

absl::StatusOr<std::unique_ptr<Wal>> Wal::Create(const std::string& dir,
                                                 const WalMetadata& metadata,
                                                 const WalOptions& options) {
  if (options.segment_bytes < 4096) {
    return absl::InvalidArgumentError("wal: segment_bytes must be at least 4096");
  }
  // An empty directory may stand in for the WAL: rename() replaces it.
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("wal: ", dir, " already exists"));
  }
  std::filesystem::path final_path(dir);
  std::string parent = final_path.parent_path().empty() ? "." : final_path.parent_path().string();
  std::filesystem::create_directories(parent, ec);
  if (ec) return absl::InternalError(absl::StrCat("wal: create ", parent, ": ", ec.message()));
  // Built under a temporary name and renamed, so that a crash leaves either
  // no WAL directory or a complete one. A leftover from such a crash is
  // never acknowledged state: remove it.
  std::string tmp = dir + ".tmp";
  std::filesystem::remove_all(tmp, ec);
  if (ec) return absl::InternalError(absl::StrCat("wal: remove ", tmp, ": ", ec.message()));
  if (::mkdir(tmp.c_str(), 0755) != 0) return wal_file::ErrnoError("mkdir", tmp, errno);

  std::unique_ptr<Wal> wal(new Wal(dir, options));
  wal->metadata_ = metadata;
  absl::StatusOr<int> dir_fd = wal_file::OpenDir(tmp, /*lock=*/true);
  if (!dir_fd.ok()) return dir_fd.status();
  wal->dir_fd_ = *dir_fd;
  if (absl::Status s = wal->OpenNewSegment(tmp, 1, 0); !s.ok()) return s;
  if (::rename(tmp.c_str(), dir.c_str()) != 0) return wal_file::ErrnoError("rename", tmp, errno);
  absl::StatusOr<int> parent_fd = wal_file::OpenDir(parent, /*lock=*/false);
  if (!parent_fd.ok()) return parent_fd.status();
  absl::Status synced = wal_file::SyncDir(*parent_fd, parent);
  wal_file::CloseFd(&*parent_fd);
  if (!synced.ok()) return synced;
  return wal;
}

bool Wal::Exists(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    uint64_t seq, index;
    if (wal_format::ParseSegmentName(e.path().filename().string(), &seq, &index)) return true;
  }
  return false;
}

Wal::~Wal() { Close(); }

void Wal::Close() {
  wal_file::CloseFd(&file_fd_);
  wal_file::CloseFd(&dir_fd_);  // releases the flock
  if (poisoned_.ok()) poisoned_ = absl::FailedPreconditionError("wal: closed");
}

std::vector<std::string> Wal::SegmentNames() const {
  std::vector<std::string> names;
  for (const Segment& s : segments_) names.push_back(s.name);
  return names;
}

absl::Status Wal::Poison(absl::Status s) {
  poisoned_ = absl::DataLossError(
      absl::StrCat("wal: a write failed; the WAL can no longer be trusted: ", s.message()));
  return s;
}

absl::Status Wal::OpenNewSegment(const std::string& dir, uint64_t first_index, uint64_t min_bytes) {
  wal_format::SegmentHeader header;
  header.seq = segments_.empty() ? 1 : segments_.back().seq + 1;
  header.first_index = first_index;
  header.metadata = metadata_;
  std::string name = wal_format::SegmentName(header.seq, first_index);
  std::string tmp = Join(dir, name + ".tmp");

  std::string head;
  BatchEncoder enc(&head, next_batch_);
  enc.AddRaw(RecordType::kMetadata, wal_format::EncodeSegmentHeader(header));
  enc.Add(RecordType::kHardState, hard_state_);
  enc.Add(RecordType::kSnapshot, snapshot_);
  enc.Finish();
  uint64_t size = std::max<uint64_t>(options_.segment_bytes, head.size() + min_bytes);

  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Poison(wal_file::ErrnoError("open", tmp, errno));
  absl::Status s = wal_file::Allocate(fd, size, tmp);
  if (s.ok()) s = wal_file::WriteAt(fd, head, 0, tmp);
  if (s.ok()) s = wal_file::SyncData(fd, tmp);
  if (s.ok() && ::rename(tmp.c_str(), Join(dir, name).c_str()) != 0) {
    s = wal_file::ErrnoError("rename", tmp, errno);
  }
  // The segment counts only once its name is durable: batches written to it
  // are acknowledged, so the directory entry must survive a crash too.
  if (s.ok()) s = wal_file::SyncDir(dir_fd_, dir);
  if (!s.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());  // best effort; Open removes leftovers anyway
    return Poison(s);
  }
  wal_file::CloseFd(&file_fd_);
  file_fd_ = fd;
  file_size_ = size;
  offset_ = head.size();
  ++next_batch_;
  segments_.push_back(Segment{name, header.seq, 0});
  return absl::OkStatus();
}

absl::Status Wal::WriteBatch(absl::FunctionRef<void(uint64_t batch, std::string* out)> encode,
                             uint64_t first_index, uint64_t max_entry_index) {
  buf_.clear();
  encode(next_batch_, &buf_);
  if (offset_ + buf_.size() > file_size_) {
    // Roll over. The new segment's header batch takes this batch's number,
    // so encode again; this happens once per segment.
    if (absl::Status s = OpenNewSegment(dir_, first_index, buf_.size()); !s.ok()) return s;
    buf_.clear();
    encode(next_batch_, &buf_);
  }
  std::string path = Join(dir_, segments_.back().name);
  if (absl::Status s = wal_file::WriteAt(file_fd_, buf_, offset_, path); !s.ok()) return Poison(s);
  // A failed fdatasync may have dropped dirty pages for good: never retry.
  if (absl::Status s = wal_file::SyncData(file_fd_, path); !s.ok()) return Poison(s);
  offset_ += buf_.size();
  ++next_batch_;
  Segment& seg = segments_.back();
  seg.max_entry_index = std::max(seg.max_entry_index, max_entry_index);
  if (buf_.capacity() > (8u << 20)) std::string().swap(buf_);  // don't pin a huge batch
  return absl::OkStatus();
}

absl::Status Wal::Save(const raftpb::HardState& hard_state,
                       const std::vector<raftpb::Entry>& entries) {
  if (!poisoned_.ok()) return poisoned_;
  bool write_hs = !IsEmpty(hard_state) && !Equal(hard_state, hard_state_);
  if (!write_hs && entries.empty()) return absl::OkStatus();
  uint64_t first = last_index_ + 1;
  uint64_t last = last_index_;
  if (!entries.empty()) {
    first = entries.front().index();
    if (first == 0 || first > last_index_ + 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "wal: entries start at ", first, " but the log ends at ", last_index_));
    }
    for (size_t i = 1; i < entries.size(); ++i) {
      if (entries[i].index() != first + i) {
        return absl::InvalidArgumentError(
            absl::StrCat("wal: entry ", entries[i].index(), " follows ", first + i - 1));
      }
    }
    last = entries.back().index();
  }
  auto encode = [&](uint64_t batch, std::string* out) {
    BatchEncoder enc(out, batch);
    if (write_hs) enc.Add(RecordType::kHardState, hard_state);
    for (const raftpb::Entry& e : entries) enc.Add(RecordType::kEntry, e);
    enc.Finish();
  };
  if (absl::Status s = WriteBatch(encode, first, entries.empty() ? 0 : last); !s.ok()) return s;
  if (write_hs) hard_state_ = hard_state;
  // Entries at or below the snapshot are ignored on replay (as
  // raft::MemoryStorage::Append ignores them); they cannot move last_index_.
  if (!entries.empty() && last > snapshot_.index()) last_index_ = last;
  return absl::OkStatus();
}

absl::Status Wal::SaveSnapshotMarker(const raftpb::SnapshotMetadata& meta) {
  if (!poisoned_.ok()) return poisoned_;
  if (meta.index() < snapshot_.index()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "wal: snapshot marker ", meta.index(), " is older than marker ", snapshot_.index()));
  }
  auto encode = [&](uint64_t batch, std::string* out) {
    BatchEncoder enc(out, batch);
    enc.Add(RecordType::kSnapshot, meta);
    enc.Finish();
  };
  if (absl::Status s = WriteBatch(encode, last_index_ + 1, 0); !s.ok()) return s;
  snapshot_ = meta;
  if (meta.index() > 0 && (marker_indexes_.empty() || marker_indexes_.back() < meta.index())) {
    marker_indexes_.push_back(meta.index());
  }
  last_index_ = std::max(last_index_, meta.index());
  return absl::OkStatus();
}

absl::Status Wal::ReleaseTo(uint64_t index) {
  if (!poisoned_.ok()) return poisoned_;
  auto it = std::upper_bound(marker_indexes_.begin(), marker_indexes_.end(), index);
  if (it == marker_indexes_.begin()) return absl::OkStatus();  // no marker <= index
  uint64_t snap = *(it - 1);
  // Oldest first, one directory sync each, so that after a crash the
  // segments left are always a gap-free suffix. Every segment starts with
  // the metadata, HardState and marker current when it was created, so a
  // suffix needs nothing from the deleted ones but entries <= snap, which
  // Open no longer returns once marker `snap` (or a newer one) is read.
  while (segments_.size() > 1 && segments_.front().max_entry_index <= snap) {
    std::string path = Join(dir_, segments_.front().name);
    if (::unlink(path.c_str()) != 0) return Poison(wal_file::ErrnoError("unlink", path, errno));
    if (absl::Status s = wal_file::SyncDir(dir_fd_, dir_); !s.ok()) return Poison(s);
    segments_.erase(segments_.begin());
  }
  return absl::OkStatus();
}

}  // namespace storage
