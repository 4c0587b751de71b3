// base::Logger: a fatal line is the last line a member ever writes.
//
// Operators and the robustness harness read the last line of a stopped
// member's log to learn why it stopped. A disk error reaches several threads
// at once (the apply loop's store write and the compactor's, say); if another
// thread's line could follow the fatal one, the member looks as if it crashed
// without a word (robustness.disk, CI of stop 26).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/logger.h"
#include "catch2/catch.hpp"

namespace {

// Runs, in a child process, `writers` threads logging warn lines as fast as
// they can and then a Fatal from the main thread; returns the child's log.
std::string LogOfChildThatDiesFatally(int writers) {
  FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    base::RealClock clock;
    base::Logger logger(&clock, base::LogFormat::kText, base::LogLevel::kInfo, out);
    std::atomic<int> started{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < writers; ++i) {
      threads.emplace_back([&] {
        started.fetch_add(1);
        for (;;) logger.Warn("compaction failed", {{"error", "no space left on device"}});
      });
    }
    while (started.load() < writers) std::this_thread::yield();
    logger.Fatal("writing the store", {{"error", "no space left on device"}});
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGABRT);
  std::string text;
  std::rewind(out);
  char buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, out)) > 0;) text.append(buf, n);
  std::fclose(out);
  return text;
}

std::string LastLine(const std::string& text) {
  const size_t end = text.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  const size_t start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

}  // namespace

TEST_CASE("Logger::Fatal's line is the last line even while other threads log", "[logger]") {
  for (int round = 0; round < 20; ++round) {
    const std::string log = LogOfChildThatDiesFatally(/*writers=*/3);
    INFO("round " << round);
    REQUIRE(LastLine(log).find("writing the store") != std::string::npos);
  }
}
