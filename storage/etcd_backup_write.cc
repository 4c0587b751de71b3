// The backup encoder: BackupFacts and a revision stream into a bbolt file.
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "serverpb/internal.pb.h"
#include "storage/bbolt/file.h"
#include "storage/crc32c.h"
#include "storage/etcd_backup.h"
#include "storage/meta_schema.h"

namespace storage {
namespace {

namespace schema = etcd_schema;

// Writes the top-level buckets and keeps, over what it writes, the status
// `etcdctl snapshot status` will compute from the file.
class BucketWriter {
 public:
  explicit BucketWriter(bbolt::Writer* w) : w_(w) {}

  // Writes bucket `name`; `fill` puts its keys through Put().
  template <typename Fill>
  absl::Status Bucket(std::string_view name, Fill fill) {
    crc_ = Crc32cExtend(crc_, name.data(), name.size());
    in_key_bucket_ = name == schema::kKeyBucket;
    if (absl::Status s = w_->BeginBucket(name); !s.ok()) return s;
    if (absl::Status s = fill(); !s.ok()) return s;
    return w_->EndBucket();
  }

  absl::Status Put(std::string_view key, std::string_view value) {
    crc_ = Crc32cExtend(crc_, key.data(), key.size());
    crc_ = Crc32cExtend(crc_, value.data(), value.size());
    ++total_keys_;
    if (in_key_bucket_) revision_ = schema::DecodeRevisionKey(key)->rev.main;
    return w_->Put(key, value);
  }

  // Sorts (key, value) pairs bytewise by key and puts them.
  absl::Status PutSorted(std::vector<std::pair<std::string, std::string>> kvs) {
    std::sort(kvs.begin(), kvs.end());
    for (const auto& [k, v] : kvs) {
      if (absl::Status s = Put(k, v); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  BackupStatus status() const {
    return BackupStatus{crc_, revision_, total_keys_,
                        static_cast<int64_t>(w_->page_count() * bbolt::kPageSize)};
  }

 private:
  bbolt::Writer* w_;
  uint32_t crc_ = 0;
  bool in_key_bucket_ = false;
  int64_t revision_ = 0;
  int64_t total_keys_ = 0;
};

absl::Status CheckRevision(const BackupRevision& r, Revision last, bool first) {
  if (r.rev.main < 1 || r.rev.sub < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("backup: invalid revision ", r.rev.main, "_", r.rev.sub));
  }
  if (!first && r.rev <= last) {
    return absl::InvalidArgumentError(absl::StrCat("backup: revision ", r.rev.main, "_", r.rev.sub,
                                                   " after ", last.main, "_", last.sub));
  }
  if (!r.tombstone && r.kv.mod_revision() != r.rev.main) {
    return absl::InvalidArgumentError(absl::StrCat("backup: revision ", r.rev.main, "_", r.rev.sub,
                                                   " carries mod_revision ", r.kv.mod_revision()));
  }
  return absl::OkStatus();
}

absl::Status WriteKeyBucket(BucketWriter* out, const RevisionSource& revisions) {
  Revision last;
  bool first = true;
  std::string value;
  return revisions([&](const BackupRevision& r) -> absl::Status {
    if (absl::Status s = CheckRevision(r, last, first); !s.ok()) return s;
    last = r.rev;
    first = false;
    if (r.tombstone) {
      mvccpb::KeyValue deleted;
      deleted.set_key(r.kv.key());
      deleted.SerializeToString(&value);
    } else {
      r.kv.SerializeToString(&value);
    }
    return out->Put(schema::EncodeRevisionKey(r.rev, r.tombstone), value);
  });
}

absl::Status WriteAuthBuckets(BucketWriter* out, const BackupFacts& f) {
  absl::Status s = out->Bucket(schema::kAuthBucket, [&]() -> absl::Status {
    // etcd writes authEnabled at the first AuthEnable (1) and AuthDisable
    // (0), authRevision when its auth store first starts.
    if (f.auth.enabled || f.auth.flag_recorded) {
      const std::string flag(1, f.auth.enabled ? '\1' : '\0');
      if (absl::Status s = out->Put(schema::kAuthEnabledKey, flag); !s.ok()) return s;
    }
    if (f.auth.revision == 0) return absl::OkStatus();
    return out->Put(schema::kAuthRevisionKey, schema::EncodeU64BigEndian(f.auth.revision));
  });
  if (!s.ok()) return s;
  s = out->Bucket(schema::kAuthRolesBucket, [&] {
    std::vector<std::pair<std::string, std::string>> kvs;
    for (const authpb::Role& r : f.auth.roles) kvs.emplace_back(r.name(), r.SerializeAsString());
    return out->PutSorted(std::move(kvs));
  });
  if (!s.ok()) return s;
  return out->Bucket(schema::kAuthUsersBucket, [&] {
    std::vector<std::pair<std::string, std::string>> kvs;
    for (const authpb::User& u : f.auth.users) kvs.emplace_back(u.name(), u.SerializeAsString());
    return out->PutSorted(std::move(kvs));
  });
}

absl::Status WriteMembershipBuckets(BucketWriter* out, const BackupFacts& f) {
  absl::Status s = out->Bucket(schema::kMembersBucket, [&] {
    std::vector<std::pair<std::string, std::string>> kvs;
    for (const BackupMember& m : f.members) {
      kvs.emplace_back(EncodeMetaId(m.id), schema::EncodeMemberJson(m));
    }
    return out->PutSorted(std::move(kvs));
  });
  if (!s.ok()) return s;
  return out->Bucket(schema::kMembersRemovedBucket, [&] {
    std::vector<std::pair<std::string, std::string>> kvs;
    for (uint64_t id : f.removed_members) {
      kvs.emplace_back(EncodeMetaId(id), schema::kMemberRemovedValue);
    }
    return out->PutSorted(std::move(kvs));
  });
}

absl::Status WriteMetaBucket(BucketWriter* out, const BackupFacts& f) {
  return out->Bucket(schema::kMetaBucket, [&]() -> absl::Status {
    std::string index = schema::EncodeU64BigEndian(f.consistent_index);
    if (absl::Status s = out->Put(schema::kConsistentIndexKey, index); !s.ok()) return s;
    if (f.compact_rev > 0) {
      std::string rev = schema::EncodeRevisionKey({f.compact_rev, 0}, false);
      if (absl::Status s = out->Put(schema::kFinishedCompactKey, rev); !s.ok()) return s;
    }
    int64_t scheduled = std::max(f.compact_rev, f.scheduled_compact_rev);
    if (scheduled <= 0) return absl::OkStatus();
    return out->Put(schema::kScheduledCompactKey, schema::EncodeRevisionKey({scheduled, 0}, false));
  });
}

// Every bucket, in bytewise name order as the writer requires.
absl::Status WriteBuckets(BucketWriter* out, const BackupFacts& f,
                          const RevisionSource& revisions) {
  absl::Status s = out->Bucket(schema::kAlarmBucket, [&] {
    std::vector<std::pair<std::string, std::string>> kvs;
    for (const etcdserverpb::AlarmMember& a : f.alarms) kvs.emplace_back(a.SerializeAsString(), "");
    return out->PutSorted(std::move(kvs));
  });
  if (s.ok()) s = WriteAuthBuckets(out, f);
  if (s.ok()) {
    s = out->Bucket(schema::kClusterBucket, [&] {
      if (f.cluster_version.empty()) return absl::OkStatus();
      return out->Put(schema::kClusterVersionKey, f.cluster_version);
    });
  }
  if (s.ok()) s = out->Bucket(schema::kKeyBucket, [&] { return WriteKeyBucket(out, revisions); });
  if (s.ok()) {
    s = out->Bucket(schema::kLeaseBucket, [&] {
      std::vector<std::pair<std::string, std::string>> kvs;
      for (const BackupLease& l : f.leases) {
        // serverpb.LeaseRecord has leasepb.Lease's wire format (fields 1-3).
        serverpb::LeaseRecord rec;
        rec.set_id(l.id);
        rec.set_ttl(l.ttl);
        rec.set_remaining_ttl(l.remaining_ttl);
        kvs.emplace_back(schema::EncodeU64BigEndian(static_cast<uint64_t>(l.id)),
                         rec.SerializeAsString());
      }
      return out->PutSorted(std::move(kvs));
    });
  }
  if (s.ok()) s = WriteMembershipBuckets(out, f);
  if (s.ok()) s = WriteMetaBucket(out, f);
  return s;
}

}  // namespace

bool BackupHasHashTrailer(uint64_t file_size) { return file_size % 512 == kBackupHashSize; }

absl::StatusOr<EncodedBackup> EncodeBackup(const BackupFacts& facts,
                                           const RevisionSource& revisions,
                                           bbolt::PageSink* sink) {
  bbolt::Writer writer(sink);
  BucketWriter out(&writer);
  if (absl::Status s = WriteBuckets(&out, facts, revisions); !s.ok()) return s;
  absl::StatusOr<std::string> metas = writer.Finish();
  if (!metas.ok()) return metas.status();
  EncodedBackup encoded;
  encoded.meta_pages = std::move(*metas);
  encoded.size = writer.page_count() * bbolt::kPageSize;
  encoded.status = out.status();
  return encoded;
}

absl::StatusOr<BackupStatus> WriteBackupFile(const std::string& path, const BackupFacts& facts,
                                             const RevisionSource& revisions) {
  absl::StatusOr<bbolt::File> file = bbolt::File::Create(path);
  if (!file.ok()) return file.status();
  auto write = [&]() -> absl::StatusOr<BackupStatus> {
    bbolt::FileSink sink(&*file);
    absl::StatusOr<EncodedBackup> encoded = EncodeBackup(facts, revisions, &sink);
    if (!encoded.ok()) return encoded.status();
    if (absl::Status s = sink.Finish(encoded->meta_pages); !s.ok()) return s;
    absl::StatusOr<std::string> sha = file->Sha256(encoded->size);
    if (!sha.ok()) return sha.status();
    if (absl::Status s = file->WriteAt(encoded->size, *sha); !s.ok()) return s;
    if (absl::Status s = file->Sync(); !s.ok()) return s;
    return encoded->status;
  };
  absl::StatusOr<BackupStatus> status = write();
  if (!status.ok()) ::unlink(path.c_str());
  return status;
}

}  // namespace storage
