#include "storage/bbolt/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "storage/bbolt/format.h"

namespace storage::bbolt {
namespace {

constexpr size_t kSinkBuffer = 1 << 20;

absl::Status ErrnoStatus(std::string_view call, const std::string& path, int err) {
  std::string msg = absl::StrCat(std::string(call), " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::StatusOr<File> File::OpenForRead(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  return File(fd, path);
}

absl::StatusOr<File> File::Create(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create", path, errno);
  return File(fd, path);
}

File::File(File&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status File::ReadAt(uint64_t offset, size_t n, std::string* out) const {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, out->data() + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("pread", path_, errno);
    }
    if (r == 0) {
      return absl::DataLossError(absl::StrCat("truncated file ", path_, ": ", n, " bytes at offset ",
                                              offset, " reach past its end"));
    }
    done += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

absl::Status File::WriteAt(uint64_t offset, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("pwrite", path_, errno);
    }
    data.remove_prefix(static_cast<size_t>(w));
    offset += static_cast<uint64_t>(w);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> File::Size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return ErrnoStatus("fstat", path_, errno);
  return static_cast<uint64_t>(st.st_size);
}

absl::Status File::Sync() {
  if (::fsync(fd_) != 0) return ErrnoStatus("fsync", path_, errno);
  return absl::OkStatus();
}

absl::StatusOr<std::string> File::Sha256(uint64_t length) const {
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("sha256: cannot initialize the digest");
  }
  std::string chunk;
  for (uint64_t offset = 0; offset < length; offset += chunk.size()) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kSinkBuffer, length - offset));
    if (absl::Status s = ReadAt(offset, n, &chunk); !s.ok()) return s;
    EVP_DigestUpdate(ctx.get(), chunk.data(), chunk.size());
  }
  std::string digest(EVP_MAX_MD_SIZE, '\0');
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(digest.data()), &size);
  digest.resize(size);
  return digest;
}

absl::Status FileSink::Append(uint64_t pgid, std::string_view pages) {
  uint64_t offset = pgid * kPageSize;
  if (offset != buffer_offset_ + buffer_.size()) {
    if (absl::Status s = Flush(); !s.ok()) return s;
    buffer_offset_ = offset;
  }
  buffer_.append(pages);
  if (buffer_.size() >= kSinkBuffer) return Flush();
  return absl::OkStatus();
}

absl::Status FileSink::Flush() {
  absl::Status s = file_->WriteAt(buffer_offset_, buffer_);
  buffer_offset_ += buffer_.size();
  buffer_.clear();
  return s;
}

absl::Status FileSink::Finish(std::string_view meta_pages) {
  if (absl::Status s = Flush(); !s.ok()) return s;
  return file_->WriteAt(0, meta_pages);
}

}  // namespace storage::bbolt
