// Abseil's mutex deadlock detector, switched off for a serving process.
//
// Debian 12 builds libabsl_synchronization without NDEBUG, so every
// absl::Mutex::Lock in the process (gRPC takes several per call) records
// lock order in one process-wide graph behind a global lock and captures a
// stack trace for new edges. On a leader under `put` load that was 8-11% of
// its CPU (perf record of a leader, 2026-12-07). The detector is a
// debugging aid; our own locking is checked by the tests and sanitizers.
//
// Call once at the top of main(), before any thread starts.
#pragma once

namespace base {

void TurnOffMutexDeadlockDetection();

}  // namespace base
