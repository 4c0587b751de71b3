// PeerSender over a real gRPC server in this process (127.0.0.1): what is
// queued while a write is in flight leaves as one batch, a restarted peer
// is reached again, and the destructor waits out a write that HTTP/2 flow
// control holds back (run these under ASan too: no callback may touch a
// destroyed sender).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "grpcpp/grpcpp.h"
#include "peerpb/peer.grpc.pb.h"
#include "server/net/transport_security.h"
#include "server/peer/peer_directory.h"
#include "server/peer/peer_sender.h"

namespace ketcd_test {
namespace {

constexpr uint64_t kCluster = 7;
constexpr uint64_t kSelf = 1;
constexpr uint64_t kPeer = 2;
constexpr auto kPatience = std::chrono::seconds(20);
// More than any HTTP/2 window gRPC opens without the receiver reading.
constexpr size_t kBig = 8 << 20;

// The receiving member: records every batch. While held, a new stream's
// handler reads nothing, so the sender's writes past the flow-control
// window stay in flight.
class FakePeer : public peerpb::Peer::Service {
 public:
  grpc::Status Stream(grpc::ServerContext* ctx, grpc::ServerReader<peerpb::MessageBatch>* reader,
                      peerpb::StreamAck* /*ack*/) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++streams_;
      cv_.notify_all();
      // Polled: a synchronous handler learns of a cancelled call by asking.
      while (held_ && !ctx->IsCancelled()) cv_.wait_for(lock, std::chrono::milliseconds(5));
    }
    peerpb::MessageBatch batch;
    while (reader->Read(&batch)) {
      std::lock_guard<std::mutex> lock(mu_);
      messages_ += batch.messages_size();
      batches_.push_back(batch);
      cv_.notify_all();
    }
    return grpc::Status::OK;
  }

  void Hold(bool held) {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = held;
    cv_.notify_all();
  }
  bool WaitForStreams(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return streams_ >= n; });
  }
  bool WaitForMessages(int n, std::chrono::milliseconds patience = kPatience) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, patience, [&] { return messages_ >= n; });
  }
  std::vector<peerpb::MessageBatch> batches() {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  int streams_ = 0;
  int messages_ = 0;
  std::vector<peerpb::MessageBatch> batches_;
};

std::unique_ptr<grpc::Server> Serve(FakePeer* peer, int port, int* bound) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), bound);
  // No BDP probing: the stream window stays small while the handler holds.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // The sender's channel keeps its connection alive with pings, as ketcd's
  // peer listener allows.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(peer);
  return builder.BuildAndStart();
}

raftpb::Message Msg(uint64_t index, size_t payload = 0) {
  raftpb::Message m;
  m.set_type(raftpb::MSG_APP);
  m.set_from(kSelf);
  m.set_to(kPeer);
  m.set_index(index);
  if (payload > 0) m.add_entries()->set_data(std::string(payload, 'x'));
  return m;
}

// A sender to kPeer at 127.0.0.1:`port`, counting its unreachable reports.
struct Sending {
  explicit Sending(int port) {
    directory.Set(kPeer, "http://127.0.0.1:" + std::to_string(port));
    sender = std::make_unique<server::PeerSender>(
        server::PeerSender::Options{kCluster, kSelf, kPeer, 4096, nullptr, &counters}, &directory,
        [this](uint64_t id) {
          if (id == kPeer) unreachable.fetch_add(1);
        });
  }
  std::unique_ptr<server::TransportSecurity> security =
      std::move(server::TransportSecurity::Create(server::SecurityConfig{})).value();
  server::PeerDirectory directory{security.get()};
  server::PeerCounters counters;
  std::atomic<int> unreachable{0};
  std::unique_ptr<server::PeerSender> sender;  // first to go
};

// True once `done` holds, false after kPatience: the sender counts on
// gRPC's threads, after the bytes have left.
template <typename Done>
bool Eventually(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void Stop(std::unique_ptr<grpc::Server>& server) {
  server->Shutdown(std::chrono::system_clock::now());
  server.reset();
}

}  // namespace

TEST_CASE("PeerSender sends what is queued during a write as one batch", "[peer_sender]") {
  FakePeer peer;
  peer.Hold(true);
  int port = 0;
  auto server = Serve(&peer, 0, &port);
  REQUIRE(server != nullptr);
  {
    Sending s(port);
    // The first write to carry a big message stays in flight until the
    // peer reads; everything behind it is queued meanwhile.
    REQUIRE(s.sender->Enqueue(Msg(1, kBig)));
    REQUIRE(s.sender->Enqueue(Msg(2, kBig)));
    for (uint64_t i = 3; i <= 12; ++i) REQUIRE(s.sender->Enqueue(Msg(i)));
    peer.Hold(false);
    REQUIRE(peer.WaitForMessages(12));

    const auto batches = peer.batches();
    // The hello, the write held in flight, then one batch of the rest.
    REQUIRE(batches.size() >= 2);
    CHECK(batches.size() <= 3);
    CHECK(batches[0].messages_size() == 0);
    CHECK(batches[0].cluster_id() == kCluster);
    CHECK(batches[0].from() == kSelf);
    std::vector<uint64_t> indexes;
    for (const auto& b : batches) {
      CHECK(b.cluster_id() == kCluster);
      for (const auto& m : b.messages()) indexes.push_back(m.index());
    }
    CHECK(indexes == std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
    CHECK(s.unreachable.load() == 0);
  }
  Stop(server);
}

TEST_CASE("PeerSender reaches a restarted peer again", "[peer_sender]") {
  FakePeer first;
  FakePeer second;
  int port = 0;
  auto server = Serve(&first, 0, &port);
  REQUIRE(server != nullptr);
  Sending s(port);
  REQUIRE(s.sender->Enqueue(Msg(1)));
  REQUIRE(first.WaitForMessages(1));
  CHECK(Eventually([&] { return s.counters.sent_bytes.load() > 0; }));
  Stop(server);

  int bound = 0;
  server = Serve(&second, port, &bound);
  REQUIRE(server != nullptr);
  REQUIRE(bound == port);
  // As raft does: it keeps sending (heartbeats, retries) until heard.
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  uint64_t index = 2;
  while (!second.WaitForMessages(1, std::chrono::milliseconds(10)) &&
         std::chrono::steady_clock::now() < deadline) {
    (void)s.sender->Enqueue(Msg(index++));
  }
  REQUIRE(second.WaitForMessages(1, std::chrono::milliseconds(0)));
  // The broken stream was found by a failed write: its messages counted
  // and the peer reported unreachable; the new stream greets first.
  CHECK(s.unreachable.load() > 0);
  CHECK(s.counters.sent_failures.load() > 0);
  const auto batches = second.batches();
  CHECK(batches[0].messages_size() == 0);
  CHECK(batches[0].from() == kSelf);
  s.sender.reset();
  Stop(server);
}

TEST_CASE("PeerSender's destructor waits out a write in flight", "[peer_sender]") {
  FakePeer peer;
  peer.Hold(true);
  int port = 0;
  auto server = Serve(&peer, 0, &port);
  REQUIRE(server != nullptr);
  int streams = 0;
  for (int round = 0; round < 8; ++round) {
    Sending s(port);
    REQUIRE(s.sender->Enqueue(Msg(1, kBig)));
    // Odd rounds stop the sender while its stream may still be opening.
    if (round % 2 == 0) {
      REQUIRE(peer.WaitForStreams(++streams));
      REQUIRE(s.sender->Enqueue(Msg(2)));
    }
    s.sender.reset();  // cancels; returns only after gRPC's last callback
  }
  peer.Hold(false);
  Stop(server);
}

}  // namespace ketcd_test
