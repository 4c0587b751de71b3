// AlarmStore: the cluster's active alarms (etcd's v3alarm.AlarmStore), one
// per (member id, alarm type), kept in the store's meta table
// (storage::AlarmMetaKey) so that they survive restarts and travel with a
// raft snapshot (a checkpoint of the store), and mirrored in memory for the
// readers on every request path (the applier's guards, Status, /health).
//
// Alarms change only by applying an Alarm request from the raft log
// (Apply), so every member holds the same set at the same index. Apply
// follows etcd 3.4's applierV3backend.Alarm: GET lists the alarms of the
// request's type (NONE: all), ACTIVATE adds one and answers it (the one
// already there, if any), DEACTIVATE removes one and answers it (nothing
// when there was none). The memory copy changes when Apply runs, before the
// batch commits: a batch that fails to commit stops the member, so the two
// never disagree in a running member.
//
// Thread-safety: all methods are thread-safe; Apply and Reload run on the
// apply loop only.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "base/logger.h"
#include "etcdserverpb/rpc.pb.h"
#include "storage/mvcc_store.h"

namespace server {

class AlarmStore {
 public:
  // `logger` (may be null) gets etcd's "alarm raised" / "alarm disarmed".
  explicit AlarmStore(base::Logger* logger = nullptr) : logger_(logger) {}

  // Reads the alarms recorded in `store` (at start, after a snapshot).
  void Reload(const storage::MvccStore& store);

  // Applies one replicated Alarm request inside `batch` (see above).
  [[nodiscard]] absl::StatusOr<etcdserverpb::AlarmResponse> Apply(
      storage::WriteBatch& batch, const etcdserverpb::AlarmRequest& r);

  // The active alarms of `type` (NONE: every one), by member id then type.
  std::vector<etcdserverpb::AlarmMember> Get(etcdserverpb::AlarmType type) const;
  bool Active(etcdserverpb::AlarmType type) const;

 private:
  using Key = std::pair<int, uint64_t>;  // (alarm type, member id)
  // Recomputes active_types_ from active_; with mu_ held.
  void PublishTypes();

  base::Logger* const logger_;
  mutable std::mutex mu_;
  std::map<Key, etcdserverpb::AlarmMember> active_;  // guarded by mu_
  // Bit t set while an alarm of type t is active: Active() is on every
  // write's path and reads only this.
  std::atomic<uint32_t> active_types_{0};
};

// What etcd's Status.errors and logs print for an alarm: the gogo-protobuf
// compact text of the AlarmMember ("memberID:<decimal> alarm:NOSPACE ").
std::string AlarmText(const etcdserverpb::AlarmMember& m);

}  // namespace server
