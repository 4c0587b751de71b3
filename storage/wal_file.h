// Thin POSIX file helpers for the WAL: every failure becomes an
// absl::Status that names the call, the path and errno. Internal to storage/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace storage::wal_file {

[[nodiscard]] absl::Status ErrnoError(absl::string_view call, const std::string& path, int err);
// pwrite until all of `data` is written (retrying EINTR and short writes).
[[nodiscard]] absl::Status WriteAt(int fd, std::string_view data, uint64_t offset,
                                   const std::string& path);
// Overwrites [from, to) with zeros.
[[nodiscard]] absl::Status ZeroRange(int fd, uint64_t from, uint64_t to, const std::string& path);
[[nodiscard]] absl::Status SyncData(int fd, const std::string& path);  // fdatasync
[[nodiscard]] absl::Status SyncDir(int fd, const std::string& path);   // fsync of a directory
// Opens, fsyncs and closes the directory at `path`.
[[nodiscard]] absl::Status SyncDirPath(const std::string& path);
[[nodiscard]] absl::Status Allocate(int fd, uint64_t bytes, const std::string& path);
[[nodiscard]] absl::StatusOr<uint64_t> FileSize(int fd, const std::string& path);
[[nodiscard]] absl::StatusOr<std::string> ReadAll(int fd, const std::string& path);

// A read-only mapping of the first `size` bytes of a file: reading a 64 MiB
// pre-allocated segment costs the pages the parser touches, not a copy (and
// a memset) of the whole segment. `size` must not exceed the file's size.
class MappedFile {
 public:
  [[nodiscard]] static absl::StatusOr<MappedFile> Map(int fd, uint64_t size, const std::string& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&&) = delete;
  ~MappedFile();
  std::string_view data() const { return {static_cast<const char*>(addr_), size_}; }

 private:
  MappedFile(void* addr, size_t size) : addr_(addr), size_(size) {}
  void* addr_;
  size_t size_;
};
// Opens a directory read-only; with `lock`, takes an exclusive flock on it
// (FailedPrecondition if another open file description holds it).
[[nodiscard]] absl::StatusOr<int> OpenDir(const std::string& path, bool lock);
void CloseFd(int* fd);

}  // namespace storage::wal_file
