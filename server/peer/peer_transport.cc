#include "server/peer/peer_transport.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "server/net/url.h"
#include "storage/crc32c.h"
#include "storage/snapshot_install.h"

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

  // The peer has just opened a stream to us, so it is up: retry now rather
  // than after the rest of the backoff (a restarted member is heard at
  // once, as etcd's streams that the receiver dials are).
  void Kick() {
    std::lock_guard<std::mutex> lock(mu_);
    kicked_ = true;
    cv_.notify_one();
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
      // An empty batch first: it tells the peer who we are (see Kick).
      peerpb::MessageBatch hello;
      hello.set_cluster_id(owner_->opts_.cluster_id);
      hello.set_from(owner_->opts_.self_id);
      bool broken = !writer->Write(hello);
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
        if (cv_.wait_for(lock, backoff, [&] { return stopping_ || kicked_; }) && stopping_) return;
        if (kicked_) {
          kicked_ = false;
          backoff = std::chrono::milliseconds(50);
          continue;
        }
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
  bool kicked_ = false;                // guarded by mu_
  grpc::ClientContext* ctx_ = nullptr;  // guarded by mu_
  std::thread thread_;
};

// ---------------------------------------------------------------- receiving

// Writes one incoming snapshot through the SnapshotInbox. File writes and
// the final sync run on the gRPC callback thread: a snapshot is rare and
// the stream's flow control holds the sender back meanwhile.
class PeerTransport::SnapshotReader : public grpc::ServerReadReactor<peerpb::SnapshotChunk> {
 public:
  SnapshotReader(PeerTransport* owner, peerpb::SnapshotAck* ack) : owner_(owner), ack_(ack) {
    StartRead(&chunk_);
  }
  void OnReadDone(bool ok) override {
    SnapshotInbox* inbox = owner_->opts_.snapshot_inbox;
    if (!ok) {
      // The sender went away before the last chunk.
      if (begun_) inbox->Abort();
      begun_ = false;
      Refuse("the snapshot stream ended early");
      return;
    }
    absl::Status s;
    if (!begun_) {
      if (inbox == nullptr) return Refuse("this member takes no snapshots");
      if (chunk_.cluster_id() != owner_->opts_.cluster_id) return Refuse("snapshot from another cluster");
      if (owner_->IsCut(chunk_.from())) return Refuse("cut for test");
      std::vector<storage::SnapshotFile> manifest;
      for (const auto& f : chunk_.manifest()) manifest.push_back({f.name(), f.size()});
      s = inbox->Begin(chunk_.message(), std::move(manifest));
      if (!s.ok()) return Refuse(std::string(s.message()));  // nothing begun: no Abort
      begun_ = true;
    }
    if (!chunk_.file().empty()) {
      s = inbox->Write(chunk_.file(), chunk_.offset(), chunk_.data(), chunk_.crc32c());
    }
    if (s.ok() && chunk_.last()) {
      auto msg = inbox->Finish();
      begun_ = false;
      if (!msg.ok()) return Refuse(std::string(msg.status().message()));
      std::vector<raftpb::Message> msgs;
      msgs.push_back(std::move(*msg));
      owner_->deliver_(std::move(msgs));
      ack_->set_accepted(true);
      Finish(grpc::Status::OK);
      return;
    }
    if (!s.ok()) {
      inbox->Abort();
      begun_ = false;
      return Refuse(std::string(s.message()));
    }
    chunk_.Clear();
    StartRead(&chunk_);
  }
  void OnDone() override {
    if (begun_) owner_->opts_.snapshot_inbox->Abort();
    delete this;
  }

 private:
  void Refuse(const std::string& why) {
    std::fprintf(stderr, "ketcd: refused a snapshot: %s\n", why.c_str());
    ack_->set_accepted(false);
    ack_->set_error(why);
    Finish(grpc::Status::OK);
  }

  PeerTransport* owner_;
  peerpb::SnapshotAck* ack_;
  peerpb::SnapshotChunk chunk_;
  bool begun_ = false;
};

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
        if (!greeted_ && !owner_->IsCut(batch_.from())) {
          greeted_ = true;
          owner_->PeerConnected(batch_.from());
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
      bool greeted_ = false;
    };
    return new Reader(owner_);
  }

  grpc::ServerReadReactor<peerpb::SnapshotChunk>* Snapshot(grpc::CallbackServerContext*,
                                                            peerpb::SnapshotAck* ack) override {
    return new SnapshotReader(owner_, ack);
  }

  grpc::ServerUnaryReactor* LeaseRenew(grpc::CallbackServerContext* ctx, const peerpb::LeaseForward* req,
                                       etcdserverpb::LeaseKeepAliveResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    Lessor* lessor = owner_->opts_.lessor;
    if (lessor == nullptr || req->cluster_id() != owner_->opts_.cluster_id) {
      reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "not leader"));
      return reactor;
    }
    auto ttl = lessor->Renew(req->id(), absl::Now());
    if (ttl.ok()) {
      resp->set_id(req->id());
      resp->set_ttl(*ttl);
    }
    reactor->Finish(ttl.ok() ? grpc::Status::OK
                             : grpc::Status(static_cast<grpc::StatusCode>(ttl.status().code()),
                                            std::string(ttl.status().message())));
    return reactor;
  }

  grpc::ServerUnaryReactor* LeaseTimeToLive(grpc::CallbackServerContext* ctx,
                                            const peerpb::LeaseForward* req,
                                            etcdserverpb::LeaseTimeToLiveResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    Lessor* lessor = owner_->opts_.lessor;
    if (lessor == nullptr || req->cluster_id() != owner_->opts_.cluster_id) {
      reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "not leader"));
      return reactor;
    }
    auto r = lessor->TimeToLive(req->id(), req->keys(), absl::Now());
    if (r.ok()) *resp = std::move(*r);
    reactor->Finish(r.ok() ? grpc::Status::OK
                           : grpc::Status(static_cast<grpc::StatusCode>(r.status().code()),
                                          std::string(r.status().message())));
    return reactor;
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
    if (stopped_) return;
    auto& known = targets_[id];
    if (known == target && senders_.count(id)) return;  // unchanged: keep the stream
    known = target;
    auto& slot = senders_[id];
    old = std::move(slot);
    slot = std::make_unique<Sender>(this, id, target);
  }
}

void PeerTransport::PeerConnected(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = senders_.find(id);
  if (it != senders_.end()) it->second->Kick();
}

void PeerTransport::RemovePeer(uint64_t id) {
  std::unique_ptr<Sender> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    targets_.erase(id);
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

void PeerTransport::SendSnapshot(raftpb::Message msg, std::string dir, SnapshotDone done) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = targets_.find(msg.to());
  if (stopped_ || it == targets_.end()) {
    (void)storage::RemoveTree(dir);
    done(false);
    return;
  }
  std::string target = it->second;
  // Reap the transfers that ended (raft may retry a refused one often).
  for (auto t = transfers_.begin(); t != transfers_.end();) {
    if (t->done->load()) {
      t->thread.join();
      t = transfers_.erase(t);
    } else {
      ++t;
    }
  }
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::thread th([this, msg = std::move(msg), target, dir = std::move(dir), done = std::move(done),
                  finished]() mutable {
    RunSnapshotTransfer(std::move(msg), target, dir, done);
    finished->store(true);
  });
  transfers_.push_back(Transfer{std::move(th), std::move(finished)});
}

void PeerTransport::RunSnapshotTransfer(raftpb::Message msg, const std::string& target,
                                        const std::string& dir, const SnapshotDone& done) {
  const uint64_t to = msg.to();
  const uint64_t index = msg.snapshot().metadata().index();
  auto report = [&](bool ok, const std::string& why) {
    (void)storage::RemoveTree(dir);
    if (ok) {
      std::fprintf(stderr, "ketcd: sent a snapshot at index %llu to member %llx\n",
                   static_cast<unsigned long long>(index), static_cast<unsigned long long>(to));
    } else {
      std::fprintf(stderr, "ketcd: sending a snapshot at index %llu to member %llx failed: %s\n",
                   static_cast<unsigned long long>(index), static_cast<unsigned long long>(to),
                   why.c_str());
    }
    done(ok);
  };
  auto files = storage::ListSnapshotFiles(dir);
  if (!files.ok()) return report(false, std::string(files.status().message()));
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  args.SetMaxSendMessageSize(-1);
  auto stub = peerpb::Peer::NewStub(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return report(false, "stopping");
    transfer_calls_.push_back(&ctx);
  }
  peerpb::SnapshotAck ack;
  auto writer = stub->Snapshot(&ctx, &ack);
  peerpb::SnapshotChunk chunk;
  chunk.set_cluster_id(opts_.cluster_id);
  chunk.set_from(opts_.self_id);
  *chunk.mutable_message() = std::move(msg);
  for (const auto& f : *files) {
    auto* m = chunk.add_manifest();
    m->set_name(f.name);
    m->set_size(f.size);
  }
  std::string error;
  bool ok = writer->Write(chunk);
  for (size_t i = 0; ok && i < files->size(); ++i) {
    const auto& f = (*files)[i];
    for (uint64_t off = 0; ok && off < f.size; off += kSnapshotChunkBytes) {
      auto data = storage::ReadSnapshotChunk(dir, f.name, off, kSnapshotChunkBytes);
      if (!data.ok()) {
        error = std::string(data.status().message());
        ok = false;
        break;
      }
      chunk.Clear();
      chunk.set_file(f.name);
      chunk.set_offset(off);
      chunk.set_crc32c(storage::Crc32c(*data));
      chunk.set_data(std::move(*data));
      ok = writer->Write(chunk);
    }
  }
  if (ok) {
    chunk.Clear();
    chunk.set_last(true);
    ok = writer->Write(chunk);
  }
  if (!ok) ctx.TryCancel();
  writer->WritesDone();
  grpc::Status st = writer->Finish();
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(transfer_calls_, &ctx);
  }
  if (ok && !st.ok()) error = st.error_message();
  if (ok && st.ok() && !ack.accepted()) error = ack.error();
  if (error.empty() && !ok) error = "the stream broke";
  report(ok && st.ok() && ack.accepted(), error);
}

void PeerTransport::Stop() {
  std::map<uint64_t, std::unique_ptr<Sender>> senders;
  std::vector<Transfer> transfers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    senders.swap(senders_);
    transfers.swap(transfers_);
    for (auto* c : transfer_calls_) c->TryCancel();
  }
  senders.clear();
  for (auto& t : transfers) t.thread.join();
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
