// etcd backups: a bbolt file in etcd 3.4's backend schema
// (etcd_backup_schema.h) followed by the SHA-256 of its bytes, as
// `etcdctl snapshot save` stores the Maintenance.Snapshot stream.
//
// Contract
// - EncodeBackup / WriteBackupFile write the facts of one point in time:
//   every stored key revision (fed by the caller in increasing (main, sub)
//   order, tombstones included), the compaction revision, the consistent
//   index, leases, members, cluster version, auth state and alarms. The
//   result is a file `etcdctl snapshot status` reads and `etcdctl snapshot
//   restore` turns into a data dir etcd 3.4/3.5 serves. Revisions are
//   streamed: memory stays at a few pages whatever their number. The caller
//   passes only what compaction keeps: etcd treats every stored revision as
//   live history. After a restore etcd's revision is the highest of the
//   last revision written and the compaction revision.
// - A put's KeyValue is written as given (its mod_revision must be the
//   revision's main); a tombstone is written as etcd writes it: a KeyValue
//   holding only the key.
// - BackupReader opens such a file, one `etcdctl snapshot save` made from
//   etcd, or (with skip_hash_check) a bare backend db file: it checks the
//   SHA-256 trailer (unless told not to), decodes the small buckets into
//   BackupFacts at once and streams the key revisions on demand.
//   Unknown buckets and meta keys (etcd 3.5's term, confState) are ignored.
//   Errors: DataLoss for a corrupt file, a hash mismatch or a malformed
//   record (naming the bucket and key); FailedPrecondition for a missing
//   hash trailer without skip_hash_check, as etcdctl restore refuses it.
// - BackupStatus is what `etcdctl snapshot status` prints: the CRC-32C
//   (Castagnoli) over every top-level bucket's name then each of its keys
//   and values in order, the main revision of the key bucket's last key,
//   the number of keys in all buckets, and the bbolt size.
// Thread-safety: none beyond const methods of BackupReader.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "authpb/auth.pb.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvccpb/kv.pb.h"
#include "storage/auth_records.h"
#include "storage/bbolt/reader.h"
#include "storage/bbolt/writer.h"
#include "storage/etcd_backup_schema.h"
#include "storage/revision.h"

namespace storage {

using etcd_schema::BackupMember;

struct BackupLease {
  int64_t id = 0;
  int64_t ttl = 0;
  int64_t remaining_ttl = 0;  // 0: not checkpointed
  bool operator==(const BackupLease&) const = default;
};

// One entry of the key bucket.
struct BackupRevision {
  Revision rev;
  bool tombstone = false;
  mvccpb::KeyValue kv;  // a tombstone's holds only the key
};

struct BackupFacts {
  uint64_t consistent_index = 0;
  int64_t compact_rev = 0;  // finishedCompactRev; 0: never compacted
  // A compaction etcd started and will finish at start; the encoder writes
  // max(compact_rev, scheduled_compact_rev).
  int64_t scheduled_compact_rev = 0;
  std::vector<BackupLease> leases;  // any order
  std::vector<BackupMember> members;
  std::vector<uint64_t> removed_members;
  std::string cluster_version;  // "": not written
  // The auth, authUsers and authRoles buckets. etcd's auth store starts at
  // revision 1; decoded as 0 when the auth bucket holds no revision.
  // authEnabled is written when flag_recorded or enabled: 1 on, 0 off.
  AuthRecords auth;
  std::vector<etcdserverpb::AlarmMember> alarms;
};

// `etcdctl snapshot status`.
struct BackupStatus {
  uint32_t hash = 0;
  int64_t revision = 0;
  int64_t total_keys = 0;
  int64_t total_size = 0;
  bool operator==(const BackupStatus&) const = default;
};

using RevisionVisitor = std::function<absl::Status(const BackupRevision&)>;
// Calls the visitor once per stored revision, in order; returns its error.
using RevisionSource = std::function<absl::Status(const RevisionVisitor&)>;

struct EncodedBackup {
  std::string meta_pages;  // pages 0 and 1, to go first
  uint64_t size = 0;       // the bbolt file's bytes (without the hash)
  BackupStatus status;
};

// Writes the backup's bbolt pages from page 2 on into `sink` and returns
// the meta pages; the layout depends only on the inputs (see
// bbolt::Writer for running it twice to stream the meta pages first).
[[nodiscard]] absl::StatusOr<EncodedBackup> EncodeBackup(const BackupFacts& facts,
                                                         const RevisionSource& revisions,
                                                         bbolt::PageSink* sink);

// Creates `path` (replacing a file there) holding the bbolt file and its
// SHA-256, fsynced. On error the partial file is removed.
[[nodiscard]] absl::StatusOr<BackupStatus> WriteBackupFile(const std::string& path,
                                                           const BackupFacts& facts,
                                                           const RevisionSource& revisions);

inline constexpr size_t kBackupHashSize = 32;
// etcd's test for a hash trailer: the size is a multiple of 512 plus 32.
bool BackupHasHashTrailer(uint64_t file_size);

struct BackupReadOptions {
  // Do not require or check the SHA-256 trailer (a trailer present is still
  // cut off). etcdctl's --skip-hash-check.
  bool skip_hash_check = false;
};

class BackupReader {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BackupReader>> Open(
      const std::string& path, const BackupReadOptions& options = {});

  bool has_hash() const { return has_hash_; }
  const BackupFacts& facts() const { return facts_; }
  const bbolt::Reader& db() const { return *db_; }

  // The key bucket in order; a malformed key or value is DataLoss.
  [[nodiscard]] absl::Status ForEachRevision(const RevisionVisitor& visit) const;
  // What `etcdctl snapshot status` reports for this file.
  [[nodiscard]] absl::StatusOr<BackupStatus> Status() const;

 private:
  BackupReader(std::unique_ptr<bbolt::Reader> db, bool has_hash)
      : db_(std::move(db)), has_hash_(has_hash) {}
  absl::Status ReadFacts();
  std::unique_ptr<bbolt::Reader> db_;
  bool has_hash_;
  BackupFacts facts_;
};

}  // namespace storage
