// Auth records: etcd's auth store contents (users, roles, the enabled flag,
// the auth revision) as the meta table keeps them (meta_schema.h: auth_*).
// The one decoder and encoder of those records, shared by the server's auth
// store (which reloads them), the backup source (which copies them into a
// backup's auth buckets) and restore (which writes a backup's into a new
// data dir), so that none of them spells the encoding.
//
// Contract
// - ReadAuthRecords lists the records through `list` (a ListMeta of a
//   store or of a ReadView: a view gives the records of its moment).
//   Users and roles come in name order (bytewise). A store that never
//   recorded a revision reads as etcd's fresh auth store: revision 1.
//   `flag_recorded` tells whether the enabled flag was ever written (etcd
//   writes authEnabled at the first AuthEnable and keeps it, as 0, after
//   AuthDisable). DataLoss naming the key for a record that does not parse.
// - PutAuthRecords writes every record of `records` into a batch of a store
//   that holds none yet (a restore); a revision of 0 (a backend whose auth
//   store never started) is left unwritten, so the store reads as fresh.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "authpb/auth.pb.h"

namespace storage {

class WriteBatch;

struct AuthRecords {
  bool enabled = false;
  bool flag_recorded = false;  // the enabled flag is on disk (on or off)
  uint64_t revision = 1;
  std::vector<authpb::User> users;  // name order
  std::vector<authpb::Role> roles;  // name order
};

using MetaLister =
    std::function<std::vector<std::pair<std::string, std::string>>(std::string_view prefix)>;

[[nodiscard]] absl::StatusOr<AuthRecords> ReadAuthRecords(const MetaLister& list);
[[nodiscard]] absl::Status PutAuthRecords(WriteBatch& batch, const AuthRecords& records);

}  // namespace storage
