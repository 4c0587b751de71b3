// The command line as Go's flag package reads it, and the ETCD_* variables
// as etcd applies them: a variable stands in for its absent flag, and a flag
// given while its variable is set is refused.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "server/boot/config.h"

namespace server {

// -flag as --flag ("-1" stays a value); --flag= as --flag "".
std::vector<std::string> NormalizeArgs(const std::vector<std::string>& args);

bool GivenOnCommandLine(const std::vector<std::string>& args, const std::string& flag);

// `args` with a leading --flag=value for each of `flags` absent from them
// whose variable is set and not empty; `from_env` collects those flags.
std::vector<std::string> WithEnvironment(const std::vector<std::string>& args,
                                         const std::vector<std::string>& flags, const EnvLookup& env,
                                         absl::flat_hash_set<std::string>& from_env);

// etcd's refusal (exit 1) of a flag given while its variable is set.
std::optional<ConfigExit> EnvConflict(const std::vector<std::string>& args,
                                      const std::vector<std::string>& flags, const EnvLookup& env);

}  // namespace server
