#include "server/state/watch_hub.h"

#include <algorithm>
#include <limits>


namespace server {
namespace {

// Rounds that find at most this many revisions answer one per revision.
constexpr size_t kPerRevisionRounds = 64;
// The longest the hub thread sleeps without a notification.
constexpr absl::Duration kMaxWait = absl::Hours(24);

}  // namespace

WatchHub::WatchHub(storage::MvccStore* store, const base::Clock& clock, base::Logger* logger,
                   Options opts)
    : store_(store), clock_(clock), logger_(logger), opts_(opts) {
  generation_ = store_->Generation();
  SetHubRev(store_->Rev());
  next_progress_ = clock_.Now() + opts_.progress_interval;
  if (opts_.run_thread) thread_ = std::thread([this] { Loop(); });
}

void WatchHub::SetHubRev(int64_t rev) {
  hub_rev_ = rev;
  HoldCompaction();
}

void WatchHub::HoldCompaction() {
  store_->SetCompactionHold(watchers_.empty() ? std::numeric_limits<int64_t>::max() : hub_rev_);
}

WatchHub::~WatchHub() { Stop(); }

void WatchHub::Stop() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.clear();
  WatchersChanged();
  unsynced_.clear();
  progress_requests_.clear();
}

void WatchHub::Wake() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    notified_ = true;
  }
  cv_.notify_one();
}

void WatchHub::Notify() {
  // With no watcher there is nothing to deliver, and the hub is not woken:
  // a wake-up per commit was a context switch per apply on every member.
  // The fence pairs with Add's: either this load sees the new watcher, or
  // the round Add wakes sees this commit.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (watcher_count_.load(std::memory_order_relaxed) == 0) return;
  Wake();
}

void WatchHub::WatchersChanged() {
  watcher_count_.store(static_cast<int64_t>(watchers_.size()), std::memory_order_relaxed);
  watcher_list_stale_ = true;
  HoldCompaction();
}

void WatchHub::Add(const std::shared_ptr<WatchSink>& sink, int64_t id, WatchSpec spec) {
  auto w = std::make_shared<Watcher>();
  w->sink = sink;
  w->id = id;
  w->next_rev = spec.start_rev;
  w->spec = std::move(spec);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (watchers_.empty()) {
      // Commits did not wake an empty hub (Notify): catch up with the
      // store first, so that this watcher's start is judged against now.
      // An empty hub holds no compaction, so first hold it where the hub
      // last was: no pass can then pass the revision read next (see
      // SetCompactionHold) and take what a watcher starting after it needs.
      store_->SetCompactionHold(hub_rev_);
      generation_ = store_->Generation();
      hub_rev_ = store_->Rev();
    }
    const Key key{sink.get(), id};
    watchers_[key] = w;
    WatchersChanged();
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // A start at or below hub_rev needs history first.
    if (w->next_rev <= hub_rev_) unsynced_.insert(key);
  }
  Wake();
}

bool WatchHub::Remove(const WatchSink* sink, int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  unsynced_.erase({sink, id});
  const bool removed = watchers_.erase({sink, id}) > 0;
  WatchersChanged();
  return removed;
}

void WatchHub::RemoveSink(const WatchSink* sink) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = watchers_.lower_bound({sink, INT64_MIN}); it != watchers_.end() && it->first.first == sink;) {
    unsynced_.erase(it->first);
    it = watchers_.erase(it);
  }
  WatchersChanged();
  std::erase_if(progress_requests_, [&](const auto& s) { return s.get() == sink; });
}

void WatchHub::RequestProgress(const std::shared_ptr<WatchSink>& sink) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    progress_requests_.push_back(sink);
  }
  Wake();
}

void WatchHub::Loop() {
  absl::Time due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    due = next_progress_;
  }
  while (true) {
    {
      std::unique_lock<std::mutex> lock(wake_mu_);
      // The wait is recomputed from the clock every round, so the deadline
      // follows the injected clock rather than the condition variable's.
      // Capped so that a far deadline cannot overflow the wait.
      const absl::Duration wait =
          std::clamp(due - clock_.Now(), absl::ZeroDuration(), kMaxWait);
      cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), [&] { return stopping_ || notified_; });
      if (stopping_) return;
      notified_ = false;
    }
    due = Step();
  }
}

absl::Time WatchHub::Step() {
  std::lock_guard<std::mutex> lock(mu_);
  rounds_.fetch_add(1, std::memory_order_relaxed);
  DeliverLive();
  CatchUp();
  AnswerProgressRequests();
  const absl::Time now = clock_.Now();
  if (now >= next_progress_) {
    SendProgress(now);
    next_progress_ = now + opts_.progress_interval;
  }
  // Unsynced watchers (a full stream, history left to read) are retried
  // every 10 ms, as etcd retries its victims.
  if (!unsynced_.empty() || !progress_requests_.empty()) {
    return std::min(next_progress_, now + absl::Milliseconds(10));
  }
  return next_progress_;
}

bool WatchHub::Wants(const Watcher& w, const mvccpb::Event& e) const {
  if (e.type() == mvccpb::Event::PUT && w.spec.no_put) return false;
  if (e.type() == mvccpb::Event::DELETE && w.spec.no_delete) return false;
  return w.spec.range.Contains(e.kv().key());
}

bool WatchHub::Send(Watcher& w, std::vector<mvccpb::Event> events, int64_t header_rev) {
  etcdserverpb::WatchResponse r;
  w.sink->FillHeader(r.mutable_header());
  r.mutable_header()->set_revision(header_rev);
  r.set_watch_id(w.id);
  for (auto& e : events) {
    if (!w.spec.prev_kv) e.clear_prev_kv();
    *r.add_events() = std::move(e);
  }
  w.events_since_progress = true;
  if (!w.spec.fragment || r.events_size() < 2 ||
      static_cast<int64_t>(r.ByteSizeLong()) < opts_.fragment_bytes) {
    return w.sink->Enqueue(std::move(r), /*force=*/false);
  }
  // etcd's fragmentation: greedy parts below the limit, each with at least
  // one event; every part but the last says fragment=true.
  std::vector<etcdserverpb::WatchResponse> parts;
  etcdserverpb::WatchResponse part = r;
  part.clear_events();
  const etcdserverpb::WatchResponse empty = part;
  for (auto& e : *r.mutable_events()) {
    const int64_t grown = static_cast<int64_t>(part.ByteSizeLong() + e.ByteSizeLong() + 8);
    if (part.events_size() > 0 && grown >= opts_.fragment_bytes) {
      part.set_fragment(true);
      parts.push_back(std::move(part));
      part = empty;
    }
    *part.add_events() = std::move(e);
  }
  parts.push_back(std::move(part));
  if (!w.sink->Enqueue(std::move(parts[0]), /*force=*/false)) return false;
  // The rest must follow the first part, whatever the queue holds.
  for (size_t i = 1; i < parts.size(); ++i) w.sink->Enqueue(std::move(parts[i]), /*force=*/true);
  return true;
}

bool WatchSink::EnqueueEvents(int64_t watch_id, const grpc::Slice& header, const grpc::Slice* const* events,
                              size_t count) {
  watch_wire::EventsResponse r(header, watch_id);
  for (size_t i = 0; i < count; ++i) r.AddEvent(*events[i]);
  return Enqueue(r.ToMessage(), /*force=*/false);
}

const grpc::Slice& WatchHub::RoundEncoding::Event(size_t k, bool prev_kv) {
  if (with_prev_.empty()) {
    with_prev_.resize(events_.size());
    without_prev_.resize(events_.size());
  }
  // An encoded field is never empty (a tag and a length at least): an empty
  // slice is one not made yet.
  const mvccpb::Event& e = events_[k];
  if (prev_kv || !e.has_prev_kv()) {
    if (with_prev_[k].size() == 0) with_prev_[k] = watch_wire::EventField(e, /*with_prev_kv=*/true);
    return with_prev_[k];
  }
  if (without_prev_[k].size() == 0) without_prev_[k] = watch_wire::EventField(e, /*with_prev_kv=*/false);
  return without_prev_[k];
}

const grpc::Slice& WatchHub::RoundEncoding::Header(WatchSink& sink, int64_t rev) {
  auto it = headers_.find(rev);
  if (it != headers_.end()) return it->second;
  etcdserverpb::ResponseHeader h;
  sink.FillHeader(&h);
  h.set_revision(rev);
  return headers_.emplace(rev, watch_wire::HeaderField(h)).first->second;
}

bool WatchHub::SendEncoded(Watcher& w, RoundEncoding& encoded, const size_t* indices, size_t count,
                           int64_t header_rev) {
  // The events go out already serialized and shared: a revision watched by
  // N watchers is encoded once, and each response refers to the same bytes.
  // (etcd shares the event objects between watchers the same way.)
  w.events_since_progress = true;
  // The sink takes only the references its response keeps.
  pieces_.clear();
  for (size_t x = 0; x < count; ++x) pieces_.push_back(&encoded.Event(indices[x], w.spec.prev_kv));
  return w.sink->EnqueueEvents(w.id, encoded.Header(*w.sink, header_rev), pieces_.data(), pieces_.size());
}

void WatchHub::DeliverLive() {
  const int64_t store_rev = store_->Rev();
  if (store_rev <= hub_rev_) return;
  const uint64_t generation = store_->Generation();
  auto view = store_->Read();
  if (generation != generation_) {
    // The store was replaced by a snapshot from the leader: its history
    // below the snapshot's compaction is not here. Every watcher catches up
    // from the new store, or is told its revision is compacted.
    generation_ = generation;
    for (const auto& [key, w] : watchers_) unsynced_.insert(key);
    SetHubRev(view->rev());
    return;
  }
  if (watcher_list_stale_) {
    watcher_list_.clear();
    watcher_list_.reserve(watchers_.size());
    for (const auto& [key, w] : watchers_) watcher_list_.push_back(w.get());
    watcher_list_stale_ = false;
  }
  std::vector<Watcher*> synced;
  bool with_prev = false;
  synced.reserve(watcher_list_.size());
  const bool any_unsynced = !unsynced_.empty();
  for (Watcher* w : watcher_list_) {
    if (any_unsynced && unsynced_.count({w->sink.get(), w->id})) continue;
    synced.push_back(w);
    with_prev |= w->spec.prev_kv;
  }
  if (synced.empty()) {
    // Nobody to deliver to: the changes are not read (on a member with no
    // watchers this pass was 6% of a loaded leader's CPU). A watcher that
    // comes later starts past hub_rev, or catches up from history.
    SetHubRev(view->rev());
    return;
  }
  std::vector<char> behind(synced.size(), 0);
  while (hub_rev_ < view->rev()) {
    // Physical compaction is held at hub_rev (SetCompactionHold): what a
    // logical compaction above it covers is still there for the watchers
    // that are up to date.
    auto changes = view->ReadChanges(hub_rev_ + 1, opts_.batch_revs, with_prev, /*held=*/true);
    if (!changes.ok()) {
      if (logger_) logger_->Error("watch: reading changes failed",
                     {{"after-revision", hub_rev_}, {"error", changes.status()}});
      return;
    }
    DeliverBatch(synced, behind, changes->events, changes->next_rev - 1);
    SetHubRev(changes->next_rev - 1);
  }
  // Every synced watcher now has all events through hub_rev.
  for (size_t n = 0; n < synced.size(); ++n) {
    if (!behind[n] && synced[n]->next_rev <= hub_rev_) synced[n]->next_rev = hub_rev_ + 1;
  }
}

void WatchHub::DeliverBatch(const std::vector<Watcher*>& synced, std::vector<char>& behind,
                            const std::vector<mvccpb::Event>& evs, int64_t batch_end) {
  // One response per revision, as etcd sends them, while a round finds
  // few revisions. A round that finds many (a loaded apply loop commits
  // them in one batch) gives each watcher ONE response for them all
  // (header.revision = the last): a response per revision per watcher
  // would multiply the messages, and clients already take multi-revision
  // responses (every catch-up response is one).
  size_t revisions = 0;
  for (size_t k = 0; k < evs.size(); ++k) {
    if (k == 0 || evs[k].kv().mod_revision() != evs[k - 1].kv().mod_revision()) ++revisions;
  }
  const bool per_revision = revisions <= kPerRevisionRounds;
  RoundEncoding encoded(evs);
  for (size_t n = 0; n < synced.size(); ++n) {
    Watcher* w = synced[n];
    if (behind[n] || w->next_rev > batch_end) continue;  // fell behind, or starts later
    if (DeliverTo(*w, evs, encoded, per_revision, batch_end)) {
      w->next_rev = batch_end + 1;
    } else {
      behind[n] = 1;
    }
  }
}

bool WatchHub::DeliverTo(Watcher& w, const std::vector<mvccpb::Event>& evs, RoundEncoding& encoded,
                         bool per_revision, int64_t batch_end) {
  std::vector<size_t>& mine = mine_;
  mine.clear();
  for (size_t k = 0; k < evs.size(); ++k) {
    if (evs[k].kv().mod_revision() >= w.next_rev && Wants(w, evs[k])) mine.push_back(k);
  }
  size_t i = 0;
  while (i < mine.size()) {
    size_t j = mine.size();
    if (per_revision) {
      j = i;
      while (j < mine.size() && evs[mine[j]].kv().mod_revision() == evs[mine[i]].kv().mod_revision()) ++j;
    }
    const int64_t first = evs[mine[i]].kv().mod_revision();
    const int64_t header = per_revision ? first : batch_end;
    bool sent;
    if (w.spec.fragment) {
      std::vector<mvccpb::Event> part;
      for (size_t x = i; x < j; ++x) part.push_back(evs[mine[x]]);
      sent = Send(w, std::move(part), header);
    } else {
      sent = SendEncoded(w, encoded, mine.data() + i, j - i, header);
    }
    if (!sent) {
      // Its stream is full: it re-reads from this revision later.
      unsynced_.insert({w.sink.get(), w.id});
      w.next_rev = first;
      return false;
    }
    i = j;
  }
  return true;
}

void WatchHub::CatchUp() {
  if (unsynced_.empty()) return;
  auto view = store_->Read();
  const int64_t compact = view->compact_rev();
  int64_t min_next = INT64_MAX;
  bool with_prev = false;
  for (auto it = unsynced_.begin(); it != unsynced_.end();) {
    Watcher& w = *watchers_.at(*it);
    if (w.next_rev < compact) {
      // etcd: a compaction cancel (a start at the compacted revision itself
      // is still served), with header revision 0 and no reason.
      etcdserverpb::WatchResponse r;
      w.sink->FillHeader(r.mutable_header());
      r.mutable_header()->set_revision(0);
      r.set_watch_id(w.id);
      r.set_compact_revision(compact);
      r.set_canceled(true);
      w.sink->Enqueue(std::move(r), /*force=*/true);
      watchers_.erase(*it);
      WatchersChanged();
      it = unsynced_.erase(it);
      continue;
    }
    if (w.next_rev > hub_rev_) {
      it = unsynced_.erase(it);  // nothing left to read: synced
      continue;
    }
    if (w.sink->Full()) {
      ++it;  // a stream that is not being read must not hold the others back
      continue;
    }
    min_next = std::min(min_next, w.next_rev);
    with_prev |= w.spec.prev_kv;
    ++it;
  }
  if (unsynced_.empty() || min_next == INT64_MAX) return;
  auto changes = view->ReadChanges(min_next, opts_.batch_revs, with_prev);
  if (!changes.ok()) {
    if (logger_) logger_->Error("watch: catching up failed",
                   {{"from-revision", min_next}, {"error", changes.status()}});
    return;
  }
  const int64_t upto = std::min(changes->next_rev - 1, hub_rev_);
  for (auto it = unsynced_.begin(); it != unsynced_.end();) {
    Watcher& w = *watchers_.at(*it);
    if (w.next_rev < min_next || w.next_rev > upto) {
      ++it;  // skipped this round (full stream), or nothing of this batch
      continue;
    }
    std::vector<mvccpb::Event> mine;
    for (const auto& e : changes->events) {
      const int64_t rev = e.kv().mod_revision();
      if (rev >= w.next_rev && rev <= upto && Wants(w, e)) mine.push_back(e);
    }
    if (!mine.empty() && !Send(w, std::move(mine), hub_rev_)) {
      ++it;  // still full: next round
      continue;
    }
    w.next_rev = std::max(w.next_rev, upto + 1);
    it = w.next_rev > hub_rev_ ? unsynced_.erase(it) : std::next(it);
  }
}

void WatchHub::AnswerProgressRequests() {
  std::vector<std::shared_ptr<WatchSink>> waiting;
  for (auto& sink : progress_requests_) {
    bool any = false, all_synced = true;
    for (auto it = watchers_.lower_bound({sink.get(), INT64_MIN});
         it != watchers_.end() && it->first.first == sink.get(); ++it) {
      any = true;
      if (unsynced_.count(it->first)) all_synced = false;
    }
    if (!any) continue;  // etcd 3.5 answers nothing without a watcher
    if (!all_synced) {
      waiting.push_back(std::move(sink));
      continue;
    }
    etcdserverpb::WatchResponse r;
    sink->FillHeader(r.mutable_header());
    r.mutable_header()->set_revision(hub_rev_);
    r.set_watch_id(-1);
    sink->Enqueue(std::move(r), /*force=*/true);
  }
  progress_requests_ = std::move(waiting);
}

void WatchHub::SendProgress(absl::Time) {
  for (auto& [key, w] : watchers_) {
    if (!w->spec.progress_notify || unsynced_.count(key)) continue;
    if (!w->events_since_progress) {
      etcdserverpb::WatchResponse r;
      w->sink->FillHeader(r.mutable_header());
      r.mutable_header()->set_revision(hub_rev_);
      r.set_watch_id(w->id);
      w->sink->Enqueue(std::move(r), /*force=*/false);
    }
    w->events_since_progress = false;
  }
}

}  // namespace server
