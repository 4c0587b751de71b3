// The credentials factory every listener and channel uses: plain http is
// served and dialed; https needs the side's certificate to be served, and
// what it cannot serve is refused with the URL named.
#include "catch2/catch.hpp"
#include "server/net/transport_security.h"

namespace ketcd_test {

TEST_CASE("transport security: http listeners and channels get credentials", "[net]") {
  auto sec = server::TransportSecurity::Create(server::SecurityConfig{});
  REQUIRE(sec.ok());
  auto url = server::ParseUrl("http://127.0.0.1:2379");
  REQUIRE(url.ok());
  auto client = (*sec)->ClientListener(*url);
  REQUIRE(client.ok());
  CHECK(*client != nullptr);
  auto peer = (*sec)->PeerListener(*url);
  REQUIRE(peer.ok());
  CHECK(*peer != nullptr);
  auto channel = (*sec)->PeerChannel(*url);
  REQUIRE(channel.ok());
  CHECK(*channel != nullptr);
}

TEST_CASE("transport security: a scheme it cannot serve is refused, naming the URL", "[net]") {
  auto sec = server::TransportSecurity::Create(server::SecurityConfig{});
  REQUIRE(sec.ok());
  server::Url https{"https", "127.0.0.1", 2379, "https://127.0.0.1:2379"};
  auto client = (*sec)->ClientListener(https);
  REQUIRE_FALSE(client.ok());
  CHECK(client.status().message().find("https://127.0.0.1:2379") != absl::string_view::npos);
  CHECK_FALSE((*sec)->PeerListener(https).ok());
  // Dialing https needs no certificate of one's own (the system's roots
  // verify the other side); an unknown scheme is refused.
  CHECK((*sec)->PeerChannel(https).ok());
  server::Url unix_url{"unix", "", 0, "unix:///tmp/x"};
  CHECK_FALSE((*sec)->PeerChannel(unix_url).ok());
  server::SecurityConfig with_cert;
  with_cert.client.cert_file = "/nonexistent/server.crt";
  auto half = server::TransportSecurity::Create(with_cert);
  REQUIRE_FALSE(half.ok());
  CHECK(half.status().message().find("--key-file") != absl::string_view::npos);
  with_cert.client.key_file = "/nonexistent/server.key";
  auto missing = server::TransportSecurity::Create(with_cert);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("--cert-file /nonexistent/server.crt") != absl::string_view::npos);
  server::SecurityConfig https_without_cert;
  https_without_cert.client_listen_urls.push_back(https);
  auto no_cert = server::TransportSecurity::Create(https_without_cert);
  REQUIRE_FALSE(no_cert.ok());
  CHECK(no_cert.status().message().find("--listen-client-urls https://127.0.0.1:2379") !=
        absl::string_view::npos);
}

}  // namespace ketcd_test
