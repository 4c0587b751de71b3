// The hand-built watch responses (server/state/watch_wire.h) against
// protobuf's own serializer, and the coalescing send queue of a Watch stream
// (server/edge/watch_send_queue.h): what a client parses from its bytes.
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "server/edge/watch_send_queue.h"
#include "server/state/watch_wire.h"

namespace ketcd_test {
namespace {

std::string Flatten(const grpc::ByteBuffer& bb) {
  std::vector<grpc::Slice> slices;
  REQUIRE(bb.Dump(&slices).ok());
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

mvccpb::Event MakeEvent(std::mt19937_64& rng, int64_t rev) {
  mvccpb::Event e;
  e.set_type(rng() % 3 == 0 ? mvccpb::Event::DELETE : mvccpb::Event::PUT);
  auto* kv = e.mutable_kv();
  kv->set_key("key/" + std::to_string(rng() % 1000));
  kv->set_mod_revision(rev);
  kv->set_create_revision(rev - static_cast<int64_t>(rng() % 5));
  kv->set_version(static_cast<int64_t>(rng() % 300));  // > 127: two-byte varints
  // Values across the one- and two-byte length boundary (127/128 bytes).
  if (e.type() == mvccpb::Event::PUT) kv->set_value(std::string(rng() % 300, 'v'));
  if (rng() % 2) {
    auto* prev = e.mutable_prev_kv();
    prev->set_key(kv->key());
    prev->set_value(std::string(rng() % 200, 'p'));
    prev->set_mod_revision(rev - 1);
  }
  return e;
}

etcdserverpb::ResponseHeader MakeHeader(int64_t rev) {
  etcdserverpb::ResponseHeader h;
  h.set_cluster_id(0xcdf818194e3a8c32ULL);
  h.set_member_id(0x8e9e05c52164694dULL);
  h.set_revision(rev);
  h.set_raft_term(7);
  return h;
}

}  // namespace

TEST_CASE("a hand-built watch response has the bytes protobuf gives the same message", "[watch][watch_wire]") {
  std::mt19937_64 rng(GENERATE(1, 2, 3, 4));
  for (int round = 0; round < 200; ++round) {
    const int64_t rev = 1 + static_cast<int64_t>(rng() % 100000);
    // 0 (not written), small, large and negative watch ids.
    const int64_t ids[] = {0, 1, 127, 128, 1LL << 40, -1};
    const int64_t id = ids[rng() % 6];
    const bool prev_kv = rng() % 2;
    const int n = 1 + static_cast<int>(rng() % 4);

    etcdserverpb::WatchResponse want;
    *want.mutable_header() = MakeHeader(rev);
    want.set_watch_id(id);
    server::watch_wire::EventsResponse built(server::watch_wire::HeaderField(MakeHeader(rev)), id);
    for (int k = 0; k < n; ++k) {
      mvccpb::Event e = MakeEvent(rng, rev);
      built.AddEvent(server::watch_wire::EventField(e, prev_kv));
      if (!prev_kv) e.clear_prev_kv();
      *want.add_events() = e;
    }
    const std::string bytes = Flatten(built.ToByteBuffer());
    INFO("round " << round << " id " << id << " prev_kv " << prev_kv);
    REQUIRE(bytes == want.SerializeAsString());
    REQUIRE(built.bytes == bytes.size());
    etcdserverpb::WatchResponse parsed;
    REQUIRE(parsed.ParseFromString(bytes));
    REQUIRE(parsed.events_size() == n);
    REQUIRE(parsed.watch_id() == id);
    REQUIRE(built.ToMessage().SerializeAsString() == bytes);
  }
}

TEST_CASE("a stream's send queue coalesces one watcher's events until a control response", "[watch][watch_wire]") {
  using server::watch_wire::EventField;
  using server::watch_wire::HeaderField;
  server::WatchSendQueue q({.max_bytes = 1 << 20, .max_responses = 100, .max_merged_bytes = 1 << 20});
  std::mt19937_64 rng(7);
  std::vector<mvccpb::Event> evs;
  for (int64_t rev = 10; rev < 16; ++rev) evs.push_back(MakeEvent(rng, rev));
  auto push = [&](int64_t id, size_t k) {
    const grpc::Slice e = EventField(evs[k], /*with_prev_kv=*/false);
    const grpc::Slice* pieces[] = {&e};
    REQUIRE(q.PushEvents(id, HeaderField(MakeHeader(evs[k].kv().mod_revision())), pieces, 1));
  };
  auto pop = [&] {
    etcdserverpb::WatchResponse r;
    REQUIRE(r.ParseFromString(Flatten(q.StartFront())));
    q.PopFront();
    return r;
  };
  push(1, 0);          // being written below: closed to merging
  const auto first = q.StartFront();
  push(1, 1);
  push(2, 1);
  push(1, 2);          // joins watcher 1's open response (rev 11)
  etcdserverpb::WatchResponse progress;
  progress.set_watch_id(-1);
  progress.mutable_header()->set_revision(12);
  REQUIRE(q.PushResponse(progress, /*force=*/true));
  push(1, 3);          // after the control response: a new response
  push(2, 3);
  push(1, 4);          // joins the new one
  REQUIRE(q.size() == 6);

  auto r = pop();      // the first, as it was when its write started
  REQUIRE(r.watch_id() == 1);
  REQUIRE(r.events_size() == 1);
  r = pop();
  REQUIRE(r.watch_id() == 1);
  REQUIRE(r.events_size() == 2);
  CHECK(r.events(0).kv().mod_revision() == 11);
  CHECK(r.events(1).kv().mod_revision() == 12);
  CHECK(r.header().revision() == 12);  // the newest revision it carries
  r = pop();
  REQUIRE(r.watch_id() == 2);
  REQUIRE(r.events_size() == 1);
  r = pop();
  CHECK(r.watch_id() == -1);
  CHECK(r.events_size() == 0);
  r = pop();
  REQUIRE(r.watch_id() == 1);
  REQUIRE(r.events_size() == 2);
  CHECK(r.events(0).kv().mod_revision() == 13);
  CHECK(r.events(1).kv().mod_revision() == 14);
  CHECK(r.header().revision() == 14);
  r = pop();
  CHECK(r.watch_id() == 2);
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
}

TEST_CASE("a stream's send queue refuses unforced responses over its budget, and caps a merge",
          "[watch][watch_wire]") {
  using server::watch_wire::EventField;
  using server::watch_wire::HeaderField;
  std::mt19937_64 rng(9);
  const mvccpb::Event e = MakeEvent(rng, 5);
  const grpc::Slice ev = EventField(e, true);
  const grpc::Slice hdr = HeaderField(MakeHeader(5));
  const grpc::Slice* one[] = {&ev};
  // A merge cap of the header, the watch_id field and 3 events.
  server::WatchSendQueue q(
      {.max_bytes = 1 << 20, .max_responses = 3, .max_merged_bytes = hdr.size() + 2 + 3 * ev.size()});
  for (int64_t id = 1; id <= 3; ++id) REQUIRE(q.PushEvents(id, hdr, one, 1));
  CHECK(q.Full());
  CHECK_FALSE(q.PushEvents(4, hdr, one, 1));   // a new response: over max_responses
  CHECK(q.PushEvents(3, hdr, one, 1));         // a merge adds no response
  CHECK(q.PushEvents(3, hdr, one, 1));         // 3 events: at the merge cap
  CHECK_FALSE(q.PushEvents(3, hdr, one, 1));   // would need a new response
  etcdserverpb::WatchResponse created;
  created.set_created(true);
  CHECK_FALSE(q.PushResponse(created, /*force=*/false));
  CHECK(q.PushResponse(created, /*force=*/true));
  size_t events = 0;
  while (!q.empty()) {
    etcdserverpb::WatchResponse r;
    REQUIRE(r.ParseFromString(Flatten(q.StartFront())));
    events += static_cast<size_t>(r.events_size());
    q.PopFront();
  }
  CHECK(events == 5);
}

}  // namespace ketcd_test
