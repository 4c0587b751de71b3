// server::ParseUrl: what etcd's types.NewURLs (Go's url.Parse, then its
// checks) accepts, and the words it refuses with. tests/process/bad_urls.py
// compares the refusals with etcd 3.4 itself.
#include <string>

#include "catch2/catch.hpp"
#include "server/net/url.h"

namespace {

std::string Refusal(const std::string& raw) {
  auto url = server::ParseUrl(raw);
  return url.ok() ? "accepted as " + url->HostPort() : std::string(url.status().message());
}

}  // namespace

TEST_CASE("url: the forms etcd accepts", "[url]") {
  auto plain = server::ParseUrl("http://127.0.0.1:2379");
  REQUIRE(plain.ok());
  CHECK(plain->scheme == "http");
  CHECK(plain->HostPort() == "127.0.0.1:2379");

  // Go lower-cases the scheme; etcd trims each URL.
  auto upper = server::ParseUrl("  HTTPS://127.0.0.1:2379\t");
  REQUIRE(upper.ok());
  CHECK(upper->scheme == "https");
  CHECK(upper->raw == "HTTPS://127.0.0.1:2379");

  // An IPv6 literal: the host without brackets (for getaddrinfo), the
  // brackets again in host:port (for gRPC).
  auto v6 = server::ParseUrl("http://[::1]:2380");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->HostPort() == "[::1]:2380");

  // A query, a fragment and user info do not matter to etcd's checks.
  CHECK(Refusal("http://user:pw@127.0.0.1:2379?x=1#top") == "accepted as 127.0.0.1:2379");
}

TEST_CASE("url: refusals in Go's and etcd's words", "[url]") {
  CHECK(Refusal("127.0.0.1:2379") == "parse \"127.0.0.1:2379\": first path segment in URL cannot contain colon");
  CHECK(Refusal("://h:1") == "parse \"://h:1\": missing protocol scheme");
  CHECK(Refusal("localhost:2379") == "URL scheme must be http, https, unix, or unixs: localhost:2379");
  CHECK(Refusal("http:127.0.0.1:2379") == "URL address does not have the form \"host:port\": http:127.0.0.1:2379");
  CHECK(Refusal("http://127.0.0.1:abc") == "parse \"http://127.0.0.1:abc\": invalid port \":abc\" after host");
  CHECK(Refusal("http://127.0.0.1:2379/") == "URL must not contain a path: http://127.0.0.1:2379/");
  CHECK(Refusal("http://a b:1") == "parse \"http://a b:1\": invalid character \" \" in host name");
  CHECK(Refusal("http://%41:1") == "parse \"http://%41:1\": invalid URL escape \"%41\"");
  CHECK(Refusal("http://h:1#%z") == "parse \"http://h:1#%z\": invalid URL escape \"%z\"");
  CHECK(Refusal("http://[::1:1") == "parse \"http://[::1:1\": missing ']' in host");
  CHECK(Refusal("http://h:1\x01") == "parse \"http://h:1\\x01\": net/url: invalid control character in URL");
  CHECK(Refusal("http://u^@h:1") == "parse \"http://u^@h:1\": net/url: invalid userinfo");
  CHECK(Refusal("http://127.0.0.1::2379") ==
        "URL address does not have the form \"host:port\": http://127.0.0.1::2379");
  // Past etcd's checks, what ketcd cannot serve.
  CHECK(Refusal("unix://h:1") == "URL scheme unix is not supported yet (unix sockets are not built): unix://h:1");
  CHECK(Refusal("http://:2379") == "URL address has no host: http://:2379");
  CHECK(Refusal("http://h:99999") == "URL address does not have the form \"host:port\": http://h:99999");
}
