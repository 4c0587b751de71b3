#include "server/replication/corruption_check.h"

#include <algorithm>
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

// The real-time nap between looks at the clock: a ManualClock moved by a
// test is noticed within this; a huge period never reaches the condition
// variable (whose deadline would overflow).
constexpr absl::Duration kMaxNap = absl::Seconds(1);

// Every recorded member but this one, each asked for its hash at `rev`.
std::vector<PeerHashAnswer> AskPeers(const storage::MvccStore& store, PeerDirectory& peers,
                                     const CorruptionCheckOptions& opts, int64_t rev,
                                     HashCallCanceller* canceller) {
  std::vector<PeerHashAnswer> out;
  for (const auto& [id, m] : LoadRaftMembers(store)) {
    if (id == opts.self_id || m.peer_urls_size() == 0) continue;
    if (!peers.UrlOf(id)) peers.Set(id, m.peer_urls(0));
    out.push_back({id, AskPeerHashKv(peers, opts.cluster_id, id, rev, opts.timeout, canceller)});
  }
  return out;
}

class DirectoryPeerHasher final : public PeerHasher {
 public:
  DirectoryPeerHasher(const storage::MvccStore* store, PeerDirectory* peers, CorruptionCheckOptions opts)
      : store_(store), peers_(peers), opts_(opts) {}
  std::vector<PeerHashAnswer> Ask(int64_t rev) override {
    return AskPeers(*store_, *peers_, opts_, rev, &canceller_);
  }
  void Cancel() override { canceller_.Cancel(); }

 private:
  const storage::MvccStore* store_;
  PeerDirectory* peers_;
  const CorruptionCheckOptions opts_;
  HashCallCanceller canceller_;
};

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
  for (const auto& p : AskPeers(store, peers, opts, local->rev, nullptr)) {
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

std::unique_ptr<PeerHasher> NewPeerHasher(const storage::MvccStore* store, PeerDirectory* peers,
                                          CorruptionCheckOptions opts) {
  return std::make_unique<DirectoryPeerHasher>(store, peers, opts);
}

// The outcome of one check's read barrier, shared with the proposer's
// callback (which may run after the check gave up).
struct CorruptionMonitor::Barrier {
  std::mutex mu;
  std::condition_variable cv;
  bool answered = false;  // guarded by mu
  bool ok = false;        // guarded by mu
  bool stopping = false;  // guarded by mu
};

CorruptionMonitor::CorruptionMonitor(CorruptionCheckOptions opts, absl::Duration period,
                                     const storage::MvccStore* store, std::unique_ptr<PeerHasher> hasher,
                                     Proposer* proposer, const base::Clock& clock, base::Logger* logger)
    : opts_(opts), period_(period), store_(store), hasher_(std::move(hasher)), proposer_(proposer),
      clock_(clock), logger_(logger), next_check_(clock.Now() + period) {
  logger_->Info("enabled corruption checking", {base::HexId("local-member-id", opts_.self_id),
                                                {"interval", absl::FormatDuration(period_)}});
}

CorruptionMonitor::~CorruptionMonitor() { Stop(); }

void CorruptionMonitor::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void CorruptionMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (waiting_) {
      std::lock_guard<std::mutex> b(waiting_->mu);
      waiting_->stopping = true;
      waiting_->cv.notify_all();
    }
  }
  hasher_->Cancel();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Time CorruptionMonitor::NextCheck() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_check_;
}

void CorruptionMonitor::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      const absl::Duration nap = std::clamp(next_check_ - clock_.Now(), absl::ZeroDuration(), kMaxNap);
      cv_.wait_for(lock, absl::ToChronoNanoseconds(nap), [&] { return stopping_; });
      if (stopping_) return;
    }
    RunDue();
  }
}

void CorruptionMonitor::RunDue() {
  if (clock_.Now() < NextCheck()) return;
  // As etcd's loop: a check every period, by the leader only.
  if (proposer_->Status().leader == opts_.self_id) CheckOnce();
  std::lock_guard<std::mutex> lock(mu_);
  next_check_ = clock_.Now() + period_;
}

bool CorruptionMonitor::WaitForBarrier() {
  auto barrier = std::make_shared<Barrier>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    waiting_ = barrier;
  }
  proposer_->ReadBarrier([barrier](absl::Status s) {
    std::lock_guard<std::mutex> lock(barrier->mu);
    barrier->answered = true;
    barrier->ok = s.ok();
    barrier->cv.notify_all();
  });
  const absl::Time deadline = clock_.Now() + opts_.timeout;
  bool ok = false;
  {
    std::unique_lock<std::mutex> lock(barrier->mu);
    while (!barrier->answered && !barrier->stopping) {
      const absl::Duration left = deadline - clock_.Now();
      if (left <= absl::ZeroDuration()) break;
      barrier->cv.wait_for(lock, absl::ToChronoNanoseconds(std::min(left, kMaxNap)));
    }
    ok = barrier->answered && barrier->ok;
  }
  std::lock_guard<std::mutex> lock(mu_);
  waiting_.reset();
  return ok;
}

std::vector<uint64_t> CorruptionMonitor::CheckOnce() {
  std::vector<uint64_t> found;
  auto first = HashKv(*store_, 0);
  if (!first.ok()) return found;
  const std::vector<PeerHashAnswer> answers = hasher_->Ask(first->rev);
  // Everything committed before the answers is applied here after this.
  if (!WaitForBarrier()) {
    logger_->Warn("failed to check hash KV", {{"error", "no read barrier"}});
    return found;
  }
  auto second = HashKv(*store_, 0);
  if (!second.ok()) return found;
  auto mismatch = [&found](uint64_t id) {
    if (std::find(found.begin(), found.end(), id) == found.end()) found.push_back(id);
  };
  if (second->hash != first->hash && second->rev == first->rev && second->compact_rev == first->compact_rev) {
    logger_->Warn("found hash mismatch", {{"revision", first->rev}});
    mismatch(opts_.self_id);
  }
  int checked = 0;
  for (const auto& p : answers) {
    if (!p.resp.ok()) continue;
    ++checked;
    const auto& r = *p.resp;
    // Each rule on its own, as etcd's: one peer may break several.
    if (r.header().revision() > second->rev) {
      logger_->Warn("revision from follower must be less than or equal to leader's",
                    {{"leader-revision", second->rev}, {"follower-revision", r.header().revision()},
                     base::HexId("follower-peer-id", p.id)});
      mismatch(p.id);
    }
    if (r.compact_revision() > second->compact_rev) {
      logger_->Warn("compact revision from follower must be less than or equal to leader's",
                    {{"leader-compact-revision", second->compact_rev},
                     {"follower-compact-revision", r.compact_revision()}, base::HexId("follower-peer-id", p.id)});
      mismatch(p.id);
    }
    if (r.compact_revision() == first->compact_rev && r.hash() != first->hash) {
      logger_->Warn("same compact revision then hashes must match",
                    {{"leader-hash", static_cast<uint64_t>(first->hash)},
                     {"follower-hash", static_cast<uint64_t>(r.hash())}, {"revision", first->rev},
                     base::HexId("follower-peer-id", p.id)});
      mismatch(p.id);
    }
  }
  logger_->Info("finished peer corruption check", {{"number-of-peers-checked", checked}});
  if (!found.empty()) RaiseCorrupt();
  return found;
}

void CorruptionMonitor::RaiseCorrupt() {
  // etcd 3.4.23's monitorKVHash raises it for member 0, not for the member
  // found different: `alarm list` shows "memberID:0 alarm:CORRUPT".
  serverpb::InternalRequest ir;
  auto* a = ir.mutable_alarm();
  a->set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  a->set_memberid(0);
  a->set_alarm(etcdserverpb::CORRUPT);
  proposer_->Propose(std::move(ir), [logger = logger_](ProposeResult r) {
    if (!r.ok()) logger->Warn("cannot raise the CORRUPT alarm", {{"error", r.status()}});
  });
}

}  // namespace server
