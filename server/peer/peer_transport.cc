#include "server/peer/peer_transport.h"

#include <cstdlib>
#include <utility>

namespace server {

PeerTransport::PeerTransport(Options opts, Deliver deliver, Unreachable unreachable)
    : opts_(opts),
      deliver_(std::move(deliver)),
      unreachable_(std::move(unreachable)),
      service_(PeerService::Options{opts.cluster_id, opts.snapshot_inbox, opts.lessor,
                                    opts.lease_caught_up, opts.store, opts.promote_member,
                                    opts.clock, opts.logger, opts.self_id, opts.metrics},
               PeerService::Hooks{
                   [this](std::vector<raftpb::Message> msgs) { deliver_(std::move(msgs)); },
                   [this](uint64_t id) { return IsCut(id); },
                   [this](uint64_t id) { PeerConnected(id); },
                   [this](uint64_t id) { return IsRemoved(id); }}),
      snapshots_(SnapshotSender::Options{opts.cluster_id, opts.self_id, kSnapshotChunkBytes},
                 opts.directory, opts.logger) {
  // Wiring errors, not runtime conditions: there is no logger to report to.
  if (opts_.directory == nullptr || opts_.clock == nullptr || opts_.logger == nullptr) std::abort();
}

PeerTransport::~PeerTransport() { Stop(); }

void PeerTransport::AddPeer(uint64_t id, const std::string& url) {
  std::unique_ptr<PeerSender> old;  // joined outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  const auto known = opts_.directory->UrlOf(id);
  opts_.directory->Set(id, url);
  if (id == opts_.self_id || stopped_) return;
  auto& slot = senders_[id];
  if (known == url && slot) return;  // unchanged: keep the stream
  old = std::move(slot);
  slot = std::make_unique<PeerSender>(
      PeerSender::Options{opts_.cluster_id, opts_.self_id, id, opts_.max_queued_messages,
                          opts_.on_removed_by_peer, opts_.metrics ? opts_.metrics->For(id) : nullptr},
      opts_.directory, unreachable_);
}

void PeerTransport::RemovePeer(uint64_t id) {
  std::unique_ptr<PeerSender> old;  // joined outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  opts_.directory->Remove(id);
  removed_.insert(id);
  any_removed_.store(true, std::memory_order_release);
  auto it = senders_.find(id);
  if (it == senders_.end()) return;
  old = std::move(it->second);
  senders_.erase(it);
}

bool PeerTransport::IsRemoved(uint64_t id) const {
  if (!any_removed_.load(std::memory_order_acquire)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return removed_.count(id) > 0;
}

void PeerTransport::PeerConnected(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = senders_.find(id);
  if (it != senders_.end()) it->second->Kick();
}

void PeerTransport::Send(std::vector<raftpb::Message> msgs) {
  std::vector<uint64_t> unreachable;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& m : msgs) {
      const uint64_t to = m.to();
      if (cut_out_.count(to)) continue;
      auto it = senders_.find(to);
      if (it != senders_.end() && m.type() == raftpb::MSG_HEARTBEAT) ObserveHeartbeat(m, it->second->counters());
      if (it == senders_.end() || !it->second->Enqueue(std::move(m))) unreachable.push_back(to);
    }
  }
  for (uint64_t id : unreachable) unreachable_(id);
}

void PeerTransport::ObserveHeartbeat(const raftpb::Message& m, PeerCounters* counters) {
  if (counters == nullptr || opts_.heartbeat_interval <= absl::ZeroDuration()) return;
  const int64_t now = absl::ToUnixNanos(opts_.clock->Now());
  // A new term (this member just became leader) starts the timing afresh,
  // as etcd resets its timeout detector.
  if (counters->last_heartbeat_term == m.term() &&
      now - counters->last_heartbeat_nanos > 2 * absl::ToInt64Nanoseconds(opts_.heartbeat_interval)) {
    opts_.metrics->heartbeat_send_failures.fetch_add(1, std::memory_order_relaxed);
  }
  counters->last_heartbeat_nanos = now;
  counters->last_heartbeat_term = m.term();
}

void PeerTransport::SendSnapshot(raftpb::Message msg, std::string dir, SnapshotDone done) {
  snapshots_.Send(std::move(msg), std::move(dir), std::move(done));
}

void PeerTransport::Stop() {
  std::map<uint64_t, std::unique_ptr<PeerSender>> senders;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    senders.swap(senders_);
  }
  snapshots_.Stop();
  senders.clear();
}

void PeerTransport::CutForTest(uint64_t peer_id, bool cut) { CutForTest(peer_id, cut, cut); }

void PeerTransport::CutForTest(uint64_t peer_id, bool outbound, bool inbound) {
  std::lock_guard<std::mutex> lock(mu_);
  if (outbound) {
    cut_out_.insert(peer_id);
  } else {
    cut_out_.erase(peer_id);
  }
  if (inbound) {
    cut_in_.insert(peer_id);
  } else {
    cut_in_.erase(peer_id);
  }
}

bool PeerTransport::IsCut(uint64_t peer_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return cut_in_.count(peer_id) > 0;
}

}  // namespace server
