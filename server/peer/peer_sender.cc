#include "server/peer/peer_sender.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "grpcpp/grpcpp.h"
#include "peerpb/peer.grpc.pb.h"

namespace server {

bool IsRemovedRefusal(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::FAILED_PRECONDITION && s.error_message() == kRemovedMemberMessage;
}
namespace {

constexpr std::chrono::milliseconds kMinBackoff(50);
constexpr std::chrono::milliseconds kMaxBackoff(1000);
constexpr int kMaxBatchMessages = 512;

}  // namespace

// One Peer.Stream call. At most one write is in flight, and one party
// holds it (writing_, under the owner's mu_): whoever takes it fills
// batch_ under mu_ and calls StartWrite after releasing mu_; only that
// write's OnWriteDone gives it back or passes it on to the next batch. No
// gRPC call is made under mu_, because gRPC may run a reaction on the
// calling thread and every reaction takes mu_.
//
// One hold (AddHold) keeps the call from ending while a caller of Enqueue
// may start a write from outside a reaction. It is released once, by
// whoever closes the stream: a failed write, or the sender stopping with no
// write in flight. OnDone then follows; the sender's thread waits for it
// before the stream (on its stack) goes away.
class PeerSender::Stream : public grpc::ClientWriteReactor<peerpb::MessageBatch> {
 public:
  Stream(PeerSender* owner, std::shared_ptr<grpc::Channel> channel)
      : owner_(owner), stub_(peerpb::Peer::NewStub(std::move(channel))) {
    batch_.set_cluster_id(owner->opts_.cluster_id);
    batch_.set_from(owner->opts_.self_id);
  }

  // Opens the call with the hello in flight: an empty batch that tells the
  // peer who we are (see Kick).
  void Start() {
    stub_->async()->Stream(&ctx_, &ack_, this);
    AddHold();
    StartWrite(&batch_);
    StartCall();
  }

  // Under mu_: takes the write if it is free and messages wait; the caller
  // then calls Write() once it has released mu_.
  bool TakeBatch() {
    if (writing_ || closed_ || owner_->stopping_ || owner_->queue_.empty()) return false;
    FillBatch();
    writing_ = true;
    return true;
  }
  void Write() { StartWrite(&batch_); }

  // Under mu_: closes the stream unless a write is in flight (its
  // OnWriteDone closes it then) or it is closed already. True when the
  // caller must call Close() once it has released mu_.
  bool CloseIfIdle() {
    if (writing_ || closed_) return false;
    closed_ = true;
    return true;
  }
  void Close() { RemoveHold(); }
  void Cancel() { ctx_.TryCancel(); }

  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> lock(owner_->mu_);
    status_ = s;
    done_ = true;
    // Notified under mu_: as soon as mu_ is released, the sender's thread
    // may destroy this stream and its owner.
    owner_->cv_.notify_all();
  }

  // Guarded by the owner's mu_.
  bool failed_ = false;        // a write failed: the stream is broken
  bool batch_failed_ = false;  // the failed write carried a batch (not the hello)
  bool delivered_ = false;     // a batch was written: the backoff starts over
  bool done_ = false;          // OnDone has run; status_ is final
  grpc::Status status_;

 private:
  void FillBatch();

  PeerSender* const owner_;
  std::unique_ptr<peerpb::Peer::Stub> stub_;
  grpc::ClientContext ctx_;
  peerpb::StreamAck ack_;
  peerpb::MessageBatch batch_;  // the write's holder's; gRPC's until OnWriteDone
  bool greeted_ = false;        // the write's holder's: the hello is done
  bool writing_ = true;         // guarded by mu_; the hello's until it is done
  bool closed_ = false;         // guarded by mu_; no write starts again
};

void PeerSender::Stream::FillBatch() {
  auto& queue = owner_->queue_;
  batch_.clear_messages();
  while (!queue.empty() && batch_.messages_size() < kMaxBatchMessages) {
    *batch_.add_messages() = std::move(queue.front());
    queue.pop_front();
  }
}

void PeerSender::Stream::OnWriteDone(bool ok) {
  const bool hello = !greeted_;
  greeted_ = true;
  PeerCounters* counters = owner_->opts_.counters;
  if (counters != nullptr && !hello) {
    if (ok) {
      counters->sent_bytes.fetch_add(batch_.ByteSizeLong(), std::memory_order_relaxed);
    } else {
      counters->sent_failures.fetch_add(batch_.messages_size(), std::memory_order_relaxed);
    }
  }
  bool write = false;
  bool close = false;
  {
    std::lock_guard<std::mutex> lock(owner_->mu_);
    writing_ = false;
    if (!ok) {
      failed_ = true;
      batch_failed_ = !hello;
      owner_->cv_.notify_all();
    } else if (!hello) {
      delivered_ = true;
    }
    // Everything queued while this write was in flight goes as one batch.
    if (!ok || owner_->stopping_) {
      close = CloseIfIdle();
    } else {
      write = TakeBatch();
    }
  }
  if (write) Write();
  if (close) Close();
}

PeerSender::PeerSender(Options opts, PeerDirectory* directory, Unreachable unreachable)
    : opts_(opts), directory_(directory), unreachable_(std::move(unreachable)) {
  thread_ = std::thread([this] { Loop(); });
}

PeerSender::~PeerSender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  // The thread cancels the open stream and returns only after its OnDone.
  thread_.join();
}

bool PeerSender::Enqueue(raftpb::Message m) {
  Stream* write = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= opts_.max_queued_messages) {
      if (opts_.counters != nullptr) opts_.counters->sent_failures.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(m));
    if (stream_ != nullptr && stream_->TakeBatch()) write = stream_;
  }
  // The write taken is ours: the stream stays open (its hold) and alive
  // (the sender's thread awaits its OnDone) until it completes.
  if (write != nullptr) write->Write();
  return true;
}

void PeerSender::Kick() {
  // The shared channel may be waiting out its own reconnect backoff.
  directory_->ResetBackoff(opts_.peer_id);
  std::lock_guard<std::mutex> lock(mu_);
  kicked_ = true;
  cv_.notify_all();
}

void PeerSender::Loop() {
  auto backoff = kMinBackoff;
  while (RunStream(backoff) && WaitToRetry(backoff)) {
  }
}

bool PeerSender::RunStream(std::chrono::milliseconds& backoff) {
  auto channel = directory_->Channel(opts_.peer_id);
  if (!channel.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    return !stopping_;  // an unknown or undialable peer: retry later
  }
  Stream stream(this, std::move(*channel));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    stream_ = &stream;
  }
  stream.Start();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopping_ || stream.failed_ || stream.done_; });
  bool reported = false;
  if (stream.batch_failed_) {
    lock.unlock();
    unreachable_(opts_.peer_id);
    reported = true;
    lock.lock();
  }
  if (stopping_) {
    const bool close = stream.CloseIfIdle();
    lock.unlock();
    stream.Cancel();
    if (close) stream.Close();
    lock.lock();
  }
  cv_.wait(lock, [&] { return stream.done_; });
  stream_ = nullptr;
  // A write in flight when the sender stopped may have failed since.
  const bool report = stream.batch_failed_ && !reported;
  if (stream.delivered_) backoff = kMinBackoff;
  const bool stopping = stopping_;
  lock.unlock();
  if (report) unreachable_(opts_.peer_id);
  if (IsRemovedRefusal(stream.status_) && opts_.removed) opts_.removed();
  return !stopping;
}

bool PeerSender::WaitToRetry(std::chrono::milliseconds& backoff) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    // Messages queued while the stream was down are stale for raft; it
    // resends what matters after the unreachable report.
    if (opts_.counters != nullptr) {
      opts_.counters->sent_failures.fetch_add(queue_.size(), std::memory_order_relaxed);
    }
    queue_.clear();
    if (cv_.wait_for(lock, backoff, [&] { return stopping_ || kicked_; }) && stopping_) return false;
    if (kicked_) {
      kicked_ = false;
      backoff = kMinBackoff;
      return true;
    }
  }
  backoff = std::min(backoff * 2, kMaxBackoff);
  return true;
}

}  // namespace server
