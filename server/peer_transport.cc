#include "server/peer_transport.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "grpcpp/grpcpp.h"
#include "server/config.h"

namespace server {

// ---------------------------------------------------------------- sending

class PeerTransport::Sender {
 public:
  Sender(PeerTransport* owner, uint64_t id, std::string target)
      : owner_(owner), id_(id), target_(std::move(target)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Sender() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      if (ctx_) ctx_->TryCancel();
    }
    cv_.notify_all();
    thread_.join();
  }

  // False when the queue is full (the caller reports the peer unreachable).
  bool Enqueue(raftpb::Message m) {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= owner_->opts_.max_queued_messages) return false;
    queue_.push_back(std::move(m));
    cv_.notify_one();
    return true;
  }

 private:
  void Loop() {
    auto backoff = std::chrono::milliseconds(50);
    while (true) {
      grpc::ChannelArguments args;
      // Detect a peer that stopped answering (crashed host, SIGSTOP) so that
      // a blocked write fails instead of hanging the sender forever.
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
      args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      args.SetMaxSendMessageSize(-1);
      auto channel = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
      auto stub = peerpb::Peer::NewStub(channel);
      auto ctx = std::make_unique<grpc::ClientContext>();
      peerpb::StreamAck ack;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
        ctx_ = ctx.get();
      }
      auto writer = stub->Stream(ctx.get(), &ack);
      bool broken = false;
      while (!broken) {
        peerpb::MessageBatch batch;
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
          if (stopping_) break;
          batch.set_cluster_id(owner_->opts_.cluster_id);
          batch.set_from(owner_->opts_.self_id);
          while (!queue_.empty() && batch.messages_size() < 512) {
            *batch.add_messages() = std::move(queue_.front());
            queue_.pop_front();
          }
        }
        if (!writer->Write(batch)) {
          broken = true;
          owner_->unreachable_(id_);
        } else {
          backoff = std::chrono::milliseconds(50);
        }
      }
      writer->WritesDone();
      (void)writer->Finish();  // the outcome is known already; this only reaps the call
      {
        std::unique_lock<std::mutex> lock(mu_);
        ctx_ = nullptr;
        // Messages queued while the stream was down are stale for raft;
        // it resends what matters after the unreachable report.
        queue_.clear();
        if (cv_.wait_for(lock, backoff, [&] { return stopping_; })) return;
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }

  PeerTransport* owner_;
  const uint64_t id_;
  const std::string target_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<raftpb::Message> queue_;  // guarded by mu_
  bool stopping_ = false;              // guarded by mu_
  grpc::ClientContext* ctx_ = nullptr;  // guarded by mu_
  std::thread thread_;
};

// ---------------------------------------------------------------- receiving

class PeerTransport::Receiver final : public peerpb::Peer::CallbackService {
 public:
  explicit Receiver(PeerTransport* owner) : owner_(owner) {}

  grpc::ServerReadReactor<peerpb::MessageBatch>* Stream(grpc::CallbackServerContext*,
                                                         peerpb::StreamAck*) override {
    class Reader : public grpc::ServerReadReactor<peerpb::MessageBatch> {
     public:
      explicit Reader(PeerTransport* owner) : owner_(owner) { StartRead(&batch_); }
      void OnReadDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status::OK);
          return;
        }
        if (batch_.cluster_id() != owner_->opts_.cluster_id) {
          Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                              "ketcd: message from a member of another cluster"));
          return;
        }
        if (!owner_->IsCut(batch_.from()) && batch_.messages_size() > 0) {
          std::vector<raftpb::Message> msgs;
          msgs.reserve(batch_.messages_size());
          for (auto& m : *batch_.mutable_messages()) msgs.push_back(std::move(m));
          owner_->deliver_(std::move(msgs));
        }
        batch_.Clear();
        StartRead(&batch_);
      }
      void OnDone() override { delete this; }

     private:
      PeerTransport* owner_;
      peerpb::MessageBatch batch_;
    };
    return new Reader(owner_);
  }

 private:
  PeerTransport* owner_;
};

// ---------------------------------------------------------------- transport

PeerTransport::PeerTransport(Options opts, Deliver deliver, Unreachable unreachable)
    : opts_(opts), deliver_(std::move(deliver)), unreachable_(std::move(unreachable)),
      receiver_(std::make_unique<Receiver>(this)) {}

PeerTransport::~PeerTransport() { Stop(); }

void PeerTransport::AddPeer(uint64_t id, const std::string& url) {
  if (id == opts_.self_id) return;
  auto parsed = ParseUrl(url);
  std::string target = parsed.ok() ? parsed->HostPort() : url;
  std::unique_ptr<Sender> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = senders_[id];
    old = std::move(slot);
    slot = std::make_unique<Sender>(this, id, target);
  }
}

void PeerTransport::RemovePeer(uint64_t id) {
  std::unique_ptr<Sender> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = senders_.find(id);
    if (it == senders_.end()) return;
    old = std::move(it->second);
    senders_.erase(it);
  }
}

void PeerTransport::Send(std::vector<raftpb::Message> msgs) {
  std::vector<uint64_t> unreachable;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& m : msgs) {
      const uint64_t to = m.to();
      if (cut_.count(to) && cut_[to]) continue;
      auto it = senders_.find(to);
      if (it == senders_.end() || !it->second->Enqueue(std::move(m))) unreachable.push_back(to);
    }
  }
  for (uint64_t id : unreachable) unreachable_(id);
}

grpc::Service* PeerTransport::service() { return receiver_.get(); }

void PeerTransport::Stop() {
  std::map<uint64_t, std::unique_ptr<Sender>> senders;
  {
    std::lock_guard<std::mutex> lock(mu_);
    senders.swap(senders_);
  }
  senders.clear();
}

void PeerTransport::CutForTest(uint64_t peer_id, bool cut) {
  std::lock_guard<std::mutex> lock(mu_);
  cut_[peer_id] = cut;
}

bool PeerTransport::IsCut(uint64_t peer_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cut_.find(peer_id);
  return it != cut_.end() && it->second;
}

}  // namespace server
