// MvccStore: etcd's multi-version key space on RocksDB.
//
// Contract
// - Every change happens inside a WriteBatch of one or more WriteTxns (one
//   per replicated request); the batch commits as ONE RocksDB write that also
//   records the raft applied index, so re-applying an entry at or below
//   AppliedIndex() after a crash must be skipped by the caller and an entry
//   is never half applied.
// - Revisions follow etcd: an empty store is at revision 1; a txn that changes anything takes main = rev()+1
//   and numbers its changes sub = 0, 1, ...; a txn that changes nothing
//   leaves rev() alone. Reads inside a txn see that txn's own writes and the
//   earlier txns of the batch.
// - Compaction is logical at once (reads below it fail with CompactedError)
//   and physical in bounded background batches; WaitCompacted() blocks until
//   the physical part of a revision is done. Compaction of revision C keeps,
//   for each key, its newest version at or below C unless that is a delete,
//   and every change made at revision C itself (a watch may start there).
// - Thread-safety: one writer at a time (the apply loop) may hold a
//   WriteBatch; any number of threads may read through ReadViews; the
//   compactor runs on its own thread. All public methods are thread-safe
//   with that single-writer rule.
// - ReplaceWith() swaps the whole store for a checkpoint (a raft snapshot
//   from the leader). It runs on the writer's thread, waits for open
//   ReadViews to close and holds new ones back meanwhile, so a thread must
//   never hold two ReadViews (or call GetMeta/ListMeta/DbSize while holding
//   one) while a swap may be waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mvccpb/kv.pb.h"
#include "storage/meta_schema.h"
#include "storage/revision.h"

namespace base {
class Logger;
}  // namespace base

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Env;
class Iterator;
class RateLimiter;
class Snapshot;
class Status;
class WriteBatchWithIndex;
}  // namespace rocksdb

namespace storage {

struct RangeOptions {
  // At most this many keys are returned (0 = no limit); count is unaffected.
  int64_t limit = 0;
  // Read the key space as of this revision; 0 = the newest.
  int64_t rev = 0;
  // Only count the keys; return no key-values.
  bool count_only = false;
};

struct RangeResult {
  std::vector<mvccpb::KeyValue> kvs;  // in ascending key order
  int64_t count = 0;                  // keys in range at that revision
  int64_t rev = 0;                    // the store revision the read saw
};

// Describes [key, range_end) with etcd's conventions already resolved:
// an empty `end` with `single` = just `key`; `to_end` = every key >= key.
struct KeyRange {
  std::string key;
  std::string end;
  bool single = true;
  bool to_end = false;

  static KeyRange FromEtcd(std::string_view key, std::string_view range_end);
  bool Contains(std::string_view k) const;
};

// The changes of consecutive revisions, as etcd's watch events: a put's
// event carries the written KeyValue, a delete's only {key, mod_revision}.
struct Changes {
  std::vector<mvccpb::Event> events;  // in (revision, sub-revision) order
  int64_t next_rev = 0;               // the first revision not read
};

class MvccStore;

// The lease attachment index is kept by WriteTxn in the meta table in the
// same batch as the key-values: LeaseKeyMetaKey(lease, key) (meta_schema.h)
// for each live key whose newest version carries a lease.

struct MvccStoreOptions {
  // Where the store reports what it recovers from on its own (a failed
  // background compaction step) and RocksDB's own warnings and errors
  // (rocks_logger.h). Not owned; must outlive the store.
  // Default: null, nothing is reported.
  base::Logger* logger = nullptr;
  // Tests: the Env (file system) the store runs on, e.g. one that fails
  // writes on demand. Not owned; must outlive the store. Default: RocksDB's.
  rocksdb::Env* env = nullptr;
  // The most the store's own (RocksDB) WAL may hold before the families it
  // pins are flushed. The raft log is the durability point; this bounds the
  // disk and the replay on restart. Default 64 MiB.
  uint64_t max_wal_bytes = uint64_t{64} << 20;
  // Physical compaction rests this long after each batch of 1000
  // revisions, or as long as the batch took if that was longer, so that
  // it takes at most half a core from the writes beside it (etcd 3.4
  // rests 10 ms per batch too). Default 10 ms.
  std::chrono::milliseconds compaction_pause{10};
  // A defrag rewrites the whole store; its writes are paced to this many
  // bytes per second so that the raft log's fdatasyncs on the same disk
  // keep their latency. Default 64 MiB/s.
  int64_t defrag_bytes_per_second = int64_t{64} << 20;
  // The store's obsolete files (tables replaced by a compaction or a
  // defrag, old WAL files) are deleted at this many bytes per second, a
  // few MiB at a time, instead of at once: on ext4 (with discard above all)
  // freeing hundreds of MiB in one journal commit stalled the raft log's
  // fdatasyncs on the same disk. The trash may reach four times the
  // store's size (a defrag's whole old copy) before files go at once; it
  // does not count toward the quota. 0: no pacing.
  // Default 64 MiB/s.
  int64_t delete_bytes_per_second = int64_t{64} << 20;
};

// A consistent, immutable view of the store at one moment.
class ReadView {
 public:
  ~ReadView();
  ReadView(const ReadView&) = delete;
  ReadView& operator=(const ReadView&) = delete;

  int64_t rev() const { return rev_; }
  int64_t compact_rev() const { return compact_rev_; }
  [[nodiscard]] absl::StatusOr<RangeResult> Range(const KeyRange& range,
                                                  const RangeOptions& opts) const;
  // Visits every live key in range as of `rev` (0 = newest), in key order,
  // without collecting them; errors as Range.
  [[nodiscard]] absl::Status Scan(const KeyRange& range, int64_t rev,
                                  const std::function<void(const mvccpb::KeyValue&)>& visit) const;
  // The changes of revisions from_rev .. rev(), at most `max_revs` revisions
  // (whole revisions only). With `with_prev`, each event that replaced or
  // deleted a live version carries it as prev_kv. CompactedError when
  // from_rev < compact_rev(): those changes may be gone. (At compact_rev()
  // itself the puts are kept; a delete there may be gone, as in etcd.)
  // `held`: the caller holds physical compaction at from_rev - 1 (see
  // SetCompactionHold), so changes under the logical compaction are still
  // there and are read.
  [[nodiscard]] absl::StatusOr<Changes> ReadChanges(int64_t from_rev, int64_t max_revs,
                                                    bool with_prev, bool held = false) const;

  // The raft applied index the view's state includes (etcd's consistent
  // index): 0 for a store that never applied an entry.
  uint64_t AppliedIndex() const;
  // Meta entries as of the view (see MvccStore::ListMeta).
  std::vector<std::pair<std::string, std::string>> ListMeta(std::string_view prefix) const;
  // Every stored revision that etcd's compaction at compact_rev() keeps, in
  // (main, sub) order: for each key its newest version at or below the
  // compaction unless that is a delete, nothing else at or below it except
  // the puts at compact_rev() itself (etcd drops a delete there, ketcd keeps
  // it), and every revision above it. Background compaction's progress
  // does not change the result. `kv` is the stored KeyValue of a put; a
  // delete's holds only the key. Stops at the visitor's first error.
  using KeptRevisionVisitor =
      std::function<absl::Status(Revision rev, bool tombstone, const mvccpb::KeyValue& kv)>;
  [[nodiscard]] absl::Status ForEachKeptRevision(const KeptRevisionVisitor& visit) const;

 private:
  friend class MvccStore;
  ReadView(const MvccStore* store, const rocksdb::Snapshot* snap);
  const MvccStore* store_;  // holds one shared hold of store_->gate_
  const rocksdb::Snapshot* snap_;
  int64_t rev_ = 1;
  int64_t compact_rev_ = -1;
};

class WriteBatch;

// One replicated request's changes. Obtained from WriteBatch::BeginTxn();
// must be ended (End()) before the next BeginTxn() or Commit().
class WriteTxn {
 public:
  [[nodiscard]] absl::StatusOr<RangeResult> Range(const KeyRange& range,
                                                  const RangeOptions& opts);
  // Writes a new version of `key`; returns the stored KeyValue.
  [[nodiscard]] absl::StatusOr<mvccpb::KeyValue> Put(std::string_view key,
                                                     std::string_view value,
                                                     int64_t lease);
  // Deletes every live key in range; returns the deleted key-values.
  [[nodiscard]] absl::StatusOr<std::vector<mvccpb::KeyValue>> DeleteRange(
      const KeyRange& range);
  // The revision this txn's changes carry (rev()+1 of the store before it).
  int64_t write_rev() const { return write_rev_; }
  bool changed() const { return sub_ > 0; }
  // The revision after this txn: write_rev() if it changed anything.
  int64_t rev_after() const { return changed() ? write_rev_ : write_rev_ - 1; }

 private:
  friend class WriteBatch;
  WriteTxn(WriteBatch* batch, int64_t write_rev) : batch_(batch), write_rev_(write_rev) {}
  WriteBatch* batch_;
  int64_t write_rev_;
  int64_t sub_ = 0;
};

class WriteBatch {
 public:
  ~WriteBatch();
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  WriteTxn BeginTxn();
  void EndTxn(const WriteTxn& txn);
  // Logical compaction to `rev` (applied with the batch); errors as etcd:
  // CompactedError if rev <= the current compaction, FutureRevError if rev > rev().
  [[nodiscard]] absl::Status Compact(int64_t rev);
  int64_t rev() const { return rev_; }
  int64_t compact_rev() const { return compact_rev_; }
  // Replicated metadata (e.g. member attributes) written with the batch.
  [[nodiscard]] absl::Status PutMeta(std::string_view name, std::string_view value);
  [[nodiscard]] absl::Status DeleteMeta(std::string_view name);
  // The keys attached to `lease`, this batch's writes included, in key order.
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> LeaseKeys(int64_t lease) const;
  // One RocksDB write with the applied index; `sync` makes it durable before
  // returning (fdatasync of RocksDB's WAL).
  [[nodiscard]] absl::Status Commit(uint64_t applied_index, bool sync);

 private:
  friend class MvccStore;
  friend class WriteTxn;
  explicit WriteBatch(MvccStore* store);
  // The kv family as this batch sees it, made once and re-seeked by each
  // put (making one per put was 1.3% of a leader's CPU at put-1000). Its
  // base is the store when first used, which is safe: only the apply
  // thread writes versions, and the compactor never removes a key's newest.
  rocksdb::Iterator* KvThroughBatch();
  // A record that nothing reads through this batch (the revision family):
  // written, not indexed.
  rocksdb::Status PutUnindexed(rocksdb::ColumnFamilyHandle* cf, const std::string& key, const std::string& value);
  MvccStore* store_;
  std::unique_ptr<rocksdb::WriteBatchWithIndex> wb_;
  std::unique_ptr<rocksdb::Iterator> kv_through_batch_;  // declared after wb_: goes first
  int64_t rev_;
  int64_t compact_rev_;
  int64_t live_keys_;  // the store's LiveKeys() with this batch's creations and deletions
  int64_t scheduled_compact_ = 0;
};

class MvccStore {
 public:
  // Opens or creates the store under `dir` (a RocksDB directory).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MvccStore>> Open(
      const std::string& dir, const MvccStoreOptions& options = {});
  ~MvccStore();

  int64_t Rev() const { return rev_.load(std::memory_order_acquire); }
  int64_t CompactRev() const { return compact_rev_.load(std::memory_order_acquire); }
  uint64_t AppliedIndex() const { return applied_index_.load(std::memory_order_acquire); }
  // Keys live at Rev() (etcd's etcd_debugging_mvcc_keys_total, its key
  // index's size less deleted keys): kept by the writes that create and
  // delete keys and persisted with their batch, so it costs no scan; read
  // from the meta table on open and after ReplaceWith.
  int64_t LiveKeys() const { return live_keys_.load(std::memory_order_acquire); }

  std::unique_ptr<ReadView> Read() const;
  // Only one batch may be open at a time.
  std::unique_ptr<WriteBatch> Write();
  // Called on the writer's thread after every commit and every ReplaceWith
  // (set it before writes start; it must not block).
  void SetCommitListener(std::function<void()> fn) { commit_listener_ = std::move(fn); }
  // Physical compaction removes nothing above `rev` until the hold moves
  // (any thread). The watch hub holds the revisions it has not delivered
  // yet, so a compaction never takes events from watchers that are up to
  // date, as in etcd. No hold: INT64_MAX.
  // A lowered hold is set under the compactor's lock: a compaction pass that
  // starts after it returns sees the hold, and one that started before took
  // a target that was committed before, hence at or below the store's Rev()
  // read after. One thread sets the hold at a time.
  void SetCompactionHold(int64_t rev);
  // The hold now (INT64_MAX: none).
  int64_t HoldLimit() const;
  // Counts ReplaceWith calls: a change means the history was replaced.
  uint64_t Generation() const { return generation_.load(std::memory_order_acquire); }

  // Blocks until physical compaction has reached `rev` (or the store closes).
  void WaitCompacted(int64_t rev);
  // Runs `fn` once physical compaction has reached `rev` (at once if it has),
  // on the compactor thread or the caller's; when the store closes first,
  // `fn` runs from the destructor.
  void NotifyWhenCompacted(int64_t rev, std::function<void()> fn);
  // Compacted revisions physically removed so far.
  int64_t PhysicallyCompactedRev() const;

  // Makes every committed batch durable (fdatasync of RocksDB's WAL); for
  // batches that were committed with sync=false.
  [[nodiscard]] absl::Status Sync();

  // Writes a RocksDB checkpoint of the committed state into `dir` (which
  // must not exist; same filesystem, so files are hard links): a complete
  // store that Open() accepts, at AppliedIndex() as of the call. Call it on
  // the writer's thread so that no batch commits half-way through.
  [[nodiscard]] absl::Status CreateCheckpoint(const std::string& dir) const;

  // Replaces the whole store with the one in `checkpoint_dir` (a directory
  // the caller has made durable), crash-safely: see snapshot_install.h. On
  // the writer's thread, with no WriteBatch open. Compaction waiters are
  // released first. An error leaves the store unusable: stop the process.
  [[nodiscard]] absl::Status ReplaceWith(const std::string& checkpoint_dir);

  // Approximate on-disk size of the store in bytes.
  int64_t DbSize() const;
  // RocksDB snapshots held now (one per open ReadView): what a stalled
  // reader pins. For diagnostics and tests.
  int64_t OpenSnapshots() const;
  // The part of DbSize() that holds live data (etcd's dbSizeInUse):
  // RocksDB's estimate of the live bytes in its files, plus the memtables;
  // what compaction and deletes left behind is counted only in DbSize()
  // until a defragmentation (or RocksDB's own compactions) drops it.
  int64_t LiveDataSize() const;
  // etcd's defragmentation: rewrites every column family's files into the
  // bottommost level, dropping what compaction and deletes left behind
  // (RocksDB's manual compaction). Reads and writes go on meanwhile; blocks
  // the caller until done.
  [[nodiscard]] absl::Status Defragment();

  // Small metadata values (cluster identity and the like) kept in the meta
  // column family; written synchronously.
  [[nodiscard]] absl::StatusOr<std::string> GetMeta(std::string_view name) const;
  [[nodiscard]] absl::Status PutMeta(std::string_view name, std::string_view value);
  // Every meta entry whose name starts with `prefix`, in name order.
  std::vector<std::pair<std::string, std::string>> ListMeta(std::string_view prefix) const;
  // The live keys attached to `lease`, in key order.
  std::vector<std::string> LeaseKeys(int64_t lease) const;

  // ---- bulk load of a whole history (restoring a backup: storage/backup_restore.h)
  // Calls the visitor once per revision, in strictly increasing (main, sub)
  // order; returns the visitor's first error or its own.
  using HistoryFeed = std::function<absl::Status(const ReadView::KeptRevisionVisitor&)>;
  struct HistoryBounds {
    int64_t compact_rev = 0;        // logical compaction; 0: never compacted
    int64_t compacted_through = 0;  // physical compaction the feed already reflects
    // Whether a lease exists: keys are attached only to existing leases (etcd
    // logs and skips an attach to a missing one when it restores a store).
    std::function<bool(int64_t lease)> lease_exists;
  };
  // Fills a store that was never written with the fed history, as it was:
  // each put's KeyValue as given (its mod_revision must be the revision's
  // main), tombstones, the live-key and lease-attachment indexes built from
  // each key's newest version, the compaction, and the revision: the highest
  // of the last main revision and compact_rev (an empty history stays at 1).
  // The applied index stays 0. Durable when it returns (memtables flushed).
  // FailedPrecondition on a store that holds anything; DataLoss for
  // revisions out of order or a put that contradicts its revision, leaving
  // the store partly filled (the caller discards it). On the writer's
  // thread; `progress` (may be null) is called every few thousand revisions
  // with the revisions and key-value bytes written so far.
  using LoadProgress = std::function<void(int64_t revisions, uint64_t bytes)>;
  [[nodiscard]] absl::Status LoadHistory(const HistoryFeed& feed, const HistoryBounds& bounds,
                                         const LoadProgress& progress = nullptr);

  // Test hook: damages the live-key index and forgets it was built, as a
  // store from before it (or an interrupted build) looks; reopen to rebuild.
  [[nodiscard]] absl::Status DropLiveIndexForTest();
  // Test hook: forgets the persisted live-key count, as a store from before
  // it looks; reopen to count it.
  [[nodiscard]] absl::Status DropLiveKeysForTest();
  // Test hook: number of physical (key, revision) versions stored.
  int64_t CountVersionsForTest() const;
  // The rate RocksDB deletes the store's obsolete files at (0: at once).
  int64_t DeleteRateForTest() const;
  // Test hook: run compaction batches of this many revisions, resting
  // `pause` (not the batch's own time) between them.
  void SetCompactionBatchForTest(int n, std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
    compaction_batch_ = n;
    compaction_pause_ = pause;
    pause_as_long_as_batch_ = false;
  }

 private:
  friend class ReadView;
  friend class WriteTxn;
  friend class WriteBatch;
  MvccStore() = default;
  absl::Status OpenDb();
  void CloseDb();
  void StartCompactor();
  void StopCompactor();
  absl::Status Load();
  absl::Status BuildLiveIndex();
  absl::Status LoadLiveKeys();
  absl::Status WriteLoadedHistory(const HistoryFeed& feed, const LoadProgress& progress,
                                  int64_t* last_main);
  absl::Status IndexLoadedHistory(const std::function<bool(int64_t)>& lease_exists);
  void CompactorLoop();
  void RunCompactWaiters(bool all);
  absl::Status CompactStep(int64_t target, std::string* cursor, bool* done);
  void OnCommitted(const WriteBatch& batch, uint64_t applied_index);

  // A writer-preferring reader gate around db_: readers share it, a
  // ReplaceWith() takes it exclusively (new readers wait behind it).
  class Gate {
   public:
    void LockShared() const;
    void UnlockShared() const;
    void Lock();
    void Unlock();

   private:
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    mutable int readers_ = 0;  // guarded by mu_
    bool writer_ = false;      // guarded by mu_
  };
  struct SharedHold {
    explicit SharedHold(const Gate& g) : gate(g) { gate.LockShared(); }
    ~SharedHold() { gate.UnlockShared(); }
    const Gate& gate;
  };

  std::string dir_;
  base::Logger* logger_ = nullptr;
  rocksdb::Env* env_ = nullptr;
  uint64_t max_wal_bytes_ = 0;
  int64_t defrag_bytes_per_second_ = 0;
  int64_t delete_bytes_per_second_ = 0;
  // Paces RocksDB's flush and compaction writes: unpaced but for a defrag.
  std::shared_ptr<rocksdb::RateLimiter> write_pacer_;
  std::mutex defrag_mu_;  // one defrag at a time: each sets and resets the pace
  std::function<void()> commit_listener_;
  std::atomic<int64_t> compaction_hold_{std::numeric_limits<int64_t>::max()};
  std::atomic<uint64_t> generation_{0};
  void PauseBetweenBatches(std::chrono::milliseconds last_batch_took);
  Gate gate_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* kv_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* rev_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* live_cf_ = nullptr;  // live keys only: see mvcc_internal.h
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;

  std::atomic<int64_t> rev_{0};
  std::atomic<int64_t> compact_rev_{0};
  std::atomic<uint64_t> applied_index_{0};
  std::atomic<int64_t> live_keys_{0};

  mutable std::mutex compact_mu_;
  std::condition_variable compact_cv_;
  int64_t compact_target_ = 0;    // guarded by compact_mu_
  int64_t compact_finished_ = 0;  // guarded by compact_mu_
  bool stopping_ = false;         // guarded by compact_mu_
  std::multimap<int64_t, std::function<void()>> compact_waiters_;  // guarded by compact_mu_
  int compaction_batch_ = 1000;
  std::chrono::milliseconds compaction_pause_{10};
  bool pause_as_long_as_batch_ = true;
  std::thread compactor_;
};

}  // namespace storage
