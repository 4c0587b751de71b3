#include "base/etcd_url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace base {

std::string GoQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\x%02x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

namespace {

// What url.Parse returned, as Go prints it: parse "<url>": <why>.
absl::Status GoParseError(absl::string_view url, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("parse ", GoQuote(url), ": ", why));
}

bool IsHex(char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); }
int Unhex(char c) { return c <= '9' ? c - '0' : (absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10); }

// Characters a host may hold unescaped (Go's shouldEscape in host mode).
bool HostByteAllowed(unsigned char c) {
  if (absl::ascii_isalnum(c) || c >= 0x80) return true;
  return absl::string_view("!$&'()*+,;=:[]<>\"-_.~").find(static_cast<char>(c)) != absl::string_view::npos;
}

// Go's unescape: a '%' needs two hex digits; in a host only escapes of
// non-ASCII bytes (and %25), and only host characters. The reason, or "".
std::string EscapeProblem(absl::string_view s, bool host) {
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !IsHex(s[i + 1]) || !IsHex(s[i + 2])) {
        return absl::StrCat("invalid URL escape ", GoQuote(s.substr(i, 3)));
      }
      if (host && Unhex(s[i + 1]) < 8 && s.substr(i, 3) != "%25") {
        return absl::StrCat("invalid URL escape ", GoQuote(s.substr(i, 3)));
      }
      i += 3;
      continue;
    }
    if (host && !HostByteAllowed(static_cast<unsigned char>(s[i]))) {
      return absl::StrCat("invalid character ", GoQuote(s.substr(i, 1)), " in host name");
    }
    ++i;
  }
  return "";
}

bool ValidOptionalPort(absl::string_view port) {
  if (port.empty()) return true;
  if (port[0] != ':') return false;
  for (char c : port.substr(1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Go's parseHost: the port's shape and the host's characters.
std::string HostProblem(absl::string_view host) {
  if (absl::StartsWith(host, "[")) {
    size_t close = host.rfind(']');
    if (close == absl::string_view::npos) return "missing ']' in host";
    absl::string_view port = host.substr(close + 1);
    if (!ValidOptionalPort(port)) return absl::StrCat("invalid port ", GoQuote(port), " after host");
  } else if (size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    absl::string_view port = host.substr(colon);
    if (!ValidOptionalPort(port)) return absl::StrCat("invalid port ", GoQuote(port), " after host");
  }
  return EscapeProblem(host, /*host=*/true);
}

struct GoUrl {
  std::string scheme;  // lower case
  std::string host;    // still escaped; "" for an opaque URL
  std::string path;    // still escaped
};

// The parts of url.Parse etcd's checks read, or Go's error.
absl::StatusOr<GoUrl> GoParse(absl::string_view raw) {
  const size_t hash = raw.find('#');
  const absl::string_view before_hash = raw.substr(0, hash);  // what Go's errors quote
  absl::string_view rest = before_hash;
  for (unsigned char c : rest) {
    if (c < 0x20 || c == 0x7f) return GoParseError(before_hash, "net/url: invalid control character in URL");
  }
  GoUrl url;
  for (size_t i = 0; i < rest.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(rest[i]);
    if (absl::ascii_isalpha(c)) continue;
    if (absl::ascii_isdigit(c) || c == '+' || c == '-' || c == '.') {
      if (i == 0) break;
      continue;
    }
    if (c == ':') {
      if (i == 0) return GoParseError(before_hash, "missing protocol scheme");
      url.scheme = absl::AsciiStrToLower(rest.substr(0, i));
      rest.remove_prefix(i + 1);
    }
    break;
  }
  rest = rest.substr(0, rest.find('?'));
  if (!absl::StartsWith(rest, "/")) {
    if (!url.scheme.empty()) return url;  // opaque: no host
    absl::string_view segment = rest.substr(0, rest.find('/'));
    if (absl::StrContains(segment, ':')) {
      return GoParseError(before_hash, "first path segment in URL cannot contain colon");
    }
  }
  if (absl::StartsWith(rest, "//") && (!url.scheme.empty() || !absl::StartsWith(rest, "///"))) {
    absl::string_view authority = rest.substr(2);
    const size_t slash = authority.find('/');
    rest = slash == absl::string_view::npos ? absl::string_view() : authority.substr(slash);
    authority = authority.substr(0, slash);
    absl::string_view userinfo;
    if (size_t at = authority.rfind('@'); at != absl::string_view::npos) {
      userinfo = authority.substr(0, at);
      authority.remove_prefix(at + 1);
    }
    if (std::string why = HostProblem(authority); !why.empty()) return GoParseError(before_hash, why);
    for (unsigned char c : userinfo) {
      if (!absl::ascii_isalnum(c) && absl::string_view("-._:~!$&'()*+,;=%@").find(static_cast<char>(c)) ==
                                         absl::string_view::npos) {
        return GoParseError(before_hash, "net/url: invalid userinfo");
      }
    }
    if (std::string why = EscapeProblem(userinfo, /*host=*/false); !why.empty()) {
      return GoParseError(before_hash, why);
    }
    url.host = std::string(authority);
  }
  if (std::string why = EscapeProblem(rest, /*host=*/false); !why.empty()) return GoParseError(before_hash, why);
  url.path = std::string(rest);
  if (hash != absl::string_view::npos) {
    if (std::string why = EscapeProblem(raw.substr(hash + 1), false); !why.empty()) return GoParseError(raw, why);
  }
  return url;
}

// Go's net.SplitHostPort; false where it returns an error.
bool SplitHostPort(absl::string_view hostport, absl::string_view* host, absl::string_view* port) {
  const size_t colon = hostport.rfind(':');
  if (colon == absl::string_view::npos) return false;
  size_t from = 0, after = 0;
  if (absl::StartsWith(hostport, "[")) {
    const size_t close = hostport.find(']');
    if (close == absl::string_view::npos || close + 1 != colon) return false;
    *host = hostport.substr(1, close - 1);
    from = 1;
    after = close + 1;
  } else {
    *host = hostport.substr(0, colon);
    if (absl::StrContains(*host, ':')) return false;
  }
  if (hostport.find('[', from) != absl::string_view::npos) return false;
  if (hostport.find(']', after) != absl::string_view::npos) return false;
  *port = hostport.substr(colon + 1);
  return true;
}

}  // namespace

absl::StatusOr<EtcdUrl> ParseEtcdUrl(absl::string_view given) {
  const std::string raw(absl::StripAsciiWhitespace(given));
  auto parsed = GoParse(raw);
  if (!parsed.ok()) return parsed.status();
  const std::string& scheme = parsed->scheme;
  if (scheme != "http" && scheme != "https" && scheme != "unix" && scheme != "unixs") {
    return absl::InvalidArgumentError(absl::StrCat("URL scheme must be http, https, unix, or unixs: ", raw));
  }
  absl::string_view host, port;
  if (!SplitHostPort(parsed->host, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat("URL address does not have the form \"host:port\": ", raw));
  }
  if (!parsed->path.empty()) return absl::InvalidArgumentError(absl::StrCat("URL must not contain a path: ", raw));
  return EtcdUrl{raw, scheme, std::string(host), std::string(port)};
}

}  // namespace base
