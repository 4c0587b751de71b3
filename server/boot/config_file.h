// --config-file: etcd's YAML configuration file, read as etcd 3.5 reads it
// (embed.ConfigFromFile) but through ketcd's own flag definitions, so that a
// file and the equivalent command line give the same Config: every key is
// turned into its flag (`heartbeat-interval: 100` is --heartbeat-interval=100;
// the `client-transport-security` and `peer-transport-security` blocks give
// --cert-file, --peer-key-file, ...; a YAML list such as `log-outputs: [a, b]`
// is the flag's comma-separated value) and the resulting command line goes
// through ParseConfig, with its parsers, checks and defaults.
//
// As etcd: when a config file is given (--config-file or ETCD_CONFIG_FILE),
// only the file counts; the other flags and every ETCD_* variable are
// ignored, and the start logs etcd's "loaded server configuration, other
// configuration command line flags and environment variables will be ignored
// if provided". A key left empty (`data-dir:`) keeps its default, as in
// etcd's sample file. Unlike etcd, which skips keys it does not know, an
// unknown key, a malformed file or a value its flag refuses stops the start
// (exit 1) with the file, line, column and key named.
//
// Internal to the boot wing (config.cc calls it); not thread-safe.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "base/logger.h"
#include "server/boot/config.h"

namespace CLI {
class App;
}  // namespace CLI

namespace server {

// Registers --config-file on `app`, storing its value in `path` (which must
// outlive the parse); returns the flag's name for the environment pass.
std::string DefineConfigFileFlag(CLI::App& app, std::string& path);

// The config file the command line (already normalized to --flag spelling)
// or, when the flag is absent, ETCD_CONFIG_FILE names; "" when none.
std::string ConfigFilePath(const std::vector<std::string>& args, const EnvLookup& env);

// Reads the file at `path` and returns its Config (with `config_file` set),
// or the exit: 1 with a message naming the file, line, column and key.
// `app` holds every flag definition (to tell switches from valued flags).
std::variant<Config, ConfigExit> ParseConfigFile(const std::string& path, const CLI::App& app);

// At start, once the logger exists: etcd's line saying where the
// configuration came from, when it came from a file.
void LogConfigSource(const Config& cfg, base::Logger& logger);

}  // namespace server
