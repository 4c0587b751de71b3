#include "server/boot/keepalive_flags.h"

#include <algorithm>
#include <climits>
#include <iterator>
#include <utility>

#include "CLI/CLI.hpp"
#include "grpcpp/server_builder.h"
#include "absl/strings/str_cat.h"
#include "server/boot/etcd_flags.h"

namespace server {
namespace {

// In KeepaliveFlagValues::text's order, with etcd's help.
constexpr std::pair<const char*, const char*> kFlags[] = {
    {"--grpc-keepalive-min-time", "Minimum interval duration that a client should wait before pinging server."},
    {"--grpc-keepalive-interval",
     "Frequency duration of server-to-client ping to check if a connection is alive (0 to disable)."},
    {"--grpc-keepalive-timeout",
     "Additional duration of wait before closing a non-responsive connection (0 to disable)."}};

int Millis(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 0, INT_MAX));
}

}  // namespace

void DefineKeepaliveFlags(CLI::App& app, KeepaliveFlagValues& values, std::vector<std::string>& names) {
  for (size_t i = 0; i < std::size(kFlags); ++i) {
    const auto& [flag, help] = kFlags[i];
    names.push_back(flag);
    app.add_option(flag, values.text[i], absl::StrCat(help, " [", EtcdEnvName(flag), "]"))->capture_default_str();
  }
}

std::optional<ConfigExit> ResolveKeepalive(const KeepaliveFlagValues& values,
                                           const FromEnv& from_env, Config& cfg) {
  absl::Duration* const out[] = {&cfg.grpc_keepalive_min_time, &cfg.grpc_keepalive_interval,
                                 &cfg.grpc_keepalive_timeout};
  for (size_t i = 0; i < std::size(out); ++i) {
    const char* flag = kFlags[i].first;
    if (auto exit = ParseDurationFlag(flag, values.text[i], *out[i], from_env)) return exit;
  }
  return std::nullopt;
}

// gRPC C++ alone allows a client's pings only every 5 minutes while the
// member sends nothing, so etcdctl's and clientv3's pings (every 10 s at
// the most) during a long quiet call (a defrag, a physical compaction, an
// idle watch) got the connection closed, "too many pings", and the call
// failed. With no call open gRPC, as etcd, allows one ping in 2 hours.
void AddKeepalivePolicy(const Config& cfg, grpc::ServerBuilder& builder) {
  if (cfg.grpc_keepalive_min_time > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                               Millis(cfg.grpc_keepalive_min_time));
  }
  if (cfg.grpc_keepalive_interval > absl::ZeroDuration() && cfg.grpc_keepalive_timeout > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(cfg.grpc_keepalive_interval));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Millis(cfg.grpc_keepalive_timeout));
  }
}

}  // namespace server
