// RaftMember's snapshots: taking one when the log has grown by
// --snapshot-count, streaming the store's checkpoint to a follower that
// fell behind the log, and installing one received from the leader.
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/replication/raft_member.h"
#include "storage/snapshot_install.h"

namespace server {

void RaftMember::SendSnapshot(raftpb::Message m) {
  const uint64_t to = m.to();
  // The checkpoint is of the store as applied now, which may be past the
  // raft snapshot raft picked: the metadata is rewritten to match it, so
  // that the follower's store and log agree exactly. Everything applied is
  // committed, so the follower's log may start there.
  const uint64_t applied = store_->AppliedIndex();
  auto term = log_cache_->Term(applied);
  if (opts_.member_dir.empty() || !term.ok()) {
    node_->ReportSnapshot(to, false);
    return;
  }
  const storage::SnapshotDirs dirs(opts_.member_dir);
  const std::string dir = dirs.sending(to, applied);
  absl::Status s = storage::RemoveTree(dir);
  if (s.ok()) s = store_->CreateCheckpoint(dir);
  if (!s.ok()) {
    logger_.Warn("cannot checkpoint the store for a snapshot",
                 {base::HexId("to", to), {"error", std::string(s.message())}});
    (void)storage::RemoveTree(dir);  // best effort: a leftover is cleared at the next start
    node_->ReportSnapshot(to, false);
    return;
  }
  auto* meta = m.mutable_snapshot()->mutable_metadata();
  meta->set_index(applied);
  meta->set_term(*term);
  *meta->mutable_conf_state() = node_->ConfStateAt(applied);
  m.mutable_snapshot()->clear_data();
  transport_->SendSnapshot(std::move(m), dir, [this, to](bool ok) { ReportSnapshot(to, ok); });
}

void RaftMember::InstallSnapshot(const raftpb::Snapshot& snap) {
  const raftpb::SnapshotMetadata& meta = snap.metadata();
  if (opts_.member_dir.empty()) {
    Fatal("installing a raft snapshot", absl::FailedPreconditionError("no member directory"));
  }
  const storage::SnapshotDirs dirs(opts_.member_dir);
  // Past ClaimReady the swap is committed: a crash from here on finishes it
  // at start, and OpenRaftLog then records the marker if it was not yet.
  if (auto s = storage::ClaimReady(dirs, meta.index()); !s.ok()) Fatal("claiming a received snapshot", s);
  if (auto s = store_->ReplaceWith(dirs.install()); !s.ok()) Fatal("installing a received snapshot", s);
  if (store_->AppliedIndex() != meta.index()) {
    Fatal("installing a received snapshot",
          absl::DataLossError(absl::StrCat("the installed store is at applied index ",
                                           store_->AppliedIndex(), ", not ", meta.index())));
  }
  if (auto s = persistence_->SaveInstalledSnapshot(meta); !s.ok()) Fatal("recording a snapshot", s);
  if (auto s = log_cache_->ApplySnapshot(snap); !s.ok()) Fatal("restoring the raft log", s);
  snapshot_index_ = meta.index();
  ReloadPeers();
  if (opts_.on_snapshot_installed) opts_.on_snapshot_installed();
  // The cluster tests look for this line.
  logger_.Info(absl::StrCat("installed a snapshot at index ", meta.index(), " (term ", meta.term(), ")"));
}

void RaftMember::MaybeSnapshot() {
  const uint64_t applied = store_->AppliedIndex();
  if (applied < snapshot_index_ + opts_.snapshot_count) return;
  // The log may forget entries only once their effects are durable.
  if (auto s = store_->Sync(); !s.ok()) Fatal("syncing the store before a snapshot", s);
  auto snap = log_cache_->CreateSnapshot(applied, node_->ConfStateAt(applied), "");
  if (!snap.ok()) Fatal("recording a raft snapshot", snap.status());
  if (auto s = persistence_->SaveSnapshotMarker(snap->metadata()); !s.ok()) {
    Fatal("persisting a raft snapshot marker", s);
  }
  snapshot_index_ = applied;
  if (applied <= opts_.snapshot_catchup_entries) return;
  const uint64_t compact_to = applied - opts_.snapshot_catchup_entries;
  auto first = log_cache_->FirstIndex();
  if (first.ok() && compact_to > *first) {
    if (auto s = log_cache_->Compact(compact_to); !s.ok()) Fatal("compacting the raft log", s);
    if (auto s = persistence_->ReleaseTo(compact_to); !s.ok()) Fatal("releasing the raft log", s);
  }
}

}  // namespace server
