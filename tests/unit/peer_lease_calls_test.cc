// The leader's side of lease calls a follower forwards (PeerService's
// LeaseRenew / LeaseTimeToLive) over a real gRPC server in this process: a
// leader that has not applied everything it knows committed answers
// "applying" (retryable; the follower asks again) instead of answering from
// a lessor that may lack a key attached by an entry already committed and
// acknowledged elsewhere — as etcd's leader waits for its applied index.
// Found by tests/robustness (seed 18213, slow syncs on the leader: a
// TimeToLive forwarded to it missed a key whose put had been acknowledged).
#include <atomic>
#include <chrono>
#include <memory>

#include <catch2/catch.hpp>

#include "base/logger.h"
#include "grpcpp/grpcpp.h"
#include "server/peer/peer_service.h"
#include "server/peer/wire_errors.h"
#include "server/state/errors.h"
#include "tests/unit/lessor_fixture.h"

namespace ketcd_test {
namespace {

constexpr uint64_t kCluster = 7;

}  // namespace

TEST_CASE("a forwarded lease call waits until the leader applied what it committed",
          "[lease][peer_lease_calls]") {
  LessorFixture f;
  f.Grant(5, 60);
  auto& lessor = f.lessor;
  auto& clock = f.clock;
  base::Logger logger{&clock};
  lessor.Promote(clock.Now());

  std::atomic<bool> caught_up{false};
  server::PeerService::Options opts;
  opts.cluster_id = kCluster;
  opts.lessor = &lessor;
  opts.lease_caught_up = [&caught_up] { return caught_up.load(); };
  opts.clock = &clock;
  opts.logger = &logger;
  server::PeerService service{opts, server::PeerService::Hooks{}};
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  REQUIRE(server != nullptr);
  auto stub = peerpb::Peer::NewStub(server->InProcessChannel(grpc::ChannelArguments()));

  peerpb::LeaseForward req;
  req.set_cluster_id(kCluster);
  req.set_id(5);
  req.set_keys(true);
  auto time_to_live = [&] {
    grpc::ClientContext ctx;
    etcdserverpb::LeaseTimeToLiveResponse resp;
    auto st = stub->LeaseTimeToLive(&ctx, req, &resp);
    return std::make_pair(server::FromPeerWire(st, ctx), resp);
  };
  auto renew = [&] {
    grpc::ClientContext ctx;
    etcdserverpb::LeaseKeepAliveResponse resp;
    return server::FromPeerWire(stub->LeaseRenew(&ctx, req, &resp), ctx);
  };

  // Behind: both calls refused with the retryable "applying".
  auto [ttl_status, ignored] = time_to_live();
  CHECK(base::IsError(ttl_status, base::ErrorKind::kApplying));
  CHECK(absl::IsUnavailable(ttl_status));
  CHECK(base::IsError(renew(), base::ErrorKind::kApplying));

  // Caught up: answered from the lessor.
  caught_up = true;
  auto [ok_status, resp] = time_to_live();
  REQUIRE(ok_status.ok());
  CHECK(resp.id() == 5);
  CHECK(resp.grantedttl() == 60);
  CHECK(renew().ok());
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace ketcd_test
