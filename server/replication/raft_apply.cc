// RaftMember, step 3 of the Ready contract: committed entries go into the
// store in one batch with the applied index; membership changes are
// recorded beside them and reach the peer directory; waiters are answered
// once the batch is written.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/replication/raft_member.h"
#include "server/state/membership.h"
#include "storage/wal_bootstrap.h"
#include "storage/meta_schema.h"

namespace server {

void RaftMember::Apply(const std::vector<raftpb::Entry>& committed) {
  if (committed.empty()) return;
  // One clock read per stage boundary (write_stages.h): `committed_at`
  // ends replication and starts apply; each entry's end starts the next.
  const absl::Time committed_at = clock_.Now();
  const uint64_t committed_last = committed.back().index();
  while (!appended_.empty() && appended_.front().first <= committed_last) {
    Appended& a = appended_.front();
    const uint64_t upto = std::min(a.last, committed_last);
    stages_.replication.Observe(committed_at - a.appended, upto - a.first + 1);
    if (upto < a.last) {
      a.first = upto + 1;
      break;
    }
    appended_.pop_front();
  }
  const uint64_t applied = store_->AppliedIndex();
  auto wb = store_->Write();
  uint64_t last = applied;
  std::vector<std::pair<uint64_t, ProposeResult>> results;
  absl::Time entry_start = committed_at;
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
    // etcd's warnApplyDuration (etcd_server_slow_apply_total).
    const absl::Time entry_end = clock_.Now();
    if (entry_end - entry_start > absl::Milliseconds(100)) {
      slow_applies_.fetch_add(1, std::memory_order_relaxed);
    }
    entry_start = entry_end;
    if (!r.ok() && r.status().code() == absl::StatusCode::kInternal) {
      Fatal(absl::StrCat("applying entry ", e.index()), r.status());
    }
    results.emplace_back(req.id(), std::move(r));
  }
  if (last == applied) return;
  // Not synced: the raft log holds these entries durably and is replayed
  // past the store's applied index after a crash.
  const absl::Time commit_start = entry_start;
  if (auto s = wb->Commit(last, /*sync=*/false); !s.ok()) Fatal("writing the store", s);
  const absl::Time written = clock_.Now();
  backend_commit_.Observe(written - commit_start);
  stages_.apply.Observe(written - committed_at, results.size());
  if (removed_ && !removal_reported_) {
    removal_reported_ = true;
    logger_.Warn("the member has been permanently removed from the cluster", {});
    if (opts_.on_removed) opts_.on_removed();
  }
  Answer(results, written);
}

void RaftMember::Answer(std::vector<std::pair<uint64_t, ProposeResult>>& results, absl::Time written) {
  for (auto& [id, r] : results) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;
    Waiter w = std::move(it->second);
    waiters_.erase(it);
    // Observed before the answer goes out: a client that reads /metrics
    // as soon as it has its answer must find this request counted.
    if (w.accepted != absl::InfinitePast()) {
      const absl::Time answering = clock_.Now();
      stages_.respond.Observe(answering - written);
      stages_.total.Observe(answering - w.accepted);
    }
    w.done(std::move(r));
  }
}

uint64_t RaftMember::ApplyConfChange(storage::WriteBatch& wb, const raftpb::Entry& e) {
  raftpb::ConfChange cc;
  if (!cc.ParseFromString(e.data())) Fatal("decoding a conf change", absl::DataLossError("bad entry"));
  const uint64_t id = cc.node_id();
  const std::string key = storage::RaftMemberMetaKey(id);
  if (cc.type() == raftpb::CONF_CHANGE_REMOVE_NODE) {
    // The id is never accepted again (etcd's members_removed).
    absl::Status s = wb.DeleteMeta(key);
    if (s.ok()) s = wb.DeleteMeta(storage::MemberMetaKey(id));
    if (s.ok()) s = wb.PutMeta(storage::RemovedMemberMetaKey(id), "");
    if (!s.ok()) Fatal("recording a member removal", s);
    if (id == opts_.id) {
      removed_ = true;
    } else {
      transport_->RemovePeer(id);
    }
    return cc.id();
  }
  serverpb::MemberAttributes m = storage::DecodeConfChangeContext(id, cc.context());
  // A promotion or a peer-URL update keeps what the record holds and the
  // change does not say.
  auto recorded = LoadRaftMembers(*store_);
  if (auto it = recorded.find(id); it != recorded.end()) {
    serverpb::MemberAttributes merged = it->second;
    if (cc.type() == raftpb::CONF_CHANGE_ADD_NODE) merged.set_is_learner(false);
    if (cc.type() == raftpb::CONF_CHANGE_UPDATE_NODE && m.peer_urls_size() > 0) {
      *merged.mutable_peer_urls() = m.peer_urls();
    }
    m = std::move(merged);
  } else {
    m.set_is_learner(cc.type() == raftpb::CONF_CHANGE_ADD_LEARNER_NODE);
  }
  if (auto s = wb.PutMeta(key, m.SerializeAsString()); !s.ok()) Fatal("recording a member", s);
  if (m.peer_urls_size() > 0) transport_->AddPeer(id, m.peer_urls(0));
  return cc.id();
}

void RaftMember::ReloadPeers() {
  for (const auto& [id, m] : LoadRaftMembers(*store_)) {
    if (m.peer_urls_size() > 0) transport_->AddPeer(id, m.peer_urls(0));
  }
}

}  // namespace server
