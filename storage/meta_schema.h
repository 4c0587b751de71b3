// The meta table: every key the store keeps in its "meta" column family
// beside the key space, and how each value is encoded. This header is the
// only place a meta key is spelled; a tool that reads or writes a data dir
// (restore, inspect) needs nothing else to understand it.
//
// The encodings are on-disk formats: existing data dirs must keep opening,
// so a change here is a format change and needs a migration.
//
//   key                          value                        written by
//   rev                          Int64 (8 bytes big endian)   WriteBatch::Commit
//   applied_index                Int64                        WriteBatch::Commit
//   compact_rev                  Int64                        WriteBatch::Compact
//   compact_finished             Int64                        the compactor
//   live_index                   "1" once the live column     MvccStore::Open
//                                family is complete
//   live_keys                    Int64: keys in the live      WriteBatch::Commit (when
//                                column family                it changed), the index
//                                                             builders; counted once
//                                                             by Open if absent
//   lease_key/<lease>/<key>      "" (the key is attached)     WriteTxn
//   cluster_id, member_id        Id (lower-case hex, no       identity.h; member_id
//                                leading zeros)               also the snapshot inbox
//   raft_snapshot                raftpb.SnapshotMetadata of   the snapshot inbox
//                                the snapshot the store was
//                                installed from
//   member/<id>                  serverpb.MemberAttributes    the applier (published
//                                                             attributes)
//   raft_member/<id>             serverpb.MemberAttributes    the raft loop (applied
//                                                             conf changes)
//   lease/<id>                   serverpb.LeaseRecord         the lessor
//   removed_member/<id>          "" (the id was removed;      the raft loop (applied
//                                never accepted again)        conf changes)
//   auth_enabled                 "1" while auth is enabled,   the auth store
//                                "0" after AuthDisable
//                                (absent: never enabled)
//   auth_revision                Int64 (etcd's auth revision) the auth store
//   auth_user/<name>             authpb.User (bcrypt hash)    the auth store
//   auth_role/<name>             authpb.Role                  the auth store
//   alarm/<id>/<type>            "" (an active alarm: member  the applier (Alarm
//                                <id> raised etcdserverpb.     requests, as etcd's
//                                AlarmType <type>, decimal)    alarm bucket)
// <id> and <lease> are 16 lower-case hex digits (a negative lease id as its
// two's complement), so that a prefix scan lists records in id order.
// Thread-safety: pure functions and constants.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace storage {

// ---- the store's own bookkeeping (Int64 values)
inline constexpr char kMetaRev[] = "rev";
inline constexpr char kMetaAppliedIndex[] = "applied_index";
inline constexpr char kMetaCompactRev[] = "compact_rev";
inline constexpr char kMetaCompactFinished[] = "compact_finished";
// Present once the live column family holds every live key.
inline constexpr char kMetaLiveIndex[] = "live_index";
inline constexpr char kMetaLiveIndexDone[] = "1";
// How many keys are live (etcd's keys_total): kept with every batch that
// creates or deletes a key, so that it is known at open without a scan.
inline constexpr char kMetaLiveKeys[] = "live_keys";

// 8 bytes, big endian. Decoding reads at most 8 bytes; a shorter value
// decodes as its bytes so far (as the store always has).
std::string EncodeMetaInt64(int64_t v);
int64_t DecodeMetaInt64(std::string_view s);

// ---- the lease attachment index (empty values)
inline constexpr char kLeaseKeyMetaPrefix[] = "lease_key/";
// "lease_key/<lease>/": every key attached to `lease` starts with it.
std::string LeaseKeysMetaPrefix(int64_t lease);
std::string LeaseKeyMetaKey(int64_t lease, std::string_view key);

// ---- identity (Id values)
inline constexpr char kMetaClusterId[] = "cluster_id";
inline constexpr char kMetaMemberId[] = "member_id";
std::string EncodeMetaId(uint64_t id);
// nullopt if `s` is not hex or does not fit in 64 bits.
std::optional<uint64_t> DecodeMetaId(std::string_view s);

// ---- the raft snapshot the store was installed from (a serialized
// raftpb.SnapshotMetadata), so that a crash between the store swap and the
// raft log's snapshot marker is finished at start.
inline constexpr char kMetaRaftSnapshot[] = "raft_snapshot";

// ---- replicated records (serialized protobufs; see the table above)
inline constexpr char kMemberMetaPrefix[] = "member/";
inline constexpr char kRaftMemberMetaPrefix[] = "raft_member/";
inline constexpr char kLeaseMetaPrefix[] = "lease/";
inline constexpr char kRemovedMemberMetaPrefix[] = "removed_member/";
std::string MemberMetaKey(uint64_t member_id);
std::string RaftMemberMetaKey(uint64_t member_id);
std::string RemovedMemberMetaKey(uint64_t member_id);
std::string LeaseMetaKey(int64_t lease);

// ---- auth (users, roles, the enabled flag and etcd's auth revision;
// auth_records.h decodes and encodes the records).
// <name> is the user's or role's name as given (any bytes), so a prefix scan
// lists them in etcd's byte order.
inline constexpr char kMetaAuthEnabled[] = "auth_enabled";
inline constexpr char kMetaAuthEnabledOn[] = "1";
// Written by AuthDisable, as etcd keeps authEnabled=0; any value but "1"
// reads as disabled.
inline constexpr char kMetaAuthEnabledOff[] = "0";
inline constexpr char kMetaAuthRevision[] = "auth_revision";
inline constexpr char kAuthUserMetaPrefix[] = "auth_user/";
inline constexpr char kAuthRoleMetaPrefix[] = "auth_role/";
std::string AuthUserMetaKey(std::string_view name);
std::string AuthRoleMetaKey(std::string_view name);

// ---- active alarms (empty values): one key per (member, alarm type).
inline constexpr char kAlarmMetaPrefix[] = "alarm/";
std::string AlarmMetaKey(uint64_t member_id, int alarm_type);
struct AlarmKey {
  uint64_t member_id = 0;
  int alarm_type = 0;
};
// nullopt for a key that AlarmMetaKey did not make.
std::optional<AlarmKey> DecodeAlarmMetaKey(std::string_view key);

}  // namespace storage
