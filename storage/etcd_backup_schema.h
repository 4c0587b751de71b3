// etcd 3.4's backend schema: the buckets of a bbolt backend file
// (member/snap/db, and the backup `etcdctl snapshot save` writes) and how
// each key and value is encoded. This header is the only place these names
// and encodings are spelled; etcd_backup.h reads and writes them.
//
//   bucket           key                               value
//   alarm            etcdserverpb.AlarmMember           "" (empty)
//   auth             "authEnabled"                     1 byte: 1 on, 0 off (absent: off)
//                    "authRevision"                    u64 big endian
//   authRoles        role name                         authpb.Role
//   authUsers        user name                         authpb.User
//   cluster          "clusterVersion"                  "3.4.0" (semver text)
//   key              main u64 BE | '_' | sub u64 BE,   mvccpb.KeyValue; a deletion's
//                    then 't' for a deletion           value holds only the key
//   lease            lease id u64 BE                   leasepb.Lease {ID=1, TTL=2,
//                                                      RemainingTTL=3}
//   members          member id, lower-case hex         JSON {"id":<decimal>,
//                                                      "peerURLs":[...],"isLearner":
//                                                      true?,"name":..?,"clientURLs":[..]?}
//   members_removed  member id, lower-case hex         "removed"
//   meta             "consistent_index"                u64 big endian
//                    "finishedCompactRev"              a revision key {rev, 0}
//                    "scheduledCompactRev"             a revision key {rev, 0}
// (mvcc/revision.go, mvcc/kvstore.go, kvstore_compaction.go, lease/lessor.go,
// auth/store.go, etcdserver/api/membership/store.go, v3alarm/alarms.go.)
// The member JSON is Go's encoding/json of membership.Member: fields in that
// order, "isLearner", "name" and "clientURLs" left out when empty, a nil
// peer list as null, and Go's string escaping (<, >, & as \u003c...).
// Thread-safety: pure functions and constants.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/revision.h"

namespace storage::etcd_schema {

inline constexpr char kAlarmBucket[] = "alarm";
inline constexpr char kAuthBucket[] = "auth";
inline constexpr char kAuthRolesBucket[] = "authRoles";
inline constexpr char kAuthUsersBucket[] = "authUsers";
inline constexpr char kClusterBucket[] = "cluster";
inline constexpr char kKeyBucket[] = "key";
inline constexpr char kLeaseBucket[] = "lease";
inline constexpr char kMembersBucket[] = "members";
inline constexpr char kMembersRemovedBucket[] = "members_removed";
inline constexpr char kMetaBucket[] = "meta";

inline constexpr char kAuthEnabledKey[] = "authEnabled";
inline constexpr char kAuthRevisionKey[] = "authRevision";
inline constexpr char kClusterVersionKey[] = "clusterVersion";
inline constexpr char kConsistentIndexKey[] = "consistent_index";
inline constexpr char kFinishedCompactKey[] = "finishedCompactRev";
inline constexpr char kScheduledCompactKey[] = "scheduledCompactRev";
inline constexpr char kMemberRemovedValue[] = "removed";

// 17 bytes, or 18 with the tombstone marker 't'.
inline constexpr size_t kRevisionKeySize = 17;
std::string EncodeRevisionKey(Revision rev, bool tombstone);
struct RevisionKey {
  Revision rev;
  bool tombstone = false;
};
// nullopt unless `key` is 17 bytes with '_' at [8], or 18 ending in 't'.
std::optional<RevisionKey> DecodeRevisionKey(std::string_view key);

std::string EncodeU64BigEndian(uint64_t v);
// nullopt unless exactly 8 bytes.
std::optional<uint64_t> DecodeU64BigEndian(std::string_view s);

// A member as etcd keeps it (membership.Member).
struct BackupMember {
  uint64_t id = 0;
  std::vector<std::string> peer_urls;
  bool is_learner = false;
  std::string name;
  std::vector<std::string> client_urls;
  bool operator==(const BackupMember&) const = default;
};

std::string EncodeMemberJson(const BackupMember& m);
// InvalidArgument naming what is wrong when `json` is not a member object.
// Unknown fields are skipped.
[[nodiscard]] absl::StatusOr<BackupMember> DecodeMemberJson(std::string_view json);

}  // namespace storage::etcd_schema
