#include "server/replication/raft_log.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "storage/meta_schema.h"
#include "storage/wal.h"
#include "storage/wal_bootstrap.h"

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

// Opens this member's WAL, or creates it with the founding membership on
// the member's first start.
absl::StatusOr<storage::Wal::Opened> OpenOrCreateWal(const RaftLogOptions& opts,
                                                     const storage::MvccStore& store) {
  storage::WalOptions wal_opts;
  wal_opts.segment_bytes = opts.wal_segment_bytes;
  if (!storage::Wal::Exists(opts.wal_dir)) {
    if (store.AppliedIndex() > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store next to ", opts.wal_dir, " has applied entries but there is no raft log; "
          "refusing to start a member on it"));
    }
    return storage::CreateBootstrappedWal(opts.wal_dir, {opts.cluster_id, opts.member_id},
                                          opts.initial_members, wal_opts);
  }
  auto opened = storage::Wal::Open(opts.wal_dir, wal_opts);
  if (!opened.ok()) {
    return absl::Status(opened.status().code(),
                        absl::StrCat("cannot open the raft log in ", opts.wal_dir, ": ",
                                     opened.status().message()));
  }
  const storage::WalMetadata& md = opened->state.metadata;
  if (md.cluster_id != opts.cluster_id || md.member_id != opts.member_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the raft log in ", opts.wal_dir, " belongs to member ", absl::Hex(md.member_id),
        " of cluster ", absl::Hex(md.cluster_id), ", not to this data dir"));
  }
  if (!opened->state.torn_tail.empty() && opts.logger != nullptr) {
    opts.logger->Warn("dropped the torn tail of the raft log",
                      {{"torn_tail", opened->state.torn_tail}});
  }
  return opened;
}

// A store installed from the leader's snapshot, whose raft log marker was
// not written before a crash: the store says which snapshot it is, and the
// marker is written now. Whatever the log holds past its old marker
// predates the install (a lagging or diverged log), so it is dropped with
// the new marker.
absl::Status FinishInterruptedInstall(const RaftLogOptions& opts, const storage::MvccStore& store,
                                      storage::Wal& wal, storage::WalRecovered& recovered) {
  const uint64_t applied = store.AppliedIndex();
  auto installed = store.GetMeta(storage::kMetaRaftSnapshot);
  raftpb::SnapshotMetadata meta;
  if (!installed.ok() || !meta.ParseFromString(*installed) || meta.index() != applied ||
      recovered.snapshot.index() >= applied) {
    return absl::OkStatus();
  }
  if (opts.logger != nullptr) {
    opts.logger->Info("recording the snapshot the store was installed from",
                      {{"index", applied}});
  }
  if (auto s = wal.SaveSnapshotMarker(meta); !s.ok()) return s;
  recovered.snapshot = meta;
  recovered.entries.clear();
  if (recovered.hard_state.term() < meta.term()) {
    // The term of the leader that sent it; no vote was cast in it yet.
    recovered.hard_state.set_term(meta.term());
    recovered.hard_state.set_vote(0);
    if (auto s = wal.Save(recovered.hard_state, {}); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Loads what the WAL holds into the cache raft reads from.
absl::Status LoadCache(const RaftLogOptions& opts, uint64_t applied,
                       storage::WalRecovered& recovered, raft::MemoryStorage& cache) {
  const uint64_t last_index = recovered.entries.empty() ? recovered.snapshot.index()
                                                        : recovered.entries.back().index();
  if (recovered.snapshot.index() > 0) {
    raftpb::Snapshot snap;
    *snap.mutable_metadata() = recovered.snapshot;
    if (auto s = cache.ApplySnapshot(snap); !s.ok()) return s;
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
  // The commit index is saved lazily, so the store may have applied past
  // it; what was applied was committed.
  if (recovered.hard_state.commit() < applied) recovered.hard_state.set_commit(applied);
  cache.SetHardState(recovered.hard_state);
  return cache.Append(recovered.entries);
}

}  // namespace

absl::StatusOr<RaftLog> OpenRaftLog(const RaftLogOptions& opts, const storage::MvccStore& store) {
  auto opened = OpenOrCreateWal(opts, store);
  if (!opened.ok()) return opened.status();
  storage::WalRecovered& recovered = opened->state;
  if (auto s = FinishInterruptedInstall(opts, store, *opened->wal, recovered); !s.ok()) return s;
  const uint64_t applied = store.AppliedIndex();
  RaftLog log;
  log.cache = std::make_unique<raft::MemoryStorage>();
  if (auto s = LoadCache(opts, applied, recovered, *log.cache); !s.ok()) return s;
  log.persistence = std::make_unique<WalPersistence>(std::move(opened->wal));

  raft::Config rc;
  rc.id = opts.member_id;
  rc.storage = log.cache.get();
  rc.heartbeat_tick = 1;
  rc.election_tick = opts.election_tick;
  rc.applied = applied;
  rc.random_seed = opts.random_seed;
  auto node = raft::RawNode::Create(rc);
  if (!node.ok()) return node.status();
  log.node = std::move(*node);
  return log;
}

}  // namespace server
