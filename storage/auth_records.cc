#include "storage/auth_records.h"

#include "absl/strings/str_cat.h"
#include "storage/meta_schema.h"
#include "storage/mvcc_store.h"

namespace storage {
namespace {

// Parses every record under `prefix` into `out`, in key (= name) order.
template <typename Proto>
absl::Status ReadNamed(const MetaLister& list, std::string_view prefix, std::vector<Proto>* out) {
  for (const auto& [k, v] : list(prefix)) {
    Proto& rec = out->emplace_back();
    if (!rec.ParseFromString(v)) return absl::DataLossError(absl::StrCat("unreadable auth record ", k));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AuthRecords> ReadAuthRecords(const MetaLister& list) {
  AuthRecords r;
  // Both are prefix scans: take the exact key only.
  for (const auto& [k, v] : list(kMetaAuthEnabled)) {
    if (k != kMetaAuthEnabled) continue;
    r.flag_recorded = true;
    r.enabled = v == kMetaAuthEnabledOn;
  }
  for (const auto& [k, v] : list(kMetaAuthRevision)) {
    if (k == kMetaAuthRevision) r.revision = static_cast<uint64_t>(DecodeMetaInt64(v));
  }
  if (auto s = ReadNamed(list, kAuthUserMetaPrefix, &r.users); !s.ok()) return s;
  if (auto s = ReadNamed(list, kAuthRoleMetaPrefix, &r.roles); !s.ok()) return s;
  return r;
}

absl::Status PutAuthRecords(WriteBatch& batch, const AuthRecords& records) {
  if (records.enabled || records.flag_recorded) {
    auto s = batch.PutMeta(kMetaAuthEnabled, records.enabled ? kMetaAuthEnabledOn : kMetaAuthEnabledOff);
    if (!s.ok()) return s;
  }
  if (records.revision != 0) {
    auto s = batch.PutMeta(kMetaAuthRevision, EncodeMetaInt64(static_cast<int64_t>(records.revision)));
    if (!s.ok()) return s;
  }
  for (const authpb::User& u : records.users) {
    if (auto s = batch.PutMeta(AuthUserMetaKey(u.name()), u.SerializeAsString()); !s.ok()) return s;
  }
  for (const authpb::Role& r : records.roles) {
    if (auto s = batch.PutMeta(AuthRoleMetaKey(r.name()), r.SerializeAsString()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace storage
