// The etcd 3.5 flags whose feature ketcd does not have (the flags whose
// feature it has are defined with the rest of Config in config.cc), so that
// a command line or manifest written for etcd starts ketcd or is refused
// with a reason, never stopped by "unknown flag" and never silently
// ignored. Each flag is accepted and its value checked as etcd checks it
// (Go's flag types); then, when the value is not etcd's default:
//  - kNotUsed: ketcd starts and logs one warning naming the flag (it tunes
//    something ketcd does its own way, or has no effect on what clients
//    see);
//  - kRefused: ketcd exits 1 with a message naming the flag and saying it is
//    not supported (ignoring it would mislead: the v2 API and proxy,
//    discovery, a separate WAL dir, ...).
// etcd's default always passes silently, so a manifest that spells out
// etcd's defaults starts ketcd as if they were absent. The README's Flags
// section lists every flag with its treatment.
//
// Internal to config.cc (shares its exit helpers); not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/time/time.h"
#include "server/boot/config.h"

namespace CLI {
class App;
}  // namespace CLI

namespace server {

// ETCD_ plus the flag's name in capitals with '_' for '-' (--max-wals: ETCD_MAX_WALS).
std::string EtcdEnvName(absl::string_view flag);
// A command line that cannot be parsed (unknown flag, malformed value): exit 2, as Go's flag package.
ConfigExit UsageExit(absl::string_view msg);
// Flags that parse but cannot be honoured: exit 1, as etcd's "failed to verify flags".
ConfigExit RefusalExit(absl::string_view msg);
// An ETCD_* variable whose value does not parse as its flag's type: exit 1,
// naming the variable, in etcd's words ("error verifying flags, invalid
// value ... for ETCD_...: parse error"); etcd checks the variables after the
// command line, as a verification. `why`: the type's own error, where etcd
// gives one (a URL's).
ConfigExit EnvValueExit(absl::string_view var, absl::string_view value, absl::string_view why = "parse error");
// Whether a flag's value came from its ETCD_* variable.
using FromEnv = std::function<bool(const std::string& flag)>;
// `value` of `flag` does not parse (`why`): the UsageExit naming the flag,
// or the EnvValueExit naming its variable when the value came from there.
ConfigExit InvalidValueExit(const std::string& flag, absl::string_view value, absl::string_view why,
                            const FromEnv& from_env);
// `value` read as a Go duration into `out`, or the InvalidValueExit (Go's
// flag package calls any bad duration a "parse error").
std::optional<ConfigExit> ParseDurationFlag(const std::string& flag, const std::string& value, absl::Duration& out,
                                            const FromEnv& from_env);

// Checks the typed numeric flags of ketcd's own table as Go's flag package
// reads the type etcd declares them with (a negative value of an unsigned
// flag does not parse): a value that does not gets etcd's words, "invalid
// value "-1" for flag --snapshot-count: parse error" (CLI11 alone took -1
// as 2^64-1, and worded other refusals its own way).
void CheckGoIntegers(CLI::App& app);
// The reworded refusal of CheckGoIntegers from CLI11's error text, if it is one.
std::optional<std::string> GoIntegerRefusal(absl::string_view cli_error);

class EtcdOnlyFlags {
 public:
  // Registers every flag of the table on `app`, storing values here (this
  // object must outlive the parse); returns their names.
  std::vector<std::string> Define(CLI::App& app);

  // After the parse: checks the value of each flag that was given (on the
  // command line, or by its ETCD_* variable when `from_env(flag)`), and
  // either appends a warning line per flag not used, or returns the exit.
  [[nodiscard]] std::optional<ConfigExit> Check(const CLI::App& app,
                                                const std::function<bool(const std::string&)>& from_env,
                                                std::vector<std::string>& warnings) const;

  // kNotUsed or kRefused for a flag of the table, nullopt for any other name.
  static std::optional<FlagTreatment> Treatment(absl::string_view flag);

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

}  // namespace server
