// Clock: the one source of wall time for every component that schedules,
// expires or timestamps (raft ticks, lease deadlines, watch progress,
// request deadlines, log lines). Components take a `const Clock&`; the
// composition root owns a RealClock and tests own a ManualClock, so that a
// test moves time by calling Advance() instead of sleeping.
//
// A Clock tells time; it does not wait. Loops that wait (a condition
// variable with a deadline) compute the deadline from Now() and recompute
// it after every wake-up, so a ManualClock that jumps ahead is honoured on
// the loop's next round; tests that want no threads at all drive the
// component's step function directly.
// Thread-safety: Now() is thread-safe on every implementation.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace base {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The system's wall clock (absl::Now). Stateless.
class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

// Time that moves only when told to. Starts at `start` (default: the Unix
// epoch plus one day, far from absl's infinities).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::UnixEpoch() + absl::Hours(24))
      : nanos_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override {
    return absl::FromUnixNanos(nanos_.load(std::memory_order_acquire));
  }
  void Advance(absl::Duration d) {
    nanos_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_acq_rel);
  }
  void Set(absl::Time t) { nanos_.store(absl::ToUnixNanos(t), std::memory_order_release); }

 private:
  std::atomic<int64_t> nanos_;
};

}  // namespace base
