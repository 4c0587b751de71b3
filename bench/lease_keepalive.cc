#include "bench/lease_keepalive.h"

#include <condition_variable>
#include <mutex>

#include "etcdserverpb/rpc.grpc.pb.h"

namespace ketcd::bench {
namespace {

struct Shared {
  uint64_t total = 0;
  Recorder* recorder = nullptr;
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
};

class KeepAliveStream
    : public grpc::ClientBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse> {
 public:
  KeepAliveStream(Shared* shared, int64_t lease_id) : shared_(shared) { req_.set_id(lease_id); }

  void Begin(etcdserverpb::Lease::Stub* stub) {
    stub->async()->LeaseKeepAlive(&ctx_, this);
    StartCall();
    SendNext();
  }

  // A response can arrive before gRPC reports the write done, and a
  // stream may have only one write in flight: the next send waits for both.
  void OnWriteDone(bool ok) override {
    bool send = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      send = ok && send_pending_;
      send_pending_ = false;
    }
    if (send) SendNext();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream has ended; OnDone records it
    in_flight_ = false;
    if (resp_.ttl() <= 0) {
      shared_->recorder->Failure(static_cast<int>(grpc::StatusCode::NOT_FOUND), "lease expired or revoked");
    } else {
      shared_->recorder->Success(sent_, Clock::now());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (writing_) {
        send_pending_ = true;
        return;
      }
    }
    SendNext();
  }

  void OnDone(const grpc::Status& status) override {
    if (in_flight_) {
      shared_->recorder->Failure(static_cast<int>(status.ok() ? grpc::StatusCode::UNKNOWN : status.error_code()),
                                 status.ok() ? "stream ended without a response" : status.error_message());
    }
    std::lock_guard<std::mutex> lock(shared_->mu);
    ++shared_->done;
    shared_->cv.notify_all();
  }

 private:
  void SendNext() {
    if (shared_->next.fetch_add(1) >= shared_->total) {
      StartWritesDone();
      return;
    }
    in_flight_ = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = true;
    }
    sent_ = Clock::now();
    StartRead(&resp_);
    StartWrite(&req_);
  }

  Shared* shared_;
  grpc::ClientContext ctx_;
  etcdserverpb::LeaseKeepAliveRequest req_;
  etcdserverpb::LeaseKeepAliveResponse resp_;
  Clock::time_point sent_;
  bool in_flight_ = false;
  std::mutex mu_;
  bool writing_ = false;       // guarded by mu_
  bool send_pending_ = false;  // guarded by mu_
};

}  // namespace

double RunLeaseKeepAlive(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                         const LeaseKeepAliveOptions& options, Recorder* keepalives, std::string* error) {
  std::vector<std::unique_ptr<etcdserverpb::Lease::Stub>> stubs;
  for (const auto& ch : channels) stubs.push_back(etcdserverpb::Lease::NewStub(ch));
  std::vector<int64_t> leases;
  for (int c = 0; c < options.clients; ++c) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    etcdserverpb::LeaseGrantRequest req;
    req.set_ttl(options.ttl);
    etcdserverpb::LeaseGrantResponse resp;
    grpc::Status st = stubs[c % stubs.size()]->LeaseGrant(&ctx, req, &resp);
    if (!st.ok() || !resp.error().empty()) {
      *error = "lease grant failed: " + (st.ok() ? resp.error() : st.error_message());
      return -1;
    }
    leases.push_back(resp.id());
  }

  Shared shared;
  shared.total = options.total;
  shared.recorder = keepalives;
  auto t0 = Clock::now();
  keepalives->Start(t0);
  std::vector<std::unique_ptr<KeepAliveStream>> streams;
  for (int c = 0; c < options.clients; ++c) {
    streams.push_back(std::make_unique<KeepAliveStream>(&shared, leases[c]));
    streams.back()->Begin(stubs[c % stubs.size()].get());
  }
  {
    std::unique_lock<std::mutex> lock(shared.mu);
    shared.cv.wait(lock, [&] { return shared.done >= options.clients; });
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  // Revoke what we granted, concurrently, so a run leaves nothing behind.
  std::mutex mu;
  std::condition_variable cv;
  int revoked = 0;
  std::vector<std::unique_ptr<std::tuple<grpc::ClientContext, etcdserverpb::LeaseRevokeRequest,
                                         etcdserverpb::LeaseRevokeResponse>>> calls;
  for (int c = 0; c < options.clients; ++c) {
    calls.push_back(std::make_unique<std::tuple<grpc::ClientContext, etcdserverpb::LeaseRevokeRequest,
                                                etcdserverpb::LeaseRevokeResponse>>());
    auto& [ctx, req, resp] = *calls.back();
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    req.set_id(leases[c]);
    stubs[c % stubs.size()]->async()->LeaseRevoke(&ctx, &req, &resp, [&](grpc::Status) {
      std::lock_guard<std::mutex> lock(mu);
      ++revoked;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return revoked >= options.clients; });
  return secs;
}

}  // namespace ketcd::bench
