// Wal: the durable raft log of one member — entries, HardState and snapshot
// markers — in <data-dir>/member/wal.
//
// Contract
// - Save(hard_state, entries) writes ONE batch with one write and ONE
//   fdatasync, and returns only once the batch is durable; raft may then act
//   on it (send votes and acks, hand entries to apply). Nothing new → no I/O.
// - Open() returns exactly the acknowledged batches (plus, possibly, the
//   last batch if it reached the disk whole before a crash): metadata, the
//   newest snapshot marker, the newest HardState, and the entries after that
//   snapshot with raft's truncation applied (an entry at index i replaces
//   every entry >= i written before it).
// - A torn tail (the last batch, cut by a crash mid-write) is dropped
//   silently and reported in WalRecovered::torn_tail. Damage anywhere else is a
//   DataLoss error naming the file and offset; the WAL never skips a record.
// - Any I/O error while writing (above all a failed fdatasync: the kernel
//   may have dropped the dirty pages) poisons the Wal: every later call fails.
//   The caller must stop the process; see STYLE.md "broken invariants".
// Ownership: a Wal owns its file descriptors and an exclusive flock on the
// directory (a second Open of the same directory, from any process, fails).
// Thread-safety: none; the raft loop is the only caller.
//
// On-disk format (all integers little-endian)
//
//   Directory: segment files "<seq>-<index>.wal", both 16 lower-case hex
//   digits: seq counts segments from 1 with no gaps; index is the raft index
//   the segment was opened for (informational; the metadata repeats it).
//   Each segment is pre-allocated (posix_fallocate, WalOptions::segment_bytes)
//   and filled append-only; a batch that does not fit in the rest of a
//   segment goes to a new one (a new segment is written as "<name>.tmp",
//   synced, renamed and its directory synced, so a segment under its final
//   name always starts with a complete header batch). The whole directory
//   is created as "<dir>.tmp" and renamed, so a WAL directory always exists
//   whole or not at all. Leftover *.tmp files are removed by Open.
//
//   Record: starts at a multiple of 8 bytes from the start of the file.
//     0  u32  header_crc   CRC-32C of bytes 4..23 of this header
//     4  u8   type         1 metadata, 2 entry, 3 hard state,
//                          4 snapshot marker, 5 commit (0 never valid)
//     5  u8x3 zero
//     8  u32  length       payload bytes
//    12  u32  payload_crc  CRC-32C of the payload
//    16  u64  batch        sequence number of the batch the record belongs to
//    24  payload, then zero padding up to the next multiple of 8
//   Payloads: entry = raftpb.Entry, hard state = raftpb.HardState, snapshot
//   marker = raftpb.SnapshotMetadata (serialized protobuf); metadata = 48
//   bytes: magic "KETCDWAL", u32 version (1), u32 zero, u64 segment seq,
//   u64 first index, u64 cluster id, u64 member id; commit = 16 bytes:
//   u32 record count of the batch, u32 CRC-32C of the batch's bytes before
//   the commit record (headers, payloads, padding), u64 their length.
//   Because header_crc covers the type and the CRC of zeros is not zero, an
//   all-zero header (pre-allocated space) never parses as a record. A file
//   shorter than its pre-allocation reads as if the rest were zeros.
//
//   Batch: records sharing one batch number, closed by a commit record that
//   counts and checksums them. Batch numbers are consecutive over the whole
//   WAL, across segments. Each segment opens with a header batch: metadata,
//   the current HardState and the current snapshot marker (carried over, so
//   a segment never needs an older one to be read), commit. After the last
//   batch the segment holds zeros.
//
// Crash safety
//   A batch is written with one pwrite and made durable with one fdatasync;
//   it is acknowledged only after that. Batch n+1 is never written before
//   batch n is durable, and a new segment only after the old one's last
//   batch is durable. Hence at most one batch — the last one of the last
//   segment — can be torn, its pages reaching the disk in any order (some
//   written, some still zero, possibly its commit record but not its body).
//   Open therefore:
//   1. reads every segment in order and accepts a batch only when all its
//      records and its commit record check out (CRCs, batch number, count,
//      batch CRC, length);
//   2. in any segment but the last, anything after the last committed batch
//      other than zeros is an error: those segments were complete on disk;
//   3. in the last segment, at the first record that does not check out
//      (offset P), it scans every 8-aligned offset from P to the last
//      non-zero byte of the file for a record that does check out. One that
//      belongs to the same batch as the record at P is part of the torn
//      batch. One with any other batch number proves that the batch at P was
//      completed (the next one is only written after it is durable) or that
//      the file is otherwise damaged: Open fails, naming the file, P and the
//      witness. A witness must pass both its header and its payload CRC, so
//      stray bytes in a torn page are not taken for one. With no witness,
//      [last commit, end of data) is the torn tail: it is zeroed and synced
//      before Open returns, so later appends (which reuse the torn batch's
//      number) never meet stale bytes; a crash during that repair leaves a
//      torn tail of the same batch, repaired again by the next Open.
//   A batch counts as committed only if its commit record AND every record
//   it counts check out. (Taking a valid commit record alone as proof would
//   misreport a legitimate crash in which the commit record's page reached
//   the disk and an earlier page of the same batch did not.)
//   What one fdatasync per batch cannot tell apart: damage inside the very
//   last batch looks like a torn write (its sync may not have returned), so
//   it is dropped, never reported as corruption. Any earlier damage is an
//   error, and so is a missing or damaged segment header, a gap in segment
//   numbers or batch numbers, or a gap in entry indexes after the snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raftpb/raft.pb.h"

namespace storage {

// Identity of the member that owns the WAL; written into every segment.
struct WalMetadata {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
};

struct WalOptions {
  // Bytes each segment is pre-allocated to. A batch larger than a segment
  // gets a segment of its own, sized to fit. Must be >= 4096.
  // Default: 64 MiB.
  uint64_t segment_bytes = 64ull << 20;
};

// What Open() read. To load it into raft::MemoryStorage: ApplySnapshot of a
// raftpb::Snapshot with `snapshot` as metadata (when index > 0), then
// SetHardState(hard_state), then Append(entries).
struct WalRecovered {
  WalMetadata metadata;
  // The newest snapshot marker; index 0 (and an empty ConfState) if none.
  raftpb::SnapshotMetadata snapshot;
  // The newest HardState; all zero if none was ever saved.
  raftpb::HardState hard_state;
  // snapshot.index()+1 .. last, contiguous, truncations applied.
  std::vector<raftpb::Entry> entries;
  // Empty, or a description of the torn tail dropped ("<file>: <n> bytes at
  // offset <p>"), for the server's startup log.
  std::string torn_tail;
};

class Wal {
 public:
  struct Opened;

  // Creates a new WAL in `dir`, which must not exist or be empty
  // (AlreadyExists otherwise). Missing parent directories are created, but
  // making their own entries durable is the caller's business.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Wal>> Create(const std::string& dir,
                                                                   const WalMetadata& metadata,
                                                                   const WalOptions& options);
  // Opens the WAL in `dir`, repairs a torn tail and returns what it holds.
  // NotFound if `dir` does not exist; DataLoss if it is damaged (see above);
  // FailedPrecondition if another Wal has it open.
  [[nodiscard]] static absl::StatusOr<Opened> Open(const std::string& dir,
                                                   const WalOptions& options);
  // True if `dir` holds a WAL (a directory with at least one segment).
  static bool Exists(const std::string& dir);

  ~Wal();
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // Appends one batch: `hard_state` unless it is empty (all zero, raft's
  // "unchanged") or equal to the last saved one, then `entries` in order
  // (an entry at index i replaces the saved entries >= i; entries at or
  // below the snapshot marker are ignored on Open, as MemoryStorage::Append
  // ignores them). Durable when it returns OK. No change at all → OK
  // without I/O. InvalidArgument, with nothing written, if the entries are
  // not consecutive or would leave a gap after last_index().
  // Cost: the batch is encoded into one buffer, one pwrite, one fdatasync.
  [[nodiscard]] absl::Status Save(const raftpb::HardState& hard_state,
                                  const std::vector<raftpb::Entry>& entries);

  // Records, durably, that a snapshot of the state machine through
  // meta.index() exists (the snapshot data lives elsewhere). Entries at or
  // below it are no longer returned by Open. FailedPrecondition if older
  // than the newest marker.
  [[nodiscard]] absl::Status SaveSnapshotMarker(const raftpb::SnapshotMetadata& meta);

  // Deletes whole segments no longer needed, oldest first: with S the
  // newest snapshot marker at or below `index`, a segment goes if it is not
  // the current one and every entry ever written to it is <= S. Entries in
  // (S, index] must stay even though the state machine has them: Open
  // returns the log from S+1 and raft needs it without a gap. Nothing else
  // is lost with a segment: every later segment's header carries the
  // metadata, HardState and newest marker as of its creation, and the
  // segment holding marker S or a later one always stays. The caller
  // promises the state machine is durable through `index`.
  [[nodiscard]] absl::Status ReleaseTo(uint64_t index);

  // Closes the files. Every acknowledged batch is already durable, so this
  // only releases resources; the destructor does the same.
  void Close();

  const WalMetadata& metadata() const { return metadata_; }
  const raftpb::HardState& hard_state() const { return hard_state_; }
  const raftpb::SnapshotMetadata& snapshot() const { return snapshot_; }
  // Index of the last entry saved (the snapshot index if none after it).
  uint64_t last_index() const { return last_index_; }
  // Segment file names, oldest first.
  std::vector<std::string> SegmentNames() const;

 private:
  struct Segment {
    std::string name;
    uint64_t seq = 0;
    uint64_t max_entry_index = 0;  // highest entry index ever written to it
  };

  Wal(std::string dir, WalOptions options) : dir_(std::move(dir)), options_(options) {}

  // Writes and syncs one batch that `encode` appends to the string for a
  // given batch number, in a new segment if it does not fit the current one.
  absl::Status WriteBatch(absl::FunctionRef<void(uint64_t batch, std::string* out)> encode,
                          uint64_t first_index, uint64_t max_entry_index);
  // Creates, syncs and switches to segment seq+1 with room for min_bytes.
  absl::Status OpenNewSegment(const std::string& dir, uint64_t first_index, uint64_t min_bytes);
  // Records a write failure; every later call returns it.
  absl::Status Poison(absl::Status s);

  std::string dir_;
  WalOptions options_;
  WalMetadata metadata_;
  int dir_fd_ = -1;   // holds the flock
  int file_fd_ = -1;  // the current (last) segment
  uint64_t file_size_ = 0;
  uint64_t offset_ = 0;      // where the next batch goes in the current segment
  uint64_t next_batch_ = 1;  // number of the next batch
  std::vector<Segment> segments_;
  std::vector<uint64_t> marker_indexes_;  // snapshot markers saved, ascending
  raftpb::HardState hard_state_;
  raftpb::SnapshotMetadata snapshot_;
  uint64_t last_index_ = 0;
  absl::Status poisoned_;
  std::string buf_;  // reused encoding buffer
};

struct Wal::Opened {
  std::unique_ptr<Wal> wal;
  WalRecovered state;
};

}  // namespace storage
