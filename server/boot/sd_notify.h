// systemd's readiness protocol (sd_notify(3)), as etcd speaks it: once the
// member serves clients, "READY=1" goes as one datagram to the unix socket
// named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
// Without NOTIFY_SOCKET (not started by a Type=notify unit) nothing is sent.
// A few lines over a socket instead of libsystemd: the protocol is one
// datagram, and the binary keeps no dependency on systemd.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "base/logger.h"
#include "server/boot/config.h"

namespace server {

// Sends `state` ("READY=1") to the socket `env` names in NOTIFY_SOCKET.
// OK when there is none; an error when the socket cannot be reached.
[[nodiscard]] absl::Status SdNotify(std::string_view state, const EnvLookup& env);

// At start, once clients are served: READY=1, or etcd's error line
// ("failed to notify systemd for readiness") when it cannot be sent.
void NotifyReady(const EnvLookup& env, base::Logger& logger);

}  // namespace server
