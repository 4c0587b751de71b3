// The --grpc-keepalive-* flags: etcd's keepalive policy for its client gRPC
// server, read from the command line (Go durations) into Config and applied
// to the client port's gRPC server.
//
// Contract
// - Defaults are etcd's: min-time 5s, interval 2h0m0s, timeout 20s.
// - A value that is no Go duration is a usage error (exit 2) naming the flag
//   (from ETCD_*: exit 1 naming the variable, as etcd);
//   zero or less is accepted and means "not set", as in etcd: gRPC's own
//   defaults then apply.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "server/boot/config.h"
#include "server/boot/etcd_flags.h"

namespace CLI {
class App;
}
namespace grpc {
class ServerBuilder;
}

namespace server {

// The three flags' values as given: min-time, interval, timeout.
struct KeepaliveFlagValues {
  std::string text[3] = {"5s", "2h0m0s", "20s"};
};

// Adds the flags to `app`, their names to `names`.
void DefineKeepaliveFlags(CLI::App& app, KeepaliveFlagValues& values, std::vector<std::string>& names);

// Config::grpc_keepalive_* from the values, or the usage error (the
// variable's refusal for a value `from_env` says came from ETCD_*).
std::optional<ConfigExit> ResolveKeepalive(const KeepaliveFlagValues& values,
                                           const FromEnv& from_env, Config& cfg);

// The policy on a client gRPC server being built.
void AddKeepalivePolicy(const Config& cfg, grpc::ServerBuilder& builder);

}  // namespace server
