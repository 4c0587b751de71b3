#include "server/boot/flag_environment.h"

#include <cctype>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/boot/etcd_flags.h"

namespace server {

// Go's flag package accepts -flag as well as --flag (but "-1" is a value),
// and --flag= for an empty value, which CLI11 takes as "--flag" "".
std::vector<std::string> NormalizeArgs(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (std::string a : args) {
    if (a.size() > 2 && a[0] == '-' && std::isalpha(static_cast<unsigned char>(a[1]))) a = "-" + a;
    if (absl::StartsWith(a, "--") && absl::EndsWith(a, "=") && a.find('=') == a.size() - 1) {
      a.pop_back();
      out.push_back(std::move(a));
      a.clear();
    }
    out.push_back(std::move(a));
  }
  return out;
}

bool GivenOnCommandLine(const std::vector<std::string>& args, const std::string& flag) {
  for (const auto& a : args) {
    if (a == flag || absl::StartsWith(a, flag + "=")) return true;
  }
  return false;
}

// A flag's ETCD_* variable applies when the flag itself is absent: given
// as a leading --flag=value, it is parsed like one. `from_env` collects the
// flags so set.
std::vector<std::string> WithEnvironment(const std::vector<std::string>& args,
                                         const std::vector<std::string>& flags, const EnvLookup& env,
                                         absl::flat_hash_set<std::string>& from_env) {
  std::vector<std::string> out;
  for (const auto& flag : flags) {
    if (GivenOnCommandLine(args, flag)) continue;
    // An empty variable counts as unset, as etcd reads them.
    auto value = env(EtcdEnvName(flag));
    if (value && !value->empty()) {
      out.push_back(absl::StrCat(flag, "=", *value));
      from_env.insert(flag);
    }
  }
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

// etcd (pkg/flags verifyEnv) refuses a flag given on the command line while
// its ETCD_* variable is set, even to "": one of the two would be ignored.
std::optional<ConfigExit> EnvConflict(const std::vector<std::string>& args,
                                      const std::vector<std::string>& flags, const EnvLookup& env) {
  for (const auto& flag : flags) {
    const std::string var = EtcdEnvName(flag);
    if (GivenOnCommandLine(args, flag) && env(var).has_value()) {
      return RefusalExit(absl::StrCat("conflicting environment variable \"", var,
                                      "\" is shadowed by corresponding command-line flag "
                                      "(either unset environment variable or disable flag)"));
    }
  }
  return std::nullopt;
}

}  // namespace server
