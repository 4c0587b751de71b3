#include "server/peer/snapshot_sender.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "storage/crc32c.h"
#include "storage/snapshot_install.h"

namespace server {

void SnapshotSender::Send(raftpb::Message msg, std::string dir, Done done) {
  const bool known = directory_->UrlOf(msg.to()).has_value();
  std::unique_lock<std::mutex> lock(mu_);
  if (stopped_ || !known) {
    lock.unlock();
    (void)storage::RemoveTree(dir);  // best effort: a leftover is cleared at the next start
    done(false);
    return;
  }
  // Reap the transfers that ended (raft may retry a refused one often).
  for (auto t = transfers_.begin(); t != transfers_.end();) {
    if (t->done->load()) {
      t->thread.join();
      t = transfers_.erase(t);
    } else {
      ++t;
    }
  }
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::thread th([this, msg = std::move(msg), dir = std::move(dir), done = std::move(done),
                  finished]() mutable {
    Run(std::move(msg), dir, done);
    finished->store(true);
  });
  transfers_.push_back(Transfer{std::move(th), std::move(finished)});
}

void SnapshotSender::Stop() {
  std::vector<Transfer> transfers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    transfers.swap(transfers_);
    for (auto* c : calls_) c->TryCancel();
  }
  for (auto& t : transfers) t.thread.join();
}

void SnapshotSender::Run(raftpb::Message msg, const std::string& dir, const Done& done) {
  const uint64_t to = msg.to();
  const uint64_t index = msg.snapshot().metadata().index();
  absl::Status s = Stream(std::move(msg), dir);
  (void)storage::RemoveTree(dir);  // best effort: a leftover is cleared at the next start
  if (s.ok()) {
    // The cluster tests look for this line.
    logger_->Info(absl::StrCat("sent a snapshot at index ", index, " to member ", absl::Hex(to)));
  } else {
    logger_->Warn(absl::StrCat("sending a snapshot at index ", index, " to member ", absl::Hex(to),
                               " failed: ", s.message()));
  }
  done(s.ok());
}

absl::Status SnapshotSender::Stream(raftpb::Message msg, const std::string& dir) {
  auto files = storage::ListSnapshotFiles(dir);
  if (!files.ok()) return files.status();
  auto channel = directory_->SnapshotChannel(msg.to());
  if (!channel.ok()) return channel.status();
  auto stub = peerpb::Peer::NewStub(*channel);
  grpc::ClientContext ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return absl::CancelledError("stopping");
    calls_.push_back(&ctx);
  }
  peerpb::SnapshotAck ack;
  auto writer = stub->Snapshot(&ctx, &ack);
  absl::Status s = WriteChunks(writer.get(), std::move(msg), dir, *files);
  if (!s.ok()) ctx.TryCancel();
  writer->WritesDone();
  grpc::Status st = writer->Finish();
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase(calls_, &ctx);
  }
  if (!s.ok()) return s;
  if (!st.ok()) return absl::UnavailableError(st.error_message());
  if (!ack.accepted()) return absl::FailedPreconditionError(ack.error());
  return absl::OkStatus();
}

absl::Status SnapshotSender::WriteChunks(grpc::ClientWriter<peerpb::SnapshotChunk>* writer,
                                         raftpb::Message msg, const std::string& dir,
                                         const std::vector<storage::SnapshotFile>& files) {
  const absl::Status broke = absl::UnavailableError("the stream broke");
  peerpb::SnapshotChunk chunk;
  chunk.set_cluster_id(opts_.cluster_id);
  chunk.set_from(opts_.self_id);
  *chunk.mutable_message() = std::move(msg);
  for (const auto& f : files) {
    auto* m = chunk.add_manifest();
    m->set_name(f.name);
    m->set_size(f.size);
  }
  if (!writer->Write(chunk)) return broke;
  for (const auto& f : files) {
    for (uint64_t off = 0; off < f.size; off += opts_.chunk_bytes) {
      auto data = storage::ReadSnapshotChunk(dir, f.name, off, opts_.chunk_bytes);
      if (!data.ok()) return data.status();
      chunk.Clear();
      chunk.set_file(f.name);
      chunk.set_offset(off);
      chunk.set_crc32c(storage::Crc32c(*data));
      chunk.set_data(std::move(*data));
      if (!writer->Write(chunk)) return broke;
    }
  }
  chunk.Clear();
  chunk.set_last(true);
  if (!writer->Write(chunk)) return broke;
  return absl::OkStatus();
}

}  // namespace server
