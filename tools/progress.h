// ProgressLine: how far a long transfer has come, on a terminal only:
// "12 MB of 45 MB, 8.1 MB/s" (or "12 MB, 8.1 MB/s, 3000 revisions" when the
// total is unknown) rewritten in place on stderr, at most five times a
// second, and ended with a newline when the transfer is done. When stderr is
// not a terminal (a cron job, a pipe) it prints nothing, so scripts see only
// etcdctl's output. Sizes as go-humanize's Bytes (tools/snapshot_status.h).
// Thread-safety: none; one transfer, one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tools {

class ProgressLine {
 public:
  ProgressLine();
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // `done` bytes so far of `total` (nullopt: unknown); `detail` is appended.
  // `last`: the final figure, shown whatever the time since the previous one.
  void Update(uint64_t done, std::optional<uint64_t> total, std::string_view detail = "",
              bool last = false);

 private:
  bool on_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace tools
