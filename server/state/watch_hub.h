// WatchHub: turns the store's committed revisions into etcd watch responses
// for every watcher of every Watch stream on this member.
//
// One round at a time does all event work (see Rounds below), so there is
// no seam between history and live events: it keeps `hub_rev`, the revision through which every
// synced watcher has been given its events, and
//  - reads the changes (hub_rev, store rev] from the store when the store
//    commits, and hands each synced watcher whose range they touch one
//    response per revision, as etcd does — or, when a round finds many
//    revisions (a loaded apply loop), one response for them all;
//  - catches up unsynced watchers (a start revision in the past, or a slow
//    stream) from the store in batches of whole revisions, up to hub_rev,
//    then counts them synced. A watcher whose next revision was compacted
//    is cancelled with compact_revision, as etcd does.
// Each watcher has next_rev: it has been given every event below it and
// none at or above it, so it sees each event exactly once, in order.
//
// Memory is bounded: a stream's outbound queue holds at most
// kMaxQueuedBytes; a watcher whose response does not fit becomes unsynced
// and later re-reads what it missed from the store (etcd's victims).
// Rounds: Step() is one round (deliver live events, catch up unsynced
// watchers, answer progress requests, and send periodic progress when the
// injected clock says it is due). The hub thread runs a round whenever it
// is notified or the next round is due; with Options::run_thread false there
// is no thread and the owner (a test) calls Step() itself. A hub with no
// watcher is not notified by commits: it has nothing to deliver, and holds
// back no compaction.
// Ownership: borrows the store, the clock and the logger (must outlive it).
// Thread-safety: all public methods are thread-safe. Streams are called
// back (Enqueue) from whichever thread runs Step(): the hub thread, or the
// owner's when there is none.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "mvccpb/kv.pb.h"

#include "absl/time/time.h"
#include "base/clock.h"
#include "base/logger.h"
#include "etcdserverpb/rpc.pb.h"
#include "server/state/watch_wire.h"
#include "storage/mvcc_store.h"

namespace server {

// The outbound side of one Watch stream, as the hub sees it.
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Queues `resp` unless the queue is over its budget and `force` is false;
  // false when not queued. Control responses are forced.
  virtual bool Enqueue(etcdserverpb::WatchResponse resp, bool force) = 0;
  // Queues watcher `watch_id`'s events, pre-encoded and shared with other
  // watchers (watch_wire.h): `header` is the header field, `events` points
  // to the event fields in order (pointers, so that passing a shared field
  // costs no reference count). A sink may append them to a response of the same
  // watcher that is still queued and not yet being written (a response then
  // carries several revisions, as etcd's catch-up responses do; its header
  // revision is the newest), unless a control response was queued after
  // it. False when not queued (over budget), as Enqueue. The default
  // decodes them into an ordinary response.
  virtual bool EnqueueEvents(int64_t watch_id, const grpc::Slice& header, const grpc::Slice* const* events,
                             size_t count);
  // True while an unforced Enqueue would be refused.
  virtual bool Full() = 0;
  // Fills cluster/member id and raft term.
  virtual void FillHeader(etcdserverpb::ResponseHeader* h) = 0;
};

struct WatchSpec {
  storage::KeyRange range;
  int64_t start_rev = 0;  // the first revision to report (resolved: never 0)
  bool prev_kv = false;
  bool no_put = false;
  bool no_delete = false;
  bool progress_notify = false;
  bool fragment = false;
};

class WatchHub {
 public:
  struct Options {
    absl::Duration progress_interval = absl::Minutes(10);
    // Revisions read per catch-up round (etcd: watchBatchMaxRevs).
    int64_t batch_revs = 1000;
    // Responses larger than this are split for watchers that asked for it.
    int64_t fragment_bytes = 2 << 20;
    // False: no hub thread; the owner drives rounds with Step().
    bool run_thread = true;
  };

  WatchHub(storage::MvccStore* store, const base::Clock& clock, base::Logger* logger, Options opts);
  ~WatchHub();

  // Wakes the hub: the store has committed (any thread, must not block).
  // Not while the hub has no watcher.
  void Notify();

  // Registers a watcher; its events go to `sink`, tagged `id`.
  void Add(const std::shared_ptr<WatchSink>& sink, int64_t id, WatchSpec spec);
  // False if the watcher was unknown (or already cancelled by compaction).
  bool Remove(const WatchSink* sink, int64_t id);
  void RemoveSink(const WatchSink* sink);
  // etcd 3.5's RequestProgress: once every watcher of `sink` is synced, a
  // response with watch_id -1 and header.revision = the revision through
  // which they all have their events. Nothing when it has no watcher.
  void RequestProgress(const std::shared_ptr<WatchSink>& sink);

  void Stop();

  // Runs one round now; returns when the next round is due at the latest
  // (soon while watchers are unsynced or progress requests wait, else at
  // the next periodic progress).
  absl::Time Step();

  // Watchers registered now (etcd_debugging_mvcc_watcher_total); any thread.
  int64_t Watchers() const { return watcher_count_.load(std::memory_order_relaxed); }
  // Rounds run so far (Step calls); any thread.
  uint64_t Rounds() const { return rounds_.load(std::memory_order_relaxed); }

 private:
  struct Watcher {
    std::shared_ptr<WatchSink> sink;
    int64_t id = 0;
    WatchSpec spec;
    int64_t next_rev = 0;
    bool events_since_progress = false;
  };
  using WatcherPtr = std::shared_ptr<Watcher>;
  using Key = std::pair<const WatchSink*, int64_t>;

  void Loop();
  void Wake();
  // watchers_ changed: watcher_list_ is rebuilt before the next delivery,
  // and the count for metrics is updated.
  void WatchersChanged();
  void SetHubRev(int64_t rev);
  // Physical compaction is held at hub_rev_ while there are watchers, and
  // not at all without them.
  void HoldCompaction();
  void DeliverLive();
  void CatchUp();
  void SendProgress(absl::Time now);
  void AnswerProgressRequests();
  // Builds and queues one watcher's response for `events` (all of one or
  // more revisions, already filtered to it); false if the sink was full.
  bool Send(Watcher& w, std::vector<mvccpb::Event> events, int64_t header_rev);
  // One delivery round's shared wire pieces, made on first use: each
  // event with and without prev_kv, and the header for each header
  // revision (every sink of a member fills headers the same way).
  class RoundEncoding {
   public:
    explicit RoundEncoding(const std::vector<mvccpb::Event>& events) : events_(events) {}
    const grpc::Slice& Event(size_t k, bool prev_kv);
    const grpc::Slice& Header(WatchSink& sink, int64_t rev);

   private:
    const std::vector<mvccpb::Event>& events_;
    std::vector<grpc::Slice> with_prev_, without_prev_;
    std::map<int64_t, grpc::Slice> headers_;
  };
  // Send() without fragmentation, for events[indices[0..count)] of a round.
  bool SendEncoded(Watcher& w, RoundEncoding& encoded, const size_t* indices, size_t count,
                   int64_t header_rev);
  // Gives each synced watcher (behind[n]: fell behind this round) its
  // events of one batch of changes, through `batch_end`.
  void DeliverBatch(const std::vector<Watcher*>& synced, std::vector<char>& behind,
                    const std::vector<mvccpb::Event>& evs, int64_t batch_end);
  // One watcher's part of DeliverBatch; false if its stream was full.
  bool DeliverTo(Watcher& w, const std::vector<mvccpb::Event>& evs, RoundEncoding& encoded,
                 bool per_revision, int64_t batch_end);
  bool Wants(const Watcher& w, const mvccpb::Event& e) const;

  storage::MvccStore* store_;
  const base::Clock& clock_;
  base::Logger* logger_;
  const Options opts_;

  // Wake-ups: Notify() comes from the apply loop and must never wait for a
  // delivery round, so it has its own small lock.
  std::mutex wake_mu_;
  std::condition_variable cv_;
  bool stopping_ = false;   // guarded by wake_mu_
  bool notified_ = false;   // guarded by wake_mu_

  // The hub thread holds mu_ for a whole round (reads and deliveries).
  std::mutex mu_;
  std::map<Key, WatcherPtr> watchers_;  // guarded by mu_: all live watchers
  // watchers_' values in its order, rebuilt when it changes (guarded by
  // mu_): a delivery round walks a vector, not 10,000 tree nodes.
  std::vector<Watcher*> watcher_list_;
  bool watcher_list_stale_ = false;
  std::atomic<int64_t> watcher_count_{0};  // watchers_.size(), for metrics
  std::atomic<uint64_t> rounds_{0};
  std::set<Key> unsynced_;              // guarded by mu_
  std::vector<std::shared_ptr<WatchSink>> progress_requests_;  // guarded by mu_
  int64_t hub_rev_ = 0;                 // guarded by mu_ (written by the hub thread)
  uint64_t generation_ = 0;             // the store's, as of hub_rev_
  absl::Time next_progress_;            // guarded by mu_: periodic progress due
  std::thread thread_;
  // Scratch space of the delivery round (guarded by mu_), kept to avoid an
  // allocation per watcher.
  std::vector<size_t> mine_;
  std::vector<const grpc::Slice*> pieces_;
};

}  // namespace server
