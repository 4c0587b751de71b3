// CallCounts (server/edge/grpc_metrics.h): what a stream that counts its own
// calls adds to its method's counters must be what the interceptor adds.
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/edge/grpc_metrics.h"

namespace {

uint64_t Load(const std::atomic<uint64_t>& a) { return a.load(); }

double ClientRequests(const server::GrpcMetrics& metrics, const std::string& version, const std::string& type) {
  std::vector<prometheus::MetricFamily> families;
  metrics.Render(families);
  for (const auto& f : families) {
    if (f.name != "etcd_server_client_requests_total") continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      if (labels["client_api_version"] == version && labels["type"] == type) return m.counter.value;
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("A stream counted by its service counts as the interceptor does", "[grpc_metrics]") {
  base::ManualClock clock(absl::FromUnixSeconds(1000));
  auto metrics = server::NewGrpcMetrics(/*extensive=*/true, clock, {etcdserverpb::Watch::service_full_name()});
  const char* method = "/etcdserverpb.Watch/Watch";
  server::GrpcMethodCounters* m = metrics->CountInService(method);
  REQUIRE(m != nullptr);
  CHECK(m->counted_by_service);
  CHECK(std::string(m->type) == "bidi_stream");
  CHECK(metrics->CountInService("/etcdserverpb.Watch/Nope") == nullptr);

  SECTION("a finished call: every count once, a second Handled ignored") {
    etcdserverpb::WatchRequest req;
    req.mutable_create_request()->set_key("some/key");
    {
      server::CallCounts call(m, *metrics);
      std::multimap<grpc::string_ref, grpc::string_ref> md{{"client-api-version", "3.4"}};
      call.ClientMetadata(md);
      call.Received(&req);
      call.Sent(17);
      call.Sent(5);
      clock.Advance(absl::Milliseconds(30));
      call.Handled(grpc::StatusCode::OK);
      call.Handled(grpc::StatusCode::CANCELLED);
    }
    CHECK(Load(m->started) == 1);
    CHECK(Load(m->msg_received) == 1);
    CHECK(Load(m->received_bytes) == req.ByteSizeLong());
    CHECK(Load(m->msg_sent) == 2);
    CHECK(Load(m->sent_bytes) == 22);
    CHECK(Load(m->handled[static_cast<size_t>(grpc::StatusCode::OK)]) == 1);
    CHECK(Load(m->handled[static_cast<size_t>(grpc::StatusCode::CANCELLED)]) == 0);
    const auto seconds = m->handling->Read({}).histogram;
    CHECK(seconds.sample_count == 1);
    CHECK(seconds.sample_sum == Approx(0.030));
    CHECK(ClientRequests(*metrics, "3.4", "stream") == 1);
    CHECK(metrics->OpenWatchStreams() == 0);
  }

  SECTION("a call destroyed without a status counts as Canceled; open streams follow") {
    {
      server::CallCounts call(m, *metrics);
      call.ClientMetadata({});
      CHECK(metrics->OpenWatchStreams() == 1);
    }
    CHECK(Load(m->started) == 1);
    CHECK(Load(m->handled[static_cast<size_t>(grpc::StatusCode::CANCELLED)]) == 1);
    CHECK(ClientRequests(*metrics, "unknown", "stream") == 1);
    CHECK(metrics->OpenWatchStreams() == 0);
  }

  SECTION("a refused call counts its code") {
    {
      server::CallCounts call(m, *metrics);
      call.Handled(grpc::StatusCode::UNAVAILABLE);
    }
    CHECK(Load(m->handled[static_cast<size_t>(grpc::StatusCode::UNAVAILABLE)]) == 1);
    CHECK(Load(m->handled[static_cast<size_t>(grpc::StatusCode::CANCELLED)]) == 0);
    CHECK(Load(m->msg_sent) == 0);
  }
}
