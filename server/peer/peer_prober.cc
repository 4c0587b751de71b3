#include "server/peer/peer_prober.h"

#include <chrono>

#include "grpcpp/grpcpp.h"
#include "peerpb/peer.grpc.pb.h"

namespace server {

PeerProber::PeerProber(Options opts, PeerDirectory* directory, PeerMetrics* metrics, const base::Clock* clock)
    : opts_(opts), directory_(directory), metrics_(metrics), clock_(clock) {
  thread_ = std::thread([this] { Run(); });
}

PeerProber::~PeerProber() { Stop(); }

void PeerProber::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeerProber::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    // The wait is on the system clock; the samples use the injected one.
    if (cv_.wait_for(lock, absl::ToChronoNanoseconds(opts_.interval), [&] { return stopping_; })) break;
    lock.unlock();
    ProbeAll();
    lock.lock();
  }
}

void PeerProber::ProbeAll() {
  for (uint64_t id : directory_->Ids()) {
    if (id == opts_.self_id) continue;
    auto channel = directory_->Channel(id);
    if (!channel.ok()) continue;
    auto stub = peerpb::Peer::NewStub(*channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(opts_.timeout));
    peerpb::ProbeRequest req;
    peerpb::ProbeResponse resp;
    const absl::Time start = clock_->Now();
    const grpc::Status s = stub->Probe(&ctx, req, &resp);
    // An older member without Probe still answered: the trip was made.
    if (s.ok() || s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      metrics_->For(id)->round_trip.Observe(clock_->Now() - start);
    }
  }
}

}  // namespace server
