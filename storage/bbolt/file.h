// POSIX file access for bbolt files and etcd backups: every failure is an
// absl::Status naming the call, the path and errno; a read past the end of
// the file is DataLoss ("truncated"). And FileSink, the PageSink that writes
// a Writer's pages into a file.
// Thread-safety: a File may be read (ReadAt) from several threads; writes
// and FileSink need one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/bbolt/writer.h"

namespace storage::bbolt {

class File {
 public:
  [[nodiscard]] static absl::StatusOr<File> OpenForRead(const std::string& path);
  // Creates (or truncates) `path` for reading and writing, mode 0600.
  [[nodiscard]] static absl::StatusOr<File> Create(const std::string& path);
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  // Exactly n bytes at `offset` into *out (resized to n).
  [[nodiscard]] absl::Status ReadAt(uint64_t offset, size_t n, std::string* out) const;
  [[nodiscard]] absl::Status WriteAt(uint64_t offset, std::string_view data);
  [[nodiscard]] absl::StatusOr<uint64_t> Size() const;
  [[nodiscard]] absl::Status Sync();  // fsync
  // SHA-256 (32 raw bytes) of the first `length` bytes, read in 1 MiB chunks.
  [[nodiscard]] absl::StatusOr<std::string> Sha256(uint64_t length) const;
  const std::string& path() const { return path_; }

 private:
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// Writes pages at their offsets (pgid * kPageSize) through a 1 MiB buffer;
// Finish() writes what is buffered and the meta pages at offset 0.
class FileSink : public PageSink {
 public:
  explicit FileSink(File* file) : file_(file) {}
  absl::Status Append(uint64_t pgid, std::string_view pages) override;
  [[nodiscard]] absl::Status Finish(std::string_view meta_pages);

 private:
  absl::Status Flush();
  File* file_;
  std::string buffer_;
  uint64_t buffer_offset_ = 0;
};

}  // namespace storage::bbolt
