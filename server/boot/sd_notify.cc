#include "server/boot/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace server {

absl::Status SdNotify(std::string_view state, const EnvLookup& env) {
  const std::optional<std::string> path = env("NOTIFY_SOCKET");
  if (!path || path->empty()) return absl::OkStatus();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((*path)[0] != '/' && (*path)[0] != '@') {
    return absl::InvalidArgumentError(absl::StrCat("NOTIFY_SOCKET=", *path, " is neither a path nor @name"));
  }
  if (path->size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("NOTIFY_SOCKET=", *path, " is too long"));
  }
  std::memcpy(addr.sun_path, path->data(), path->size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // the abstract namespace
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path->size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const ssize_t sent =
      ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  const int err = errno;
  ::close(fd);
  if (sent < 0) return absl::UnavailableError(absl::StrCat("sendto ", *path, ": ", std::strerror(err)));
  return absl::OkStatus();
}

void NotifyReady(const EnvLookup& env, base::Logger& logger) {
  if (auto s = SdNotify("READY=1", env); !s.ok()) {
    logger.Error("failed to notify systemd for readiness", {{"error", s}});
  }
}

}  // namespace server
