// What ketcdctl shares with etcdctl's command line (etcd 3.4,
// etcdctl/ctlv3): its exit codes, Go's duration syntax for --dial-timeout
// and --command-timeout, and --endpoints as a pflag string slice.
//
// Contract: pure functions, no I/O; errors carry the text etcdctl prints
// after "Error: ".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tools {

// etcdctl/ctlv3/command/error.go: the codes ExitWithError exits with.
enum ExitCode : int {
  kExitSuccess = 0,
  kExitError = 1,
  kExitBadConnection = 2,
  kExitInvalidInput = 3,
  kExitBadFeature = 4,  // a valid flag with an unsupported value (-w)
  kExitInterrupted = 5, // every failure of `snapshot save`
  kExitIO = 6,
  kExitBadArgs = 128,
};

// Go's time.ParseDuration ("5s", "1m30s", "250ms", "1.5h", "0"); nullopt
// for anything else, negative durations included.
std::optional<std::chrono::nanoseconds> ParseGoDuration(std::string_view text);

// pflag's StringSlice: each occurrence is comma-separated values, and
// repeated occurrences add up ("--endpoints a,b --endpoints c" is three).
std::vector<std::string> SplitStringSlice(const std::vector<std::string>& occurrences);

// Go's %v of a []string: "[a b c]".
std::string GoSliceString(const std::vector<std::string>& values);

// An errno as Go prints a syscall error: strerror with a lower-case first
// letter ("no such file or directory").
std::string GoErrnoText(int err);

}  // namespace tools
