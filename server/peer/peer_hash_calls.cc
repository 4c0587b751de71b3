// The peer HashKV call, both sides: a member answers from its own store
// (server/state/kv_hash.h) on its hash worker and asks a peer through the
// shared directory. Errors keep their kind across the wire (wire_errors.h).
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "grpcpp/grpcpp.h"
#include "peerpb/peer.grpc.pb.h"
#include "server/peer/peer_hash.h"
#include "server/peer/peer_service.h"
#include "server/peer/wire_errors.h"
#include "server/state/kv_hash.h"

namespace server {

// One thread, started with the first job, running jobs in order. Its
// destructor runs what is queued (each job finishes a call, which gRPC's
// shutdown waits for) and joins.
class PeerService::HashWorker {
 public:
  ~HashWorker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void Post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
      if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                   // guarded by mu_
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  std::thread thread_;                      // started under mu_
};

PeerService::PeerService(Options opts, Hooks hooks)
    : opts_(opts), hooks_(std::move(hooks)), hash_worker_(std::make_unique<HashWorker>()) {}

PeerService::~PeerService() = default;

grpc::ServerUnaryReactor* PeerService::HashKV(grpc::CallbackServerContext* ctx,
                                              const peerpb::HashKVForward* req,
                                              etcdserverpb::HashKVResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (opts_.store == nullptr || req->cluster_id() != opts_.cluster_id) {
    reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "ketcd: hash not served here"));
    return reactor;
  }
  // The call (ctx, req, resp) stays alive until the reactor is finished.
  hash_worker_->Post([this, ctx, req, resp, reactor] {
    // A caller that gave up (timed out, monitor stopped) while queued: no scan.
    if (ctx->IsCancelled()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "ketcd: hash call cancelled"));
      return;
    }
    auto got = HashKv(*opts_.store, req->revision());
    if (!got.ok()) {
      reactor->Finish(ToPeerWire(got.status(), ctx));
      return;
    }
    auto* header = resp->mutable_header();
    header->set_cluster_id(opts_.cluster_id);
    header->set_member_id(opts_.member_id);
    header->set_revision(got->rev);
    resp->set_hash(got->hash);
    resp->set_compact_revision(got->compact_rev);
    resp->set_hash_revision(got->hash_rev);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

void HashCallCanceller::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  for (auto* ctx : calls_) ctx->TryCancel();
}

bool HashCallCanceller::Enter(grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return false;
  calls_.insert(ctx);
  return true;
}

void HashCallCanceller::Leave(grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.erase(ctx);
}

absl::StatusOr<etcdserverpb::HashKVResponse> AskPeerHashKv(PeerDirectory& peers, uint64_t cluster_id,
                                                          uint64_t peer_id, int64_t rev, absl::Duration timeout,
                                                          HashCallCanceller* canceller) {
  auto channel = peers.Channel(peer_id);
  if (!channel.ok()) return channel.status();
  auto stub = peerpb::Peer::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  if (canceller != nullptr && !canceller->Enter(&ctx)) return absl::CancelledError("stopping");
  peerpb::HashKVForward req;
  req.set_cluster_id(cluster_id);
  req.set_revision(rev);
  etcdserverpb::HashKVResponse resp;
  const grpc::Status s = stub->HashKV(&ctx, req, &resp);
  if (canceller != nullptr) canceller->Leave(&ctx);
  if (auto st = FromPeerWire(s, ctx); !st.ok()) return st;
  return resp;
}

}  // namespace server
