#include "server/net/url.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/etcd_url.h"

namespace server {

std::string Url::HostPort() const {
  // An IPv6 literal is bracketed again for the host:port gRPC takes.
  return absl::StrContains(host, ':') ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
}

absl::StatusOr<Url> ParseUrl(const std::string& given) {
  // etcd's checks first, in its words (base/etcd_url.h); then what ketcd
  // does not serve, or cannot listen on.
  auto checked = base::ParseEtcdUrl(given);
  if (!checked.ok()) return checked.status();
  const std::string& raw = checked->text;
  if (checked->scheme == "unix" || checked->scheme == "unixs") {
    return absl::InvalidArgumentError(
        absl::StrCat("URL scheme ", checked->scheme, " is not supported yet (unix sockets are not built): ", raw));
  }
  if (checked->host.empty()) {
    // etcd would listen on every interface; ketcd wants it said (0.0.0.0).
    return absl::InvalidArgumentError(absl::StrCat("URL address has no host: ", raw));
  }
  int port = 0;
  if (absl::StrContains(checked->host, '%') || !absl::SimpleAtoi(checked->port, &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("URL address does not have the form \"host:port\": ", raw));
  }
  Url url;
  url.raw = raw;
  url.scheme = checked->scheme;
  url.host = checked->host;
  url.port = port;
  return url;
}

absl::StatusOr<std::vector<Url>> ParseUrlList(const std::string& csv) {
  std::vector<Url> out;
  for (absl::string_view part : absl::StrSplit(csv, ',', absl::SkipEmpty())) {
    auto url = ParseUrl(std::string(part));
    if (!url.ok()) return url.status();
    out.push_back(*url);
  }
  if (out.empty()) return absl::InvalidArgumentError("no URL given");
  return out;
}

}  // namespace server
