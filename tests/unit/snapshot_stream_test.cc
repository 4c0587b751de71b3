// Maintenance.Snapshot's stream (server/edge/snapshot_stream.h) over a real
// gRPC server in this process: a client that reads the whole backup gets
// every chunk and the hash, and a client that cuts the stream after one
// chunk makes the member release its RocksDB snapshot at once (a stalled
// or vanished `etcdctl snapshot save` must not pin old data).
#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "grpcpp/grpcpp.h"
#include "server/edge/snapshot_stream.h"
#include "tests/common/temp_dir.h"
#include "tests/unit/store_util.h"

namespace ketcd_test {
namespace {

class SnapshotOnly final : public etcdserverpb::Maintenance::CallbackService {
 public:
  explicit SnapshotOnly(const storage::MvccStore* store) : store_(store) {}
  grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* Snapshot(
      grpc::CallbackServerContext*, const etcdserverpb::SnapshotRequest*) override {
    return new server::SnapshotStream(store_, "3.5.0");
  }

 private:
  const storage::MvccStore* store_;
};

// About 4 MiB of values: 130 chunks, far more than the stream queues.
void Fill(storage::MvccStore& store) {
  auto wb = store.Write();
  const std::string value(1024, 'x');
  for (int i = 0; i < 4000; ++i) {
    auto txn = wb->BeginTxn();
    REQUIRE(txn.Put("key/" + std::to_string(i), value, 0).ok());
    wb->EndTxn(txn);
  }
  REQUIRE(wb->Commit(1, /*sync=*/false).ok());
}

bool WaitForSnapshots(const storage::MvccStore& store, int64_t want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    if (store.OpenSnapshots() == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return store.OpenSnapshots() == want;
}

struct Served {
  explicit Served(const storage::MvccStore* store) : service(store) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    REQUIRE(server != nullptr);
    stub = etcdserverpb::Maintenance::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  }
  ~Served() { server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2)); }
  SnapshotOnly service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> stub;
};

}  // namespace

TEST_CASE("A snapshot stream cut by the client releases the store's snapshot", "[snapshot_stream]") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  Fill(*store);
  REQUIRE(store->OpenSnapshots() == 0);
  Served served(store.get());

  grpc::ClientContext ctx;
  auto reader = served.stub->Snapshot(&ctx, etcdserverpb::SnapshotRequest());
  etcdserverpb::SnapshotResponse first;
  REQUIRE(reader->Read(&first));
  CHECK(first.remaining_bytes() > 0);
  // The producer holds its view while the client does not read.
  CHECK(store->OpenSnapshots() == 1);
  ctx.TryCancel();
  CHECK(WaitForSnapshots(*store, 0));
  etcdserverpb::SnapshotResponse more;
  while (reader->Read(&more)) {
  }
  CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
}

TEST_CASE("A snapshot stream read to the end sends every byte, then releases", "[snapshot_stream]") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  Fill(*store);
  Served served(store.get());

  grpc::ClientContext ctx;
  auto reader = served.stub->Snapshot(&ctx, etcdserverpb::SnapshotRequest());
  etcdserverpb::SnapshotResponse msg;
  uint64_t total = 0;
  uint64_t first_remaining = 0;
  int messages = 0;
  while (reader->Read(&msg)) {
    if (messages++ == 0) first_remaining = msg.remaining_bytes() + msg.blob().size();
    total += msg.blob().size();
  }
  REQUIRE(reader->Finish().ok());
  CHECK(messages > 100);
  // remaining_bytes counts the db's bytes down to 0, as etcd's; the sha256
  // trailer comes after them.
  CHECK(total == first_remaining + 32);
  CHECK(msg.remaining_bytes() == 0);
  CHECK(WaitForSnapshots(*store, 0));
}

}  // namespace ketcd_test
