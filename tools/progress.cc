#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "tools/snapshot_status.h"

namespace tools {

ProgressLine::ProgressLine()
    : on_(isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()) {}

ProgressLine::~ProgressLine() {
  if (shown_) std::fputs("\n", stderr);
}

void ProgressLine::Update(uint64_t done, std::optional<uint64_t> total, std::string_view detail,
                          bool last) {
  auto now = std::chrono::steady_clock::now();
  if (!on_ || (!last && now - last_ < std::chrono::milliseconds(200))) return;
  last_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  std::string rate = HumanizeBytes(static_cast<uint64_t>(secs > 0 ? done / secs : 0));
  std::string of = total ? " of " + HumanizeBytes(*total) : "";
  std::fprintf(stderr, "\r%s%s, %s/s%.*s   ", HumanizeBytes(done).c_str(), of.c_str(), rate.c_str(),
               static_cast<int>(detail.size()), detail.data());
  shown_ = true;
}

}  // namespace tools
