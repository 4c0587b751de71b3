// Go's time.Duration text, both ways, for the places where ketcd must read
// or print a duration exactly as etcd does: flag values etcd parses with
// time.ParseDuration (and whose errors it prints), and log fields zap
// prints with Duration.String ("1h0m0s", "1.5s", "100ms").
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace base {

// time.ParseDuration: an optional sign, then one or more decimal numbers
// with a unit each (ns, us, µs, ms, s, m, h), or "0". On error, Go's
// message: `time: invalid duration "x"`, `time: missing unit in duration
// "1.5"`, `time: unknown unit "x" in duration "1x"` (InvalidArgument).
[[nodiscard]] absl::StatusOr<absl::Duration> ParseGoDuration(std::string_view text);

// Duration.String: "0s", "1h0m0s", "2m30s", "1.5s", "100ms", "1.5µs", "7ns".
std::string FormatGoDuration(absl::Duration d);

}  // namespace base
