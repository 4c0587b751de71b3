// Watch responses in wire format, built from shared pieces.
//
// One revision's events go to every watcher of a member; encoding them once
// and handing each watcher's response a reference (a ref-counted
// grpc::Slice) instead of a copy is what makes fan-out cheap. A protobuf
// message is a concatenation of its fields, so a WatchResponse is written
// here as
//   [header field][watch_id field][events field]...
// in field-number order (header = 1, watch_id = 2, events = 11), the order
// protobuf's own serializer and etcd's gogoproto use: the bytes equal what
// WatchResponse::SerializeAsString() gives for the same message.
// Only responses that carry events and no created/canceled/compact/fragment
// flags are built this way; control responses are ordinary messages.
// Thread-safety: free functions; a Slice may be shared across threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include "absl/container/inlined_vector.h"

#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"

namespace server::watch_wire {

// Field 1 (header), tag and length included.
grpc::Slice HeaderField(const etcdserverpb::ResponseHeader& header);
// Field 11 (one of the repeated events), tag and length included; without
// prev_kv when `with_prev_kv` is false.
grpc::Slice EventField(const mvccpb::Event& event, bool with_prev_kv);
// Field 2 (watch_id); empty for 0, which proto3 does not write.
grpc::Slice WatchIdField(int64_t watch_id);

// One watcher's events response, kept in pieces until written so that
// later events of the same watcher can still be appended (see
// WatchSink::EnqueueEvents). pieces[0] = header, pieces[1] = watch_id, then
// one piece per event. A response of one event (the usual one) keeps its
// pieces inline: no allocation per message.
struct EventsResponse {
  int64_t watch_id = 0;
  absl::InlinedVector<grpc::Slice, 3> pieces;
  size_t bytes = 0;  // the encoded size: sum of the pieces' lengths

  EventsResponse(const grpc::Slice& header, int64_t id);
  void SetHeader(const grpc::Slice& header);
  void AddEvent(const grpc::Slice& event);
  // The message bytes, sharing the pieces (no copy). Tried: a copy into one
  // slice of its own up to 64 KiB (fewer reference counts touched); it cost
  // more CPU at 10,000 watchers, not less.
  grpc::ByteBuffer ToByteBuffer() const;
  // The same message parsed (for tests and non-gRPC sinks).
  etcdserverpb::WatchResponse ToMessage() const;
};

}  // namespace server::watch_wire
