// base::TurnOffMutexDeadlockDetection: with Debian's Abseil, which runs its
// deadlock detector even for code built with NDEBUG, a lock-order inversion
// aborts the process unless the detector is off. The inversion stands in
// for the per-lock cost: what it proves is that the detector no longer runs.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "absl/synchronization/mutex.h"
#include "base/mutex_checks.h"
#include "catch2/catch.hpp"

namespace {

// The exit status of a child that takes two mutexes in both orders, after
// turning the detector off when `turn_off`.
int StatusOfChildWithLockInversion(bool turn_off) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    std::freopen("/dev/null", "w", stderr);  // the detector's report
    if (turn_off) base::TurnOffMutexDeadlockDetection();
    absl::Mutex a;
    absl::Mutex b;
    a.Lock();
    b.Lock();
    b.Unlock();
    a.Unlock();
    b.Lock();
    a.Lock();
    a.Unlock();
    b.Unlock();
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("Abseil's deadlock detector runs by default and is off after TurnOffMutexDeadlockDetection",
          "[mutex_checks]") {
  // The premise: this Abseil checks lock order (it aborts on the inversion).
  const int by_default = StatusOfChildWithLockInversion(false);
  REQUIRE(WIFSIGNALED(by_default));
  CHECK(WTERMSIG(by_default) == SIGABRT);
  const int turned_off = StatusOfChildWithLockInversion(true);
  REQUIRE(WIFEXITED(turned_off));
  CHECK(WEXITSTATUS(turned_off) == 0);
}
