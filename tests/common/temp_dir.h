// TempDir, the one temp-dir guard of every C++ test: a fresh directory under the system temp dir, removed (with all it
// holds) when the guard goes out of scope, whether the test passed or threw.
// Declare it before anything that keeps files open inside it, so those close
// first.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace ketcd_test {

class TempDir {
 public:
  TempDir() {
    // pid + a per-process counter: unique across parallel ctest processes and
    // across the test cases of one process.
    static std::atomic<int> next{0};
    path_ = std::filesystem::temp_directory_path() /
            ("ketcd-unit-" + std::to_string(::getpid()) + "-" + std::to_string(next++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;  // best effort: a failed cleanup must not mask the test result
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace ketcd_test
