#include "server/replication/raft_log.h"

#include <cstdio>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "server/state/membership.h"
#include "server/peer/snapshot_inbox.h"
#include "storage/wal.h"

namespace server {
namespace {

// The raft log's durable side is the WAL.
class WalPersistence : public RaftPersistence {
 public:
  explicit WalPersistence(std::unique_ptr<storage::Wal> wal) : wal_(std::move(wal)) {}
  absl::Status Save(const std::optional<raftpb::HardState>& hs,
                    const std::vector<raftpb::Entry>& entries, bool sync) override {
    if (hs) pending_hs_ = *hs;
    if (!sync && entries.empty()) {
      // Only the commit index moved. It need not be durable (OpenRaftLog
      // re-derives it from the store), so it rides along with the next
      // synced batch instead of costing an fdatasync of its own.
      return absl::OkStatus();
    }
    auto s = wal_->Save(pending_hs_.value_or(raftpb::HardState()), entries);
    pending_hs_.reset();
    return s;
  }
  absl::Status SaveSnapshotMarker(const raftpb::SnapshotMetadata& meta) override {
    return wal_->SaveSnapshotMarker(meta);
  }
  absl::Status SaveInstalledSnapshot(const raftpb::SnapshotMetadata& meta) override {
    return wal_->SaveSnapshotMarker(meta);
  }
  absl::Status ReleaseTo(uint64_t index) override { return wal_->ReleaseTo(index); }

 private:
  std::unique_ptr<storage::Wal> wal_;
  std::optional<raftpb::HardState> pending_hs_;
};

}  // namespace

absl::StatusOr<RaftLog> OpenRaftLog(const RaftLogOptions& opts, const storage::MvccStore& store) {
  storage::WalOptions wal_opts;
  wal_opts.segment_bytes = opts.wal_segment_bytes;
  storage::WalRecovered recovered;
  std::unique_ptr<storage::Wal> wal;
  if (storage::Wal::Exists(opts.wal_dir)) {
    auto opened = storage::Wal::Open(opts.wal_dir, wal_opts);
    if (!opened.ok()) {
      return absl::Status(opened.status().code(),
                          absl::StrCat("cannot open the raft log in ", opts.wal_dir, ": ",
                                       opened.status().message()));
    }
    wal = std::move(opened->wal);
    recovered = std::move(opened->state);
    if (recovered.metadata.cluster_id != opts.cluster_id ||
        recovered.metadata.member_id != opts.member_id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the raft log in ", opts.wal_dir, " belongs to member ",
          absl::Hex(recovered.metadata.member_id), " of cluster ",
          absl::Hex(recovered.metadata.cluster_id), ", not to this data dir"));
    }
    if (!recovered.torn_tail.empty()) {
      std::fprintf(stderr, "ketcd: dropped the torn tail of the raft log: %s\n",
                   recovered.torn_tail.c_str());
    }
  } else {
    if (store.AppliedIndex() > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store next to ", opts.wal_dir, " has applied entries but there is no raft log; "
          "refusing to start a member on it"));
    }
    auto created = storage::Wal::Create(opts.wal_dir, {opts.cluster_id, opts.member_id}, wal_opts);
    if (!created.ok()) return created.status();
    wal = std::move(*created);
    std::vector<uint64_t> voters;
    std::map<uint64_t, const serverpb::MemberAttributes*> members;
    for (const auto& m : opts.initial_members) {
      voters.push_back(m.member_id());
      members[m.member_id()] = &m;
    }
    raft::Bootstrap boot = raft::BootstrapCluster(voters);
    // The conf changes carry each member's name and peer URLs, so that
    // members find each other from the log (and then the store) alone.
    for (auto& e : boot.entries) {
      raftpb::ConfChange cc;
      if (cc.ParseFromString(e.data()) && members.count(cc.node_id())) {
        cc.set_context(EncodeConfChangeContext(*members[cc.node_id()]));
        e.set_data(cc.SerializeAsString());
      }
    }
    if (auto s = wal->Save(boot.hard_state, boot.entries); !s.ok()) return s;
    recovered.hard_state = boot.hard_state;
    recovered.entries = boot.entries;
  }

  uint64_t last_index = recovered.entries.empty() ? recovered.snapshot.index()
                                                  : recovered.entries.back().index();
  const uint64_t applied = store.AppliedIndex();
  {
    // A store installed from the leader's snapshot, whose raft log marker
    // was not written before a crash: the store says which snapshot it is.
    // Whatever the log holds past its old marker predates the install (a
    // lagging or diverged log), so it is dropped with the new marker.
    auto installed = store.GetMeta(kMetaRaftSnapshot);
    raftpb::SnapshotMetadata meta;
    if (installed.ok() && meta.ParseFromString(*installed) && meta.index() == applied &&
        recovered.snapshot.index() < applied) {
      std::fprintf(stderr, "ketcd: recording the snapshot at index %llu the store was installed from\n",
                   static_cast<unsigned long long>(applied));
      if (auto s = wal->SaveSnapshotMarker(meta); !s.ok()) return s;
      recovered.snapshot = meta;
      recovered.entries.clear();
      if (recovered.hard_state.term() < meta.term()) {
        // The term of the leader that sent it; no vote was cast in it yet.
        recovered.hard_state.set_term(meta.term());
        recovered.hard_state.set_vote(0);
        if (auto s = wal->Save(recovered.hard_state, {}); !s.ok()) return s;
      }
      last_index = applied;
    }
  }
  RaftLog log;
  log.cache = std::make_unique<raft::MemoryStorage>();
  if (recovered.snapshot.index() > 0) {
    raftpb::Snapshot snap;
    *snap.mutable_metadata() = recovered.snapshot;
    if (auto s = log.cache->ApplySnapshot(snap); !s.ok()) return s;
  }
  if (applied > last_index) {
    // Entries are applied only after they are durable in the log, so a log
    // that ends before the applied index lost data it had synced (a disk
    // that did not keep what it acknowledged, or a file cut by hand). Raft
    // cannot take such a member back safely: its peers count on entries it
    // acknowledged.
    return absl::DataLossError(absl::StrCat(
        "the raft log in ", opts.wal_dir, " ends at index ", last_index,
        " but the store has applied index ", applied,
        ": the log lost entries it had synced, so this data dir cannot rejoin safely"));
  }
  const uint64_t raft_applied = applied;
  // The commit index is saved lazily, so the store may have applied past
  // it; what was applied was committed.
  if (recovered.hard_state.commit() < raft_applied) recovered.hard_state.set_commit(raft_applied);
  log.cache->SetHardState(recovered.hard_state);
  if (auto s = log.cache->Append(recovered.entries); !s.ok()) return s;
  log.persistence = std::make_unique<WalPersistence>(std::move(wal));

  raft::Config rc;
  rc.id = opts.member_id;
  rc.storage = log.cache.get();
  rc.heartbeat_tick = 1;
  rc.election_tick = opts.election_tick;
  rc.applied = raft_applied;
  rc.random_seed = opts.random_seed;
  auto node = raft::RawNode::Create(rc);
  if (!node.ok()) return node.status();
  log.node = std::move(*node);
  return log;
}

}  // namespace server
