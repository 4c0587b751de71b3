// The backup decoder: an etcd backup file back into BackupFacts and a
// revision stream.
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "serverpb/internal.pb.h"
#include "storage/bbolt/file.h"
#include "storage/crc32c.h"
#include "storage/etcd_backup.h"
#include "storage/meta_schema.h"

namespace storage {
namespace {

namespace schema = etcd_schema;

using KeyValueVisitor = std::function<absl::Status(std::string_view key, std::string_view value)>;

absl::Status Malformed(std::string_view bucket, std::string_view key, std::string_view what) {
  return absl::DataLossError(absl::StrCat("backup: bucket '", std::string(bucket), "' key '",
                                          bbolt::Printable(key), "': ", std::string(what)));
}

// Visits the plain keys of top-level bucket `name`; a missing bucket has none.
absl::Status VisitBucket(const bbolt::Reader& db, std::string_view name,
                         const KeyValueVisitor& visit) {
  std::vector<std::string> path{std::string(name)};
  absl::StatusOr<bool> exists = db.HasBucket(path);
  if (!exists.ok() || !*exists) return exists.status();
  return db.ForEach(path, [&](std::string_view k, std::string_view v, bool is_bucket) {
    if (is_bucket) return Malformed(name, k, "a nested bucket where etcd keeps none");
    return visit(k, v);
  });
}

template <typename Proto>
absl::Status ParseProto(std::string_view bytes, Proto* out, std::string_view bucket,
                        std::string_view key) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Malformed(bucket, key, absl::StrCat("not a valid ", out->GetTypeName()));
  }
  return absl::OkStatus();
}

absl::Status ReadMeta(const bbolt::Reader& db, BackupFacts* f) {
  return VisitBucket(db, schema::kMetaBucket, [&](std::string_view k, std::string_view v) {
    if (k == schema::kConsistentIndexKey) {
      std::optional<uint64_t> index = schema::DecodeU64BigEndian(v);
      if (!index) return Malformed(schema::kMetaBucket, k, "not 8 bytes");
      f->consistent_index = *index;
    } else if (k == schema::kFinishedCompactKey || k == schema::kScheduledCompactKey) {
      std::optional<schema::RevisionKey> rev = schema::DecodeRevisionKey(v);
      if (!rev || rev->tombstone) return Malformed(schema::kMetaBucket, k, "not a revision");
      (k == schema::kFinishedCompactKey ? f->compact_rev : f->scheduled_compact_rev) = rev->rev.main;
    }
    return absl::OkStatus();
  });
}

absl::Status ReadLeases(const bbolt::Reader& db, BackupFacts* f) {
  return VisitBucket(db, schema::kLeaseBucket, [&](std::string_view k, std::string_view v) {
    if (!schema::DecodeU64BigEndian(k)) return Malformed(schema::kLeaseBucket, k, "not 8 bytes");
    serverpb::LeaseRecord rec;  // leasepb.Lease's wire format
    if (absl::Status s = ParseProto(v, &rec, schema::kLeaseBucket, k); !s.ok()) return s;
    f->leases.push_back(BackupLease{rec.id(), rec.ttl(), rec.remaining_ttl()});
    return absl::OkStatus();
  });
}

absl::Status ReadMembership(const bbolt::Reader& db, BackupFacts* f) {
  absl::Status s = VisitBucket(db, schema::kMembersBucket, [&](std::string_view k, std::string_view v) {
    absl::StatusOr<BackupMember> m = schema::DecodeMemberJson(v);
    if (!m.ok()) return Malformed(schema::kMembersBucket, k, std::string(m.status().message()));
    if (EncodeMetaId(m->id) != k) return Malformed(schema::kMembersBucket, k, "id does not match");
    f->members.push_back(std::move(*m));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  s = VisitBucket(db, schema::kMembersRemovedBucket, [&](std::string_view k, std::string_view) {
    std::optional<uint64_t> id = DecodeMetaId(k);
    if (!id) return Malformed(schema::kMembersRemovedBucket, k, "not a hex member id");
    f->removed_members.push_back(*id);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return VisitBucket(db, schema::kClusterBucket, [&](std::string_view k, std::string_view v) {
    if (k == schema::kClusterVersionKey) f->cluster_version.assign(v);
    return absl::OkStatus();
  });
}

absl::Status ReadAuth(const bbolt::Reader& db, BackupFacts* f) {
  f->auth.revision = 0;  // absent: etcd's auth store never started
  absl::Status s = VisitBucket(db, schema::kAuthBucket, [&](std::string_view k, std::string_view v) {
    if (k == schema::kAuthEnabledKey) {
      // etcd's test: exactly the byte 1 is on.
      f->auth.flag_recorded = true;
      f->auth.enabled = v == std::string_view("\1", 1);
    }
    if (k != schema::kAuthRevisionKey) return absl::OkStatus();
    std::optional<uint64_t> rev = schema::DecodeU64BigEndian(v);
    if (!rev) return Malformed(schema::kAuthBucket, k, "not 8 bytes");
    f->auth.revision = *rev;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  s = VisitBucket(db, schema::kAuthUsersBucket, [&](std::string_view k, std::string_view v) {
    return ParseProto(v, &f->auth.users.emplace_back(), schema::kAuthUsersBucket, k);
  });
  if (!s.ok()) return s;
  return VisitBucket(db, schema::kAuthRolesBucket, [&](std::string_view k, std::string_view v) {
    return ParseProto(v, &f->auth.roles.emplace_back(), schema::kAuthRolesBucket, k);
  });
}

absl::Status ReadAlarms(const bbolt::Reader& db, BackupFacts* f) {
  return VisitBucket(db, schema::kAlarmBucket, [&](std::string_view k, std::string_view) {
    return ParseProto(k, &f->alarms.emplace_back(), schema::kAlarmBucket, k);
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<BackupReader>> BackupReader::Open(const std::string& path,
                                                                 const BackupReadOptions& options) {
  absl::StatusOr<bbolt::File> file = bbolt::File::OpenForRead(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<uint64_t> size = file->Size();
  if (!size.ok()) return size.status();
  bool has_hash = BackupHasHashTrailer(*size);
  if (!has_hash && !options.skip_hash_check) {
    return absl::FailedPreconditionError(absl::StrCat(
        "backup ", path, ": no sha256 trailer (", *size,
        " bytes is not a multiple of 512 plus 32): a truncated backup, or a db file copied "
        "from a data dir (which needs the hash check skipped)"));
  }
  uint64_t length = has_hash ? *size - kBackupHashSize : *size;
  if (has_hash && !options.skip_hash_check) {
    absl::StatusOr<std::string> actual = file->Sha256(length);
    if (!actual.ok()) return actual.status();
    std::string expected;
    if (absl::Status s = file->ReadAt(length, kBackupHashSize, &expected); !s.ok()) return s;
    if (*actual != expected) {
      return absl::DataLossError(absl::StrCat("backup ", path, ": sha256 mismatch: the trailer says ",
                                              absl::BytesToHexString(expected), ", the content hashes to ",
                                              absl::BytesToHexString(*actual)));
    }
  }
  absl::StatusOr<std::unique_ptr<bbolt::Reader>> db = bbolt::Reader::Open(path, length);
  if (!db.ok()) return db.status();
  std::unique_ptr<BackupReader> reader(new BackupReader(std::move(*db), has_hash));
  if (absl::Status s = reader->ReadFacts(); !s.ok()) return s;
  return reader;
}

absl::Status BackupReader::ReadFacts() {
  for (const char* name : {schema::kKeyBucket, schema::kMetaBucket}) {
    absl::StatusOr<bool> exists = db_->HasBucket({name});
    if (!exists.ok()) return exists.status();
    if (!*exists) {
      return absl::DataLossError(absl::StrCat("backup: no '", name, "' bucket: not an etcd backup"));
    }
  }
  absl::Status s = ReadMeta(*db_, &facts_);
  if (s.ok()) s = ReadLeases(*db_, &facts_);
  if (s.ok()) s = ReadMembership(*db_, &facts_);
  if (s.ok()) s = ReadAuth(*db_, &facts_);
  if (s.ok()) s = ReadAlarms(*db_, &facts_);
  return s;
}

absl::Status BackupReader::ForEachRevision(const RevisionVisitor& visit) const {
  BackupRevision r;
  return VisitBucket(*db_, schema::kKeyBucket, [&](std::string_view k, std::string_view v) {
    std::optional<schema::RevisionKey> key = schema::DecodeRevisionKey(k);
    if (!key) return Malformed(schema::kKeyBucket, k, "not a revision");
    r.rev = key->rev;
    r.tombstone = key->tombstone;
    if (absl::Status s = ParseProto(v, &r.kv, schema::kKeyBucket, k); !s.ok()) return s;
    return visit(r);
  });
}

absl::StatusOr<BackupStatus> BackupReader::Status() const {
  BackupStatus st;
  st.total_size = static_cast<int64_t>(db_->size());
  absl::Status s = db_->ForEach({}, [&](std::string_view name, std::string_view, bool is_bucket) {
    if (!is_bucket) return Malformed("", name, "a key outside any bucket");
    st.hash = Crc32cExtend(st.hash, name.data(), name.size());
    bool key_bucket = name == schema::kKeyBucket;
    return db_->ForEach({std::string(name)}, [&](std::string_view k, std::string_view v, bool nested) {
      st.hash = Crc32cExtend(st.hash, k.data(), k.size());
      if (!nested) st.hash = Crc32cExtend(st.hash, v.data(), v.size());  // bbolt shows nil
      ++st.total_keys;
      if (key_bucket) {
        std::optional<schema::RevisionKey> key = schema::DecodeRevisionKey(k);
        if (!key) return Malformed(name, k, "not a revision");
        st.revision = key->rev.main;
      }
      return absl::OkStatus();
    });
  });
  if (!s.ok()) return s;
  return st;
}

}  // namespace storage
