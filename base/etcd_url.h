// What etcd's types.NewURLs accepts of one URL, and the words it refuses
// with: Go's url.Parse (its own errors: parse "<url>": <why>), then etcd's
// checks of the scheme, the host:port and the path, in that order. Shared
// by the member's *-urls flags and `ketcdctl snapshot restore`, which etcd
// and etcdctl both check this way.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace base {

struct EtcdUrl {
  std::string text;    // the URL trimmed of blanks, as etcd quotes it
  std::string scheme;  // lower case: http, https, unix or unixs
  std::string host;    // net.SplitHostPort's host: an IPv6 literal without brackets; may be empty
  std::string port;    // digits; may be empty
};

[[nodiscard]] absl::StatusOr<EtcdUrl> ParseEtcdUrl(absl::string_view raw);

// Go's strconv.Quote of bytes (control bytes as \xNN or their escapes).
std::string GoQuote(absl::string_view s);

}  // namespace base
