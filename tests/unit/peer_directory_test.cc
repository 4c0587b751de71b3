// PeerDirectory: one channel per member, shared by every dialer, replaced
// when the member's URL changes, gone when the member is removed; a URL it
// cannot dial is an error at Channel(), not deep inside gRPC.
#include <catch2/catch.hpp>

#include "server/net/transport_security.h"
#include "server/peer/peer_directory.h"

namespace ketcd_test {

TEST_CASE("PeerDirectory shares one channel per member", "[peer_directory]") {
  auto security = server::TransportSecurity::Create(server::SecurityConfig{});
  REQUIRE(security.ok());
  server::PeerDirectory peers(security->get());

  CHECK(absl::IsNotFound(peers.Channel(1).status()));
  CHECK_FALSE(peers.UrlOf(1).has_value());

  peers.Set(1, "http://127.0.0.1:2380");
  CHECK(peers.UrlOf(1) == "http://127.0.0.1:2380");
  auto a = peers.Channel(1);
  auto b = peers.Channel(1);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->get() == b->get());
  // Snapshots travel on a connection of their own.
  auto snap = peers.SnapshotChannel(1);
  REQUIRE(snap.ok());
  CHECK(snap->get() != a->get());

  SECTION("the same URL again keeps the channel") {
    peers.Set(1, "http://127.0.0.1:2380");
    auto c = peers.Channel(1);
    REQUIRE(c.ok());
    CHECK(c->get() == a->get());
  }
  SECTION("a new URL gets a new channel") {
    peers.Set(1, "http://127.0.0.1:2381");
    auto c = peers.Channel(1);
    REQUIRE(c.ok());
    CHECK(c->get() != a->get());
    CHECK(peers.UrlOf(1) == "http://127.0.0.1:2381");
  }
  SECTION("a removed member is unknown") {
    peers.Remove(1);
    CHECK(absl::IsNotFound(peers.Channel(1).status()));
    CHECK_FALSE(peers.UrlOf(1).has_value());
  }
}

TEST_CASE("PeerDirectory refuses a URL it cannot dial", "[peer_directory]") {
  auto security = server::TransportSecurity::Create(server::SecurityConfig{});
  REQUIRE(security.ok());
  server::PeerDirectory peers(security->get());
  peers.Set(3, "not a url");
  CHECK_FALSE(peers.Channel(3).ok());
}

}  // namespace ketcd_test
