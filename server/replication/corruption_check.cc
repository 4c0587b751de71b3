#include "server/replication/corruption_check.h"

#include <chrono>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/peer/peer_hash.h"
#include "server/state/kv_hash.h"
#include "server/state/membership.h"
#include "storage/errors.h"

namespace server {
namespace {

struct PeerHash {
  uint64_t id = 0;
  absl::StatusOr<etcdserverpb::HashKVResponse> resp;
};

// Every recorded member but this one, each asked for its hash at `rev`.
std::vector<PeerHash> AskPeers(const storage::MvccStore& store, PeerDirectory& peers,
                               const CorruptionCheckOptions& opts, int64_t rev) {
  std::vector<PeerHash> out;
  for (const auto& [id, m] : LoadRaftMembers(store)) {
    if (id == opts.self_id || m.peer_urls_size() == 0) continue;
    if (!peers.UrlOf(id)) peers.Set(id, m.peer_urls(0));
    out.push_back({id, AskPeerHashKv(peers, opts.cluster_id, id, rev, opts.timeout)});
  }
  return out;
}

std::string Hex(uint64_t id) { return absl::StrCat(absl::Hex(id)); }

}  // namespace

absl::Status CheckInitialHashKv(const storage::MvccStore& store, PeerDirectory& peers,
                                const CorruptionCheckOptions& opts, base::Logger& logger) {
  logger.Info("starting initial corruption check", {base::HexId("local-member-id", opts.self_id)});
  auto local = HashKv(store, 0);
  if (!local.ok()) {
    return absl::InternalError(absl::StrCat(Hex(opts.self_id), " failed to fetch hash (", local.status().message(), ")"));
  }
  int mismatches = 0;
  for (const auto& p : AskPeers(store, peers, opts, local->rev)) {
    if (!p.resp.ok()) {
      // Behind us, compacted past our revision, or not reachable: etcd
      // cannot compare with such a peer and goes on.
      logger.Warn("cannot fetch hash from remote peer", {base::HexId("remote-peer-id", p.id),
                                                         {"local-member-revision", local->rev},
                                                         {"error", p.resp.status()}});
      continue;
    }
    if (p.resp->hash() == local->hash) continue;
    if (p.resp->compact_revision() != local->compact_rev) {
      logger.Warn("found different compact revision values from remote peer",
                  {base::HexId("remote-peer-id", p.id), {"local-member-compact-revision", local->compact_rev},
                   {"remote-peer-compact-revision", p.resp->compact_revision()}});
      continue;
    }
    logger.Warn("found different hash values from remote peer",
                {base::HexId("local-member-id", opts.self_id), {"local-member-revision", local->rev},
                 {"local-member-hash", static_cast<uint64_t>(local->hash)}, base::HexId("remote-peer-id", p.id),
                 {"remote-peer-hash", static_cast<uint64_t>(p.resp->hash())}});
    ++mismatches;
  }
  if (mismatches > 0) {
    return absl::DataLossError(absl::StrCat(Hex(opts.self_id), " found data inconsistency with peers"));
  }
  logger.Info("initial corruption checking passed; no corruption", {base::HexId("local-member-id", opts.self_id)});
  return absl::OkStatus();
}

CorruptionMonitor::CorruptionMonitor(CorruptionCheckOptions opts, absl::Duration period,
                                     const storage::MvccStore* store, PeerDirectory* peers, Proposer* proposer,
                                     base::Logger* logger)
    : opts_(opts), period_(period), store_(store), peers_(peers), proposer_(proposer), logger_(logger) {
  logger_->Info("enabled corruption checking", {base::HexId("local-member-id", opts_.self_id),
                                                {"interval", absl::FormatDuration(period_)}});
  thread_ = std::thread([this] { Loop(); });
}

CorruptionMonitor::~CorruptionMonitor() { Stop(); }

void CorruptionMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CorruptionMonitor::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, absl::ToChronoNanoseconds(period_), [&] { return stopping_; });
    if (stopping_) break;
    if (proposer_->Status().leader != opts_.self_id) continue;
    lock.unlock();
    CheckOnce();
    lock.lock();
  }
}

uint64_t CorruptionMonitor::CheckOnce() {
  auto first = HashKv(*store_, 0);
  if (!first.ok()) return 0;
  const std::vector<PeerHash> answers = AskPeers(*store_, *peers_, opts_, first->rev);
  // Everything committed before the answers is applied here after this.
  auto barrier = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> passed = barrier->get_future();
  proposer_->ReadBarrier([barrier](absl::Status s) { barrier->set_value(std::move(s)); });
  if (passed.wait_for(absl::ToChronoNanoseconds(opts_.timeout)) != std::future_status::ready ||
      !passed.get().ok()) {
    logger_->Warn("failed to check hash KV", {{"error", "no read barrier"}});
    return 0;
  }
  auto second = HashKv(*store_, 0);
  if (!second.ok()) return 0;
  uint64_t found = 0;
  if (second->hash != first->hash && second->rev == first->rev && second->compact_rev == first->compact_rev) {
    logger_->Warn("found hash mismatch", {{"revision", first->rev}});
    found = opts_.self_id;
  }
  int checked = 0;
  for (const auto& p : answers) {
    if (!p.resp.ok() || found != 0) continue;
    ++checked;
    const auto& r = *p.resp;
    if (r.header().revision() > second->rev) {
      logger_->Warn("revision from follower must be less than or equal to leader's",
                    {{"leader-revision", second->rev}, {"follower-revision", r.header().revision()},
                     base::HexId("follower-peer-id", p.id)});
      found = p.id;
    } else if (r.compact_revision() > second->compact_rev) {
      logger_->Warn("compact revision from follower must be less than or equal to leader's",
                    {{"leader-compact-revision", second->compact_rev},
                     {"follower-compact-revision", r.compact_revision()}, base::HexId("follower-peer-id", p.id)});
      found = p.id;
    } else if (r.compact_revision() == first->compact_rev && r.hash() != first->hash) {
      logger_->Warn("same compact revision then hashes must match",
                    {{"leader-hash", static_cast<uint64_t>(first->hash)},
                     {"follower-hash", static_cast<uint64_t>(r.hash())}, {"revision", first->rev},
                     base::HexId("follower-peer-id", p.id)});
      found = p.id;
    }
  }
  logger_->Info("finished peer corruption check", {{"number-of-peers-checked", checked}});
  if (found != 0) RaiseCorrupt(found);
  return found;
}

void CorruptionMonitor::RaiseCorrupt(uint64_t member_id) {
  serverpb::InternalRequest ir;
  auto* a = ir.mutable_alarm();
  a->set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  a->set_memberid(member_id);
  a->set_alarm(etcdserverpb::CORRUPT);
  proposer_->Propose(std::move(ir), [logger = logger_](ProposeResult r) {
    if (!r.ok()) logger->Warn("cannot raise the CORRUPT alarm", {{"error", r.status()}});
  });
}

}  // namespace server
