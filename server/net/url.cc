#include "server/net/url.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace server {

std::string Url::HostPort() const { return absl::StrCat(host, ":", port); }

absl::StatusOr<Url> ParseUrl(const std::string& raw) {
  Url url;
  url.raw = raw;
  absl::string_view rest = raw;
  auto scheme_end = rest.find("://");
  if (scheme_end == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL scheme must be http, https, unix, or unixs: ", raw));
  }
  url.scheme = std::string(rest.substr(0, scheme_end));
  rest.remove_prefix(scheme_end + 3);
  if (url.scheme == "unix" || url.scheme == "unixs") {
    return absl::InvalidArgumentError(
        absl::StrCat("URL scheme ", url.scheme, " is not supported yet (unix sockets are not built): ", raw));
  }
  if (url.scheme != "http" && url.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("URL scheme must be http, https, unix, or unixs: ", raw));
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("URL must not have a path: ", raw));
  }
  size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos || (rest.front() == '[' && rest.back() == ']')) {
    return absl::InvalidArgumentError(absl::StrCat("URL address does not have the form \"host:port\": ", raw));
  }
  url.host = std::string(rest.substr(0, colon));
  int port = 0;
  if (url.host.empty() || !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("URL address does not have the form \"host:port\": ", raw));
  }
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
