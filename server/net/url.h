// Url: one URL of the kind etcd accepts in its *-urls flags
// ("http://127.0.0.1:2379"), parsed once and carried whole, so that every
// listener and every dialer reads the scheme, host and port the same way.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace server {

struct Url {
  std::string scheme;  // "http"
  std::string host;
  int port = 0;
  std::string raw;     // as given, e.g. "http://127.0.0.1:2379"
  std::string HostPort() const;
};

// Parses one URL of the kind etcd accepts in its *-urls flags.
[[nodiscard]] absl::StatusOr<Url> ParseUrl(const std::string& raw);
[[nodiscard]] absl::StatusOr<std::vector<Url>> ParseUrlList(const std::string& csv);

}  // namespace server
