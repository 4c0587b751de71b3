// RaftMember, step 3 of the Ready contract: committed entries go into the
// store in one batch with the applied index; membership changes are
// recorded beside them and reach the peer directory; waiters are answered
// once the batch is written.
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/replication/raft_member.h"
#include "server/state/membership.h"
#include "storage/wal_bootstrap.h"
#include "storage/meta_schema.h"

namespace server {

void RaftMember::Apply(const std::vector<raftpb::Entry>& committed) {
  if (committed.empty()) return;
  const uint64_t applied = store_->AppliedIndex();
  auto wb = store_->Write();
  uint64_t last = applied;
  std::vector<std::pair<uint64_t, ProposeResult>> results;
  for (const auto& e : committed) {
    if (e.index() <= applied) continue;  // replayed after a restart: already in the store
    last = e.index();
    if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
      results.emplace_back(ApplyConfChange(*wb, e), serverpb::InternalResponse());
      continue;
    }
    if (e.data().empty()) continue;  // a new leader's empty entry
    serverpb::InternalRequest req;
    if (!req.ParseFromString(e.data())) Fatal("decoding a log entry", absl::DataLossError("bad entry"));
    auto r = applier_->ApplyEntry(*wb, req);
    if (!r.ok() && r.status().code() == absl::StatusCode::kInternal) {
      Fatal(absl::StrCat("applying entry ", e.index()), r.status());
    }
    results.emplace_back(req.id(), std::move(r));
  }
  if (last == applied) return;
  // Not synced: the raft log holds these entries durably and is replayed
  // past the store's applied index after a crash.
  const absl::Time commit_start = clock_.Now();
  if (auto s = wb->Commit(last, /*sync=*/false); !s.ok()) Fatal("writing the store", s);
  backend_commit_.Observe(clock_.Now() - commit_start);
  for (auto& [id, r] : results) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;
    auto done = std::move(it->second.done);
    waiters_.erase(it);
    done(std::move(r));
  }
}

uint64_t RaftMember::ApplyConfChange(storage::WriteBatch& wb, const raftpb::Entry& e) {
  raftpb::ConfChange cc;
  if (!cc.ParseFromString(e.data())) Fatal("decoding a conf change", absl::DataLossError("bad entry"));
  const std::string key = storage::RaftMemberMetaKey(cc.node_id());
  if (cc.type() == raftpb::CONF_CHANGE_REMOVE_NODE) {
    if (auto s = wb.DeleteMeta(key); !s.ok()) Fatal("recording a member removal", s);
    transport_->RemovePeer(cc.node_id());
    return cc.id();
  }
  serverpb::MemberAttributes m = storage::DecodeConfChangeContext(cc.node_id(), cc.context());
  if (auto s = wb.PutMeta(key, m.SerializeAsString()); !s.ok()) Fatal("recording a member", s);
  if (m.peer_urls_size() > 0) transport_->AddPeer(cc.node_id(), m.peer_urls(0));
  return cc.id();
}

void RaftMember::ReloadPeers() {
  for (const auto& [id, m] : LoadRaftMembers(*store_)) {
    if (m.peer_urls_size() > 0) transport_->AddPeer(id, m.peer_urls(0));
  }
}

}  // namespace server
