#include "storage/wal_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace storage::wal_file {

absl::Status ErrnoError(absl::string_view call, const std::string& path, int err) {
  std::string msg = absl::StrCat("wal: ", call, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

absl::Status WriteAt(int fd, std::string_view data, uint64_t offset, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("pwrite", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ZeroRange(int fd, uint64_t from, uint64_t to, const std::string& path) {
  static constexpr size_t kChunk = 1 << 20;
  std::string zeros(std::min<uint64_t>(kChunk, to > from ? to - from : 0), '\0');
  while (from < to) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), to - from));
    if (absl::Status s = WriteAt(fd, std::string_view(zeros.data(), n), from, path); !s.ok()) {
      return s;
    }
    from += n;
  }
  return absl::OkStatus();
}

absl::Status SyncData(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) return ErrnoError("fdatasync", path, errno);
  return absl::OkStatus();
}

absl::Status SyncDir(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return ErrnoError("fsync", path, errno);
  return absl::OkStatus();
}

absl::Status SyncDirPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path, errno);
  absl::Status s = SyncDir(fd, path);
  ::close(fd);
  return s;
}

absl::Status Allocate(int fd, uint64_t bytes, const std::string& path) {
  int err = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  if (err != 0) return ErrnoError("posix_fallocate", path, err);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FileSize(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError("fstat", path, errno);
  return static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<std::string> ReadAll(int fd, const std::string& path) {
  absl::StatusOr<uint64_t> size = FileSize(fd, path);
  if (!size.ok()) return size.status();
  // Segments are pre-allocated: most of a young segment is unwritten space
  // that reads as zeros. Where the file system reports it as a hole
  // (SEEK_DATA), stop there instead of reading megabytes of zeros; a
  // segment shorter than its size reads as if padded with zeros anyway.
  constexpr uint64_t kChunk = 1 << 20;
  std::string out;
  out.reserve(*size);
  uint64_t done = 0;
  while (done < *size) {
    off_t next_data = ::lseek(fd, static_cast<off_t>(done), SEEK_DATA);
    if (next_data < 0 && errno == ENXIO) break;  // only holes from here on
    if (next_data > static_cast<off_t>(done)) {
      out.resize(static_cast<size_t>(next_data), '\0');
      done = static_cast<uint64_t>(next_data);
    }
    const uint64_t want = std::min<uint64_t>(kChunk, *size - done);
    out.resize(done + want);
    uint64_t got = 0;
    while (got < want) {
      ssize_t n = ::pread(fd, out.data() + done + got, want - got, static_cast<off_t>(done + got));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("pread", path, errno);
      }
      if (n == 0) break;  // shrank under us; parse what there is
      got += static_cast<uint64_t>(n);
    }
    done += got;
    out.resize(done);
    if (got < want) break;
  }
  return out;
}

absl::StatusOr<MappedFile> MappedFile::Map(int fd, uint64_t size, const std::string& path) {
  if (size == 0) return MappedFile(nullptr, 0);
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (addr == MAP_FAILED) return ErrnoError("mmap", path, errno);
  return MappedFile(addr, size);
}

MappedFile::MappedFile(MappedFile&& other) noexcept : addr_(other.addr_), size_(other.size_) {
  other.addr_ = nullptr;
  other.size_ = 0;
}

MappedFile::~MappedFile() {
  if (addr_ != nullptr) ::munmap(addr_, size_);
}

absl::StatusOr<int> OpenDir(const std::string& path, bool lock) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path, errno);
  if (lock && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("wal: ", path, " is in use by another process or Wal"));
    }
    return ErrnoError("flock", path, err);
  }
  return fd;
}

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);  // nothing to do about a failed close of a synced file
  *fd = -1;
}

}  // namespace storage::wal_file
