#include "server/edge/watch_send_queue.h"

#include <grpcpp/impl/codegen/proto_utils.h>

namespace server {

bool WatchSendQueue::OverLimits(bool adds_response) const {
  if (queue_.empty()) return false;  // an empty stream always takes one
  return bytes_ > limits_.max_bytes || (adds_response && queue_.size() >= limits_.max_responses);
}

bool WatchSendQueue::Full() const { return OverLimits(/*adds_response=*/true); }

bool WatchSendQueue::PushResponse(const etcdserverpb::WatchResponse& r, bool force) {
  if (!force && OverLimits(true)) return false;
  // Built in place: a ByteBuffer has no move, only a copy.
  grpc::ByteBuffer bytes;
  bool own = false;
  const grpc::Status s = grpc::SerializationTraits<etcdserverpb::WatchResponse>::Serialize(r, &bytes, &own);
  if (!s.ok()) return false;  // cannot happen for a well-formed message
  Item& item = queue_.emplace_back();
  item.ready.Swap(&bytes);
  item.bytes = item.ready.Length();
  bytes_ += item.bytes;
  // Nothing queued before this response may take events from after it.
  open_.clear();
  return true;
}

bool WatchSendQueue::PushEvents(int64_t watch_id, const grpc::Slice& header, const grpc::Slice* const* events,
                                size_t count) {
  size_t added = 0;
  for (size_t i = 0; i < count; ++i) added += events[i]->size();
  auto it = open_.find(watch_id);
  if (it != open_.end() && it->second->bytes + added <= limits_.max_merged_bytes) {
    if (OverLimits(false)) return false;
    Item& item = *it->second;
    const size_t before = item.events->bytes;
    item.events->SetHeader(header);
    for (size_t i = 0; i < count; ++i) item.events->AddEvent(*events[i]);
    item.bytes = item.events->bytes;
    bytes_ += item.bytes - before;
    return true;
  }
  if (OverLimits(true)) return false;
  Item& item = queue_.emplace_back();
  item.events.emplace(header, watch_id);
  for (size_t i = 0; i < count; ++i) item.events->AddEvent(*events[i]);
  item.bytes = item.events->bytes;
  bytes_ += item.bytes;
  open_[watch_id] = &item;
  return true;
}

const grpc::ByteBuffer& WatchSendQueue::StartFront() {
  Item& front = queue_.front();
  if (!front_started_ && front.events) {
    if (auto it = open_.find(front.events->watch_id); it != open_.end() && it->second == &front) open_.erase(it);
    grpc::ByteBuffer bytes = front.events->ToByteBuffer();
    front.ready.Swap(&bytes);
    front.events.reset();
  }
  front_started_ = true;
  return front.ready;
}

void WatchSendQueue::PopFront() {
  Item& front = queue_.front();
  if (front.events) {  // popped without being started (the stream ended)
    if (auto it = open_.find(front.events->watch_id); it != open_.end() && it->second == &front) open_.erase(it);
  }
  bytes_ -= front.bytes;
  queue_.pop_front();
  front_started_ = false;
}

}  // namespace server
