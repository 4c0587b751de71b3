// PeerSender: the outgoing raft messages to one peer. Enqueue never blocks:
// messages go out over one long-lived client stream (Peer.Stream) written
// through gRPC's callback API. Enqueue starts a write itself when none is
// in flight; each completed write takes everything queued meanwhile (up to
// a batch's limit) as the next write, so a burst costs one write and no
// thread hand-off sits on a quorum write's path. The sender's own thread
// only (re)opens the stream, with backoff after a failure. When the queue
// is full, or the stream breaks, messages are dropped and the peer is
// reported unreachable (raft retries; a slow or dead peer never holds the
// leader back).
//
// Ownership: owned by PeerTransport; borrows the directory it dials
// through, which must outlive it. Thread-safety: all public methods are
// thread-safe; `unreachable` and `removed` run on the sender's thread,
// never inside Enqueue.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "grpcpp/client_context.h"
#include "raftpb/raft.pb.h"
#include "server/peer/peer_directory.h"
#include "server/peer/peer_metrics.h"

namespace server {

// How a member refuses the stream of a member removed from the cluster;
// the removed member stops when it reads it (as etcd's HTTP 410 Gone).
inline constexpr char kRemovedMemberMessage[] = "the member has been permanently removed from the cluster";
bool IsRemovedRefusal(const grpc::Status& s);

class PeerSender {
 public:
  struct Options {
    uint64_t cluster_id = 0;
    uint64_t self_id = 0;
    uint64_t peer_id = 0;
    size_t max_queued_messages = 4096;
    // Called (on the sender's thread) when the peer refuses the stream
    // because this member was removed from the cluster.
    std::function<void()> removed;
    // Bytes sent and messages dropped (queue full, stream broken); may be null.
    PeerCounters* counters = nullptr;
  };
  using Unreachable = std::function<void(uint64_t peer_id)>;

  // Starts the sender's thread.
  PeerSender(Options opts, PeerDirectory* directory, Unreachable unreachable);
  // Cancels the stream, waits until gRPC is done with it and joins the
  // thread; queued messages are dropped.
  ~PeerSender();

  // False when the queue is full (the caller reports the peer unreachable).
  [[nodiscard]] bool Enqueue(raftpb::Message m);

  // The peer has just opened a stream to us, so it is up: retry now rather
  // than after the rest of the backoff (a restarted member is heard at
  // once, as etcd's streams that the receiver dials are).
  void Kick();

  PeerCounters* counters() const { return opts_.counters; }

 private:
  // One Peer.Stream call and its write state (peer_sender.cc).
  class Stream;

  void Loop();
  // One stream's life: open, greet, let writes run until one fails or the
  // sender stops, then wait for gRPC's last callback. False when stopping.
  bool RunStream(std::chrono::milliseconds& backoff);
  // Between streams: drops the stale queue and waits out `backoff` (or
  // less, when kicked). False when stopping.
  bool WaitToRetry(std::chrono::milliseconds& backoff);

  const Options opts_;
  PeerDirectory* const directory_;
  const Unreachable unreachable_;
  std::mutex mu_;
  // Waited on by the sender's thread only: a stop, a kick, or the open
  // stream failing or ending.
  std::condition_variable cv_;
  std::deque<raftpb::Message> queue_;  // guarded by mu_
  bool stopping_ = false;              // guarded by mu_
  bool kicked_ = false;                // guarded by mu_
  // The open stream, if any: it lives on the sender thread's stack until
  // its OnDone, so a pointer read under mu_ may be used while the stream
  // holds a write for the reader (see Stream::TakeBatch).
  Stream* stream_ = nullptr;  // guarded by mu_
  std::thread thread_;
};

}  // namespace server
