#include "server/peer/peer_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "server/peer/peer_sender.h"
#include "storage/meta_schema.h"

namespace server {

bool PeerService::IsRemoved(uint64_t id, bool opening) const {
  if (hooks_.is_removed && hooks_.is_removed(id)) return true;
  if (!opening || opts_.store == nullptr) return false;
  return opts_.store->GetMeta(storage::RemovedMemberMetaKey(id)).ok();
}

// One peer's message stream: every batch of this cluster goes to `deliver`.
class PeerService::MessageReader : public grpc::ServerReadReactor<peerpb::MessageBatch> {
 public:
  explicit MessageReader(const PeerService* owner) : owner_(owner) { StartRead(&batch_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    if (batch_.cluster_id() != owner_->opts_.cluster_id) {
      Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "ketcd: message from a member of another cluster"));
      return;
    }
    const bool cut = owner_->hooks_.is_cut(batch_.from());
    // Every batch: a member removed while its stream was open learns it
    // from the refusal when it next sends (its campaign, at the latest).
    if (owner_->IsRemoved(batch_.from(), /*opening=*/!greeted_)) {
      Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, kRemovedMemberMessage));
      return;
    }
    if (!greeted_ && !cut) {
      greeted_ = true;
      owner_->hooks_.connected(batch_.from());
    }
    if (owner_->opts_.metrics != nullptr && !cut) {
      // One stream per peer: its counters are looked up once.
      if (counters_ == nullptr || from_ != batch_.from()) {
        from_ = batch_.from();
        counters_ = owner_->opts_.metrics->For(from_);
      }
      counters_->received_bytes.fetch_add(batch_.ByteSizeLong(), std::memory_order_relaxed);
    }
    if (!cut && batch_.messages_size() > 0) {
      std::vector<raftpb::Message> msgs;
      msgs.reserve(batch_.messages_size());
      for (auto& m : *batch_.mutable_messages()) msgs.push_back(std::move(m));
      owner_->hooks_.deliver(std::move(msgs));
    }
    batch_.Clear();
    StartRead(&batch_);
  }
  void OnDone() override { delete this; }

 private:
  const PeerService* owner_;
  peerpb::MessageBatch batch_;
  bool greeted_ = false;
  uint64_t from_ = 0;
  PeerCounters* counters_ = nullptr;  // from_'s
};

// Writes one incoming snapshot through the SnapshotInbox. File writes and
// the final sync run on the gRPC callback thread: a snapshot is rare and
// the stream's flow control holds the sender back meanwhile.
class PeerService::SnapshotReader : public grpc::ServerReadReactor<peerpb::SnapshotChunk> {
 public:
  SnapshotReader(const PeerService* owner, peerpb::SnapshotAck* ack) : owner_(owner), ack_(ack) {
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    SnapshotInbox* inbox = owner_->opts_.snapshot_inbox;
    if (!ok) {
      // The sender went away before the last chunk.
      if (begun_) inbox->Abort();
      begun_ = false;
      Refuse("the snapshot stream ended early");
      return;
    }
    absl::Status s;
    if (!begun_) {
      if (inbox == nullptr) return Refuse("this member takes no snapshots");
      if (chunk_.cluster_id() != owner_->opts_.cluster_id) return Refuse("snapshot from another cluster");
      if (owner_->hooks_.is_cut(chunk_.from())) return Refuse("cut for test");
      std::vector<storage::SnapshotFile> manifest;
      for (const auto& f : chunk_.manifest()) manifest.push_back({f.name(), f.size()});
      s = inbox->Begin(chunk_.message(), std::move(manifest));
      if (!s.ok()) return Refuse(std::string(s.message()));  // nothing begun: no Abort
      begun_ = true;
    }
    if (!chunk_.file().empty()) {
      s = inbox->Write(chunk_.file(), chunk_.offset(), chunk_.data(), chunk_.crc32c());
    }
    if (s.ok() && chunk_.last()) return Complete(inbox);
    if (!s.ok()) {
      inbox->Abort();
      begun_ = false;
      return Refuse(std::string(s.message()));
    }
    chunk_.Clear();
    StartRead(&chunk_);
  }
  void OnDone() override {
    if (begun_) owner_->opts_.snapshot_inbox->Abort();
    delete this;
  }

 private:
  // The last chunk arrived: make the snapshot durable, then hand raft its
  // MSG_SNAP.
  void Complete(SnapshotInbox* inbox) {
    auto msg = inbox->Finish();
    begun_ = false;
    if (!msg.ok()) return Refuse(std::string(msg.status().message()));
    std::vector<raftpb::Message> msgs;
    msgs.push_back(std::move(*msg));
    owner_->hooks_.deliver(std::move(msgs));
    ack_->set_accepted(true);
    Finish(grpc::Status::OK);
  }

  void Refuse(const std::string& why) {
    owner_->opts_.logger->Warn(absl::StrCat("refused a snapshot: ", why));
    ack_->set_accepted(false);
    ack_->set_error(why);
    Finish(grpc::Status::OK);
  }

  const PeerService* owner_;
  peerpb::SnapshotAck* ack_;
  peerpb::SnapshotChunk chunk_;
  bool begun_ = false;
};

grpc::ServerReadReactor<peerpb::MessageBatch>* PeerService::Stream(grpc::CallbackServerContext*,
                                                                    peerpb::StreamAck*) {
  return new MessageReader(this);
}

grpc::ServerReadReactor<peerpb::SnapshotChunk>* PeerService::Snapshot(
    grpc::CallbackServerContext*, peerpb::SnapshotAck* ack) {
  return new SnapshotReader(this, ack);
}

}  // namespace server
