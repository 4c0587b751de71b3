// Helpers shared by the fuzz targets (tests/fuzz/fuzz_*.cc): a scratch
// directory per process, the framing of inputs that hold several protobuf
// messages, and the check that turns a broken property into a crash the
// fuzzer records.
// Thread-safety: none; a fuzz target runs one input at a time.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace ketcd_fuzz {

// A fresh directory for this process, removed when the process exits
// normally (a crash leaves it behind for the post-mortem; tests/fuzz/run
// removes it). On tmpfs when there is one: the targets write and fsync
// files on every input, and tmpfs makes that cost memory copies, not disk
// flushes.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& target) {
    std::error_code ec;
    std::filesystem::path base = "/dev/shm";
    if (!std::filesystem::is_directory(base, ec) || ::access(base.c_str(), W_OK) != 0) {
      base = std::filesystem::temp_directory_path();
    }
    path_ = (base / ("ketcd-fuzz-" + target + "-" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(path_, ec);
    std::filesystem::create_directories(path_, ec);
    if (ec) {
      std::fprintf(stderr, "fuzz: cannot create %s: %s\n", path_.c_str(), ec.message().c_str());
      std::abort();
    }
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }
  // Removes everything inside, keeping the directory.
  void Clear() const {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(path_, ec)) {
      std::filesystem::remove_all(e.path(), ec);
    }
  }

 private:
  std::string path_;
};

// Writes `data` to `path` (created or truncated); aborts on failure, which
// is the harness's own fault, never the input's.
inline void WriteFileOrDie(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  size_t done = 0;
  while (fd >= 0 && done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (fd < 0 || done != data.size()) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  ::close(fd);
}

// Splits an input into messages framed as protobuf's delimited streams
// frame them: a varint length, then that many bytes. Stops at the first
// frame that does not fit (the fuzzer's mutations cut frames all the time;
// what came before still counts) and after `max` messages.
inline std::vector<std::string_view> SplitDelimited(const uint8_t* data, size_t size, size_t max) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < size && out.size() < max) {
    uint64_t len = 0;
    int shift = 0;
    while (pos < size && shift < 64) {
      const uint8_t b = data[pos++];
      len |= static_cast<uint64_t>(b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) == 0) break;
    }
    if (len > size - pos) break;
    out.emplace_back(reinterpret_cast<const char*>(data + pos), len);
    pos += len;
  }
  return out;
}

// With KETCD_FUZZ_VERBOSE set, says how far an input got (for checking that
// the seeds reach what they are meant to: `KETCD_FUZZ_VERBOSE=1 fuzz_wal
// corpus/wal`); silent otherwise, as fuzzing wants.
inline bool Verbose() {
  static const bool verbose = std::getenv("KETCD_FUZZ_VERBOSE") != nullptr;
  return verbose;
}
#define FUZZ_NOTE(...)                   \
  do {                                   \
    if (::ketcd_fuzz::Verbose()) {       \
      std::fprintf(stderr, "fuzz: ");    \
      std::fprintf(stderr, __VA_ARGS__); \
      std::fprintf(stderr, "\n");       \
    }                                    \
  } while (0)

// A property the code under test promises, checked on every input: a
// violation is a bug, reported as a crash so that the fuzzer keeps the input.
#define FUZZ_CHECK(cond, ...)                                          \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::fprintf(stderr, "fuzz: check failed: %s: ", #cond);         \
      std::fprintf(stderr, __VA_ARGS__);                               \
      std::fprintf(stderr, "\n");                                      \
      std::abort();                                                    \
    }                                                                  \
  } while (0)

}  // namespace ketcd_fuzz
