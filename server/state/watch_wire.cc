#include "server/state/watch_wire.h"

#include <cstring>

#include "google/protobuf/io/coded_stream.h"

namespace server::watch_wire {
namespace {

using google::protobuf::io::CodedOutputStream;

constexpr uint8_t kHeaderTag = (etcdserverpb::WatchResponse::kHeaderFieldNumber << 3) | 2;
constexpr uint8_t kWatchIdTag = (etcdserverpb::WatchResponse::kWatchIdFieldNumber << 3) | 0;
constexpr uint8_t kEventsTag = (etcdserverpb::WatchResponse::kEventsFieldNumber << 3) | 2;
constexpr uint8_t kEventTypeTag = (mvccpb::Event::kTypeFieldNumber << 3) | 0;
constexpr uint8_t kEventKvTag = (mvccpb::Event::kKvFieldNumber << 3) | 2;
static_assert(etcdserverpb::WatchResponse::kEventsFieldNumber < 16, "one-byte tags");

// tag, length, then the message's own bytes, in one freshly allocated slice.
grpc::Slice LengthDelimited(uint8_t tag, const google::protobuf::MessageLite& m) {
  const size_t size = m.ByteSizeLong();
  const size_t total = 1 + CodedOutputStream::VarintSize64(size) + size;
  grpc::Slice slice(total);
  auto* p = const_cast<uint8_t*>(slice.begin());
  *p++ = tag;
  p = CodedOutputStream::WriteVarint64ToArray(size, p);
  m.SerializeWithCachedSizesToArray(p);
  return slice;
}

}  // namespace

grpc::Slice HeaderField(const etcdserverpb::ResponseHeader& header) {
  return LengthDelimited(kHeaderTag, header);
}

grpc::Slice EventField(const mvccpb::Event& event, bool with_prev_kv) {
  if (with_prev_kv || !event.has_prev_kv()) return LengthDelimited(kEventsTag, event);
  // The event without its prev_kv, written field by field (type = 1, kv = 2)
  // rather than through a copy of the event's key and value.
  const size_t kv_size = event.kv().ByteSizeLong();
  const size_t type_size = event.type() == 0 ? 0 : 1 + CodedOutputStream::VarintSize32SignExtended(event.type());
  const size_t body = type_size + 1 + CodedOutputStream::VarintSize64(kv_size) + kv_size;
  grpc::Slice slice(1 + CodedOutputStream::VarintSize64(body) + body);
  auto* p = const_cast<uint8_t*>(slice.begin());
  *p++ = kEventsTag;
  p = CodedOutputStream::WriteVarint64ToArray(body, p);
  if (type_size != 0) {
    *p++ = kEventTypeTag;
    p = CodedOutputStream::WriteVarint32SignExtendedToArray(event.type(), p);
  }
  *p++ = kEventKvTag;
  p = CodedOutputStream::WriteVarint64ToArray(kv_size, p);
  event.kv().SerializeWithCachedSizesToArray(p);
  return slice;
}

grpc::Slice WatchIdField(int64_t watch_id) {
  if (watch_id == 0) return grpc::Slice();
  uint8_t buf[1 + 10];
  buf[0] = kWatchIdTag;
  // int64 fields are varints of the two's-complement value (10 bytes if < 0).
  uint8_t* end = CodedOutputStream::WriteVarint64ToArray(static_cast<uint64_t>(watch_id), buf + 1);
  return grpc::Slice(buf, static_cast<size_t>(end - buf));  // small: kept inline, no allocation
}

EventsResponse::EventsResponse(const grpc::Slice& header, int64_t id) : watch_id(id) {
  pieces.push_back(header);
  pieces.push_back(WatchIdField(id));
  bytes = pieces[0].size() + pieces[1].size();
}

void EventsResponse::SetHeader(const grpc::Slice& header) {
  bytes = bytes - pieces[0].size() + header.size();
  pieces[0] = header;
}

void EventsResponse::AddEvent(const grpc::Slice& event) {
  pieces.push_back(event);
  bytes += event.size();
}

grpc::ByteBuffer EventsResponse::ToByteBuffer() const { return grpc::ByteBuffer(pieces.data(), pieces.size()); }

etcdserverpb::WatchResponse EventsResponse::ToMessage() const {
  std::string bytes_out;
  bytes_out.reserve(bytes);
  for (const auto& p : pieces) bytes_out.append(reinterpret_cast<const char*>(p.begin()), p.size());
  etcdserverpb::WatchResponse r;
  if (!r.ParseFromString(bytes_out)) r.Clear();
  return r;
}

}  // namespace server::watch_wire
