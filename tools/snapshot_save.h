// `snapshot save FILE`: a member's Maintenance.Snapshot stream into FILE,
// as etcdctl 3.4 does it (clientv3/snapshot/v3_snapshot.go, Save), and
// checked further.
//
// Contract
// - Exactly one endpoint, else etcdctl's "snapshot must be requested to
//   one selected node, not multiple [...]". The endpoint and the TLS flags
//   follow tools/endpoints.h (https:// or a TLS flag: TLS).
// - The connection must be up within dial_timeout (etcdctl 3.4 dials
//   lazily and then waits for the stream without bound; ketcdctl fails
//   with the endpoint named). The stream has a deadline only when
//   --command-timeout was given, as etcdctl 3.4 ("no timeout for snapshot
//   save" otherwise).
// - The stream goes to FILE.part (mode 0600, truncated); the whole stream
//   must end in a SHA-256 trailer (size = 512k + 32, etcdctl's check) that
//   matches the bytes before it (etcdctl does not check the hash); then
//   FILE.part is fsynced, renamed to FILE (replacing it) and the directory
//   fsynced. On any error, or SIGINT/SIGTERM/SIGHUP during the transfer,
//   FILE.part is removed and FILE is untouched.
// - With credentials (--user/--password), the client first calls
//   Auth.Authenticate and sends the token with the Snapshot call, as
//   clientv3 does; a server with auth disabled answers "authentication is
//   not enabled", and the call goes on without a token, as clientv3's.
//   Any other Authenticate error is the save's ("etcdserver: authentication
//   failed, invalid user ID or password").
// - On a terminal, stderr shows progress (bytes, total, rate); nothing
//   otherwise.
// Errors: InvalidArgument for flags refused before dialing (etcdctl exits
// 128 for those); anything else is a failed save (etcdctl exits 5). The
// message is what follows "Error: ".
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/endpoints.h"

namespace tools {

struct SaveOptions {
  std::vector<std::string> endpoints;  // --endpoints, split, as given
  TlsFiles tls;
  std::chrono::nanoseconds dial_timeout{std::chrono::seconds(2)};  // 0: no bound
  std::string dial_timeout_text = "2s";                              // for messages
  // Set only when --command-timeout was given (flag or ETCDCTL_COMMAND_TIMEOUT).
  std::optional<std::chrono::nanoseconds> command_timeout;
  // --user/--password, resolved as etcdctl does (UserCredentials).
  std::optional<std::pair<std::string, std::string>> credentials;  // user, password
};

// etcdctl 3.4's authCfgFromCmd: none for an empty user; `--password` if
// given, else the part of `user` after its first ':', else `ask()` (a
// prompt on the terminal); an error of `ask` is returned.
[[nodiscard]] absl::StatusOr<std::optional<std::pair<std::string, std::string>>> UserCredentials(
    const std::string& user, const std::string& password,
    const std::function<absl::StatusOr<std::string>()>& ask);

[[nodiscard]] absl::Status SaveSnapshot(const SaveOptions& options, const std::string& path);

}  // namespace tools
