// WatchSendQueue: the outbound responses of one Watch stream, waiting for
// their turn to be written (gRPC allows one write in flight per stream).
//
// Coalescing: an events response of watcher W that is queued and not yet
// being written takes W's next events too, so a stream that falls behind
// sends fewer, larger responses instead of one per revision per watcher
// (each gRPC message has a fixed cost). This is what a client of etcd sees
// from a watcher that fell behind (etcd's catch-up responses carry several
// revisions; clients take them): per watcher the events stay in revision
// order, and the response's header revision is its newest one. A control
// response (created, canceled, progress, a catch-up or fragment) closes
// every open response to merging, so that nothing queued after it can move
// ahead of it. Merging stops at max_merged_bytes per response.
// Thread-safety: none; the owner (the stream's sink) locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include <grpcpp/support/byte_buffer.h>

#include "absl/container/flat_hash_map.h"

#include "etcdserverpb/rpc.pb.h"
#include "server/state/watch_wire.h"

namespace server {

class WatchSendQueue {
 public:
  struct Limits {
    size_t max_bytes = 8 << 20;          // unforced pushes refused above this
    size_t max_responses = 1024;         // ... or at this many responses
    size_t max_merged_bytes = 1 << 20;   // a coalesced response grows to at most this (gRPC clients take 4 MiB)
  };
  explicit WatchSendQueue(Limits limits) : limits_(limits) {}

  // A complete response (control, catch-up, fragment). Unless `force`,
  // refused (false) when the queue is over its limits.
  bool PushResponse(const etcdserverpb::WatchResponse& r, bool force);
  // One watcher's events (see watch_wire.h), merged into its open response
  // when there is one. Refused (false) when over the limits.
  bool PushEvents(int64_t watch_id, const grpc::Slice& header, const grpc::Slice* const* events, size_t count);

  bool Full() const;
  bool empty() const { return queue_.empty(); }
  size_t size() const { return queue_.size(); }
  size_t bytes() const { return bytes_; }

  // The front response's bytes, now closed to merging; valid until
  // PopFront. Requires !empty().
  const grpc::ByteBuffer& StartFront();
  void PopFront();

 private:
  struct Item {
    grpc::ByteBuffer ready;                             // complete responses
    std::optional<watch_wire::EventsResponse> events;   // events, still open
    size_t bytes = 0;
  };
  bool OverLimits(bool adds_response) const;

  const Limits limits_;
  std::deque<Item> queue_;  // references stay valid across push_back / pop_front
  size_t bytes_ = 0;
  // watch id -> its newest queued events response still open to merging.
  // Probed twice per message written: an open-addressing table, not
  // std::unordered_map's node per entry (3% of a member's CPU at 10,000
  // watchers, in cache misses).
  absl::flat_hash_map<int64_t, Item*> open_;
  bool front_started_ = false;
};

}  // namespace server
