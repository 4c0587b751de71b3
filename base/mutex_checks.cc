#include "base/mutex_checks.h"

#include "absl/synchronization/mutex.h"

namespace base {

void TurnOffMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace base
