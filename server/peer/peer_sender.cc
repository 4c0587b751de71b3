#include "server/peer/peer_sender.h"

#include <algorithm>
#include <memory>

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

PeerSender::PeerSender(Options opts, PeerDirectory* directory, Unreachable unreachable)
    : opts_(opts), directory_(directory), unreachable_(std::move(unreachable)) {
  thread_ = std::thread([this] { Loop(); });
}

PeerSender::~PeerSender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (ctx_) ctx_->TryCancel();
  }
  cv_.notify_all();
  thread_.join();
}

bool PeerSender::Enqueue(raftpb::Message m) {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.size() >= opts_.max_queued_messages) {
    if (opts_.counters != nullptr) opts_.counters->sent_failures.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  queue_.push_back(std::move(m));
  cv_.notify_one();
  return true;
}

void PeerSender::Kick() {
  // The shared channel may be waiting out its own reconnect backoff.
  directory_->ResetBackoff(opts_.peer_id);
  std::lock_guard<std::mutex> lock(mu_);
  kicked_ = true;
  cv_.notify_one();
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
  auto stub = peerpb::Peer::NewStub(*channel);
  auto ctx = std::make_unique<grpc::ClientContext>();
  peerpb::StreamAck ack;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    ctx_ = ctx.get();
  }
  auto writer = stub->Stream(ctx.get(), &ack);
  // An empty batch first: it tells the peer who we are (see Kick).
  peerpb::MessageBatch hello;
  hello.set_cluster_id(opts_.cluster_id);
  hello.set_from(opts_.self_id);
  bool broken = !writer->Write(hello);
  bool stopping = false;
  while (!broken) {
    peerpb::MessageBatch batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        stopping = true;
        break;
      }
      batch.set_cluster_id(opts_.cluster_id);
      batch.set_from(opts_.self_id);
      while (!queue_.empty() && batch.messages_size() < kMaxBatchMessages) {
        *batch.add_messages() = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (!writer->Write(batch)) {
      broken = true;
      if (opts_.counters != nullptr) {
        opts_.counters->sent_failures.fetch_add(batch.messages_size(), std::memory_order_relaxed);
      }
      unreachable_(opts_.peer_id);
    } else {
      backoff = kMinBackoff;
      if (opts_.counters != nullptr) {
        opts_.counters->sent_bytes.fetch_add(batch.ByteSizeLong(), std::memory_order_relaxed);
      }
    }
  }
  writer->WritesDone();
  const grpc::Status finished = writer->Finish();
  if (IsRemovedRefusal(finished) && opts_.removed) opts_.removed();
  std::lock_guard<std::mutex> lock(mu_);
  ctx_ = nullptr;
  return !stopping && !stopping_;
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
