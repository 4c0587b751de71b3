#include "storage/snapshot_install.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/logger.h"
#include "storage/wal_file.h"

namespace storage {
namespace fs = std::filesystem;
using wal_file::SyncDirPath;
namespace {

absl::Status FsError(std::string_view what, const std::string& path, const std::error_code& ec) {
  return absl::InternalError(absl::StrCat(std::string(what), " ", path, ": ", ec.message()));
}

absl::Status Rename(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) return FsError(absl::StrCat("rename to ", to, " of"), from, ec);
  return absl::OkStatus();
}

std::string Parent(const std::string& path) { return fs::path(path).parent_path().string(); }

}  // namespace

std::string SnapshotDirs::ready(uint64_t index) const {
  return absl::StrCat(member_dir_, "/snap.ready.", index);
}

std::string SnapshotDirs::sending(uint64_t peer, uint64_t index) const {
  return absl::StrCat(member_dir_, "/snap.send.", absl::Hex(peer), ".", index);
}

absl::Status RemoveTree(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return FsError("remove", dir, ec);
  return absl::OkStatus();
}

absl::Status SwapInStore(const std::string& db_dir, const std::string& install_dir) {
  const std::string old = db_dir + ".old";
  std::error_code ec;
  if (fs::exists(install_dir, ec)) {
    if (fs::exists(db_dir, ec)) {
      if (auto s = RemoveTree(old); !s.ok()) return s;
      if (auto s = Rename(db_dir, old); !s.ok()) return s;
    }
    if (auto s = Rename(install_dir, db_dir); !s.ok()) return s;
    if (auto s = SyncDirPath(Parent(db_dir)); !s.ok()) return s;
  }
  return RemoveTree(old);
}

absl::Status RecoverSnapshotDirs(const SnapshotDirs& dirs, base::Logger* logger) {
  std::error_code ec;
  if (!fs::exists(dirs.member_dir(), ec)) return absl::OkStatus();
  if (fs::exists(dirs.install(), ec) && logger != nullptr) {
    logger->Info("finishing the installation of a received snapshot");
  }
  if (auto s = SwapInStore(dirs.db(), dirs.install()); !s.ok()) return s;
  for (const auto& entry : fs::directory_iterator(dirs.member_dir(), ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "snap.recv.") || absl::StartsWith(name, "snap.ready.") ||
        absl::StartsWith(name, "snap.send.")) {
      if (auto s = RemoveTree(entry.path().string()); !s.ok()) return s;
    }
  }
  if (ec) return FsError("list", dirs.member_dir(), ec);
  return absl::OkStatus();
}

absl::Status MarkReceived(const SnapshotDirs& dirs, uint64_t index) {
  if (auto s = RemoveTree(dirs.ready(index)); !s.ok()) return s;
  if (auto s = Rename(dirs.receiving(), dirs.ready(index)); !s.ok()) return s;
  return SyncDirPath(dirs.member_dir());
}

absl::Status ClaimReady(const SnapshotDirs& dirs, uint64_t index) {
  std::error_code ec;
  if (!fs::exists(dirs.ready(index), ec)) {
    return absl::NotFoundError(absl::StrCat("no received snapshot at index ", index));
  }
  if (auto s = RemoveTree(dirs.install()); !s.ok()) return s;
  if (auto s = Rename(dirs.ready(index), dirs.install()); !s.ok()) return s;
  if (auto s = SyncDirPath(dirs.member_dir()); !s.ok()) return s;
  // Older received snapshots are dead; a newer one (received meanwhile)
  // may still be handed to raft.
  for (const auto& entry : fs::directory_iterator(dirs.member_dir(), ec)) {
    const std::string name = entry.path().filename().string();
    uint64_t other = 0;
    if (absl::StartsWith(name, "snap.ready.") &&
        absl::SimpleAtoi(name.substr(sizeof("snap.ready.") - 1), &other) && other < index) {
      if (auto s = RemoveTree(entry.path().string()); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SnapshotFile>> ListSnapshotFiles(const std::string& dir) {
  std::vector<SnapshotFile> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) {
      return absl::FailedPreconditionError(
          absl::StrCat("snapshot ", dir, " holds a non-file: ", entry.path().string()));
    }
    files.push_back({entry.path().filename().string(), static_cast<uint64_t>(entry.file_size())});
  }
  if (ec) return FsError("list", dir, ec);
  std::sort(files.begin(), files.end(),
            [](const SnapshotFile& a, const SnapshotFile& b) { return a.name < b.name; });
  return files;
}

absl::StatusOr<std::string> ReadSnapshotChunk(const std::string& dir, const std::string& name,
                                              uint64_t offset, size_t max) {
  const std::string path = dir + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return wal_file::ErrnoError("open", path, errno);
  std::string out(max, '\0');
  size_t got = 0;
  while (got < max) {
    ssize_t n = ::pread(fd, out.data() + got, max - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return wal_file::ErrnoError("read", path, err);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

// ---------------------------------------------------------------- sink

namespace {

bool PlainName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos;
}

}  // namespace

SnapshotFileSink::SnapshotFileSink(std::string dir, std::vector<SnapshotFile> manifest)
    : dir_(std::move(dir)), manifest_(std::move(manifest)), received_(manifest_.size(), 0) {}

SnapshotFileSink::SnapshotFileSink(SnapshotFileSink&& o) noexcept
    : dir_(std::move(o.dir_)),
      manifest_(std::move(o.manifest_)),
      received_(std::move(o.received_)),
      fd_(std::exchange(o.fd_, -1)),
      current_(o.current_) {}

SnapshotFileSink& SnapshotFileSink::operator=(SnapshotFileSink&& o) noexcept {
  CloseCurrent();
  dir_ = std::move(o.dir_);
  manifest_ = std::move(o.manifest_);
  received_ = std::move(o.received_);
  fd_ = std::exchange(o.fd_, -1);
  current_ = o.current_;
  return *this;
}

SnapshotFileSink::~SnapshotFileSink() { CloseCurrent(); }

void SnapshotFileSink::CloseCurrent() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::StatusOr<SnapshotFileSink> SnapshotFileSink::Create(std::string dir,
                                                          std::vector<SnapshotFile> manifest) {
  for (const auto& f : manifest) {
    if (!PlainName(f.name)) {
      return absl::InvalidArgumentError(absl::StrCat("bad snapshot file name \"", f.name, "\""));
    }
  }
  if (auto s = RemoveTree(dir); !s.ok()) return s;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return FsError("create", dir, ec);
  return SnapshotFileSink(std::move(dir), std::move(manifest));
}

absl::Status SnapshotFileSink::Write(std::string_view name, uint64_t offset, std::string_view data) {
  auto it = std::find_if(manifest_.begin(), manifest_.end(),
                         [&](const SnapshotFile& f) { return f.name == name; });
  if (it == manifest_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot file \"", std::string(name), "\" is not in the manifest"));
  }
  const size_t i = static_cast<size_t>(it - manifest_.begin());
  if (offset != received_[i] || offset + data.size() > it->size) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot file ", std::string(name), ": chunk at ", offset,
                                                   " out of order or past its size ", it->size));
  }
  const std::string path = dir_ + "/" + it->name;
  if (fd_ < 0 || current_ != i) {
    CloseCurrent();
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return wal_file::ErrnoError("open", path, errno);
    current_ = i;
  }
  if (auto s = wal_file::WriteAt(fd_, data, offset, path); !s.ok()) return s;
  received_[i] += data.size();
  return absl::OkStatus();
}

absl::Status SnapshotFileSink::Finish() {
  CloseCurrent();
  for (size_t i = 0; i < manifest_.size(); ++i) {
    const std::string path = dir_ + "/" + manifest_[i].name;
    if (received_[i] != manifest_[i].size) {
      return absl::DataLossError(absl::StrCat("snapshot file ", manifest_[i].name, " is incomplete: ",
                                              received_[i], " of ", manifest_[i].size, " bytes"));
    }
    // Empty files were never opened by Write.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return wal_file::ErrnoError("open", path, errno);
    absl::Status s = wal_file::SyncData(fd, path);
    ::close(fd);
    if (!s.ok()) return s;
  }
  return SyncDirPath(dir_);
}

}  // namespace storage
