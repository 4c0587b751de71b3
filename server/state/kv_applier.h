// KvApplier: the core Applier (applier.h), etcd's applierV3backend: etcd's
// KV request semantics (Range options, Put flags, DeleteRange, Txn compares
// and nesting, Compaction) on storage::MvccStore, leases through the Lessor
// and member attributes in the store's meta table.
//
// Each KV request runs as one WriteTxn of the entry's batch, and checks
// everything a client can get wrong before its first write, so that a
// refused request leaves no change (see applier.h for the error contract).
// Ownership: borrows the lessor (SetLessor) and the alarm store
// (SetAlarms); owns nothing else.
// Thread-safety: as Applier; SetLessor and SetAlarms before the first entry
// is applied.
#pragma once

#include <atomic>
#include <functional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/state/applier.h"
#include "storage/mvcc_store.h"

namespace server {

// The key space as one request sees it: a read-only view or a write txn.
class KvAccess {
 public:
  virtual ~KvAccess() = default;
  virtual absl::StatusOr<storage::RangeResult> Range(const storage::KeyRange& range,
                                                     const storage::RangeOptions& opts) = 0;
  virtual absl::StatusOr<mvccpb::KeyValue> Put(std::string_view key, std::string_view value,
                                               int64_t lease) = 0;
  virtual absl::StatusOr<std::vector<mvccpb::KeyValue>> DeleteRange(
      const storage::KeyRange& range) = 0;
  // The revision reads see now (including this request's own writes).
  virtual int64_t Rev() const = 0;
  virtual int64_t CompactRev() const = 0;
};

// The key-space operations this member ran, counted as etcd counts them
// (etcd_mvcc_{range,put,delete,txn}_total): each Range, Put and DeleteRange
// of a request (a txn's compares and a put's prev_kv read included), and a
// txn for each request that ran more than one.
struct KvOpCounters {
  std::atomic<uint64_t> range{0};
  std::atomic<uint64_t> put{0};
  std::atomic<uint64_t> del{0};
  std::atomic<uint64_t> txn{0};
};

// Answers whether a lease id is currently granted (the lessor's view).
using LeaseLookup = std::function<bool(int64_t lease_id)>;

class Lessor;
class AlarmStore;

class KvApplier final : public Applier {
 public:
  explicit KvApplier(LeaseLookup lease_exists) : lease_exists_(std::move(lease_exists)) {}
  // Lease grants, revokes and checkpoints are applied through `lessor`
  // (without one they fail with Unimplemented); set before the first entry.
  void SetLessor(Lessor* lessor) { lessor_ = lessor; }
  // Alarm requests are applied through `alarms` (without one they fail
  // with Unimplemented); set before the first entry.
  void SetAlarms(AlarmStore* alarms) { alarms_ = alarms; }
  const KvOpCounters& ops() const { return ops_; }

  absl::StatusOr<etcdserverpb::PutResponse> Put(
      storage::WriteBatch& batch, const etcdserverpb::PutRequest& r) const override;
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      storage::WriteBatch& batch, const etcdserverpb::DeleteRangeRequest& r) const override;
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(
      storage::WriteBatch& batch, const etcdserverpb::TxnRequest& r) const override;
  absl::StatusOr<etcdserverpb::CompactionResponse> Compaction(
      storage::WriteBatch& batch, const etcdserverpb::CompactionRequest& r) const override;
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(
      storage::WriteBatch& batch, const etcdserverpb::LeaseGrantRequest& r) const override;
  absl::StatusOr<etcdserverpb::LeaseRevokeResponse> LeaseRevoke(
      storage::WriteBatch& batch, const etcdserverpb::LeaseRevokeRequest& r) const override;
  absl::StatusOr<etcdserverpb::LeaseCheckpointResponse> LeaseCheckpoint(
      storage::WriteBatch& batch, const etcdserverpb::LeaseCheckpointRequest& r) const override;
  absl::StatusOr<serverpb::MemberAttributes> SetMemberAttributes(
      storage::WriteBatch& batch, const serverpb::MemberAttributes& attrs) const override;
  absl::StatusOr<etcdserverpb::AlarmResponse> Alarm(
      storage::WriteBatch& batch, const etcdserverpb::AlarmRequest& r) const override;
  absl::StatusOr<etcdserverpb::RangeResponse> ReadRange(
      const storage::MvccStore& store, const etcdserverpb::RangeRequest& r) const override;
  absl::StatusOr<etcdserverpb::TxnResponse> ReadTxn(
      const storage::MvccStore& store, const etcdserverpb::TxnRequest& r) const override;

 private:
  // The requests over one view of the key space (a txn's ops run these).
  absl::StatusOr<etcdserverpb::RangeResponse> RangeIn(KvAccess& kv,
                                                      const etcdserverpb::RangeRequest& r) const;
  absl::StatusOr<etcdserverpb::PutResponse> PutIn(KvAccess& kv,
                                                  const etcdserverpb::PutRequest& r) const;
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRangeIn(
      KvAccess& kv, const etcdserverpb::DeleteRangeRequest& r) const;
  absl::StatusOr<etcdserverpb::TxnResponse> TxnIn(KvAccess& kv,
                                                  const etcdserverpb::TxnRequest& r) const;
  absl::Status CheckPath(KvAccess& kv, const etcdserverpb::TxnRequest& r,
                         const std::vector<bool>& path, size_t* pos) const;
  absl::Status ApplyOps(KvAccess& kv, const etcdserverpb::TxnRequest& r,
                        const std::vector<bool>& path, size_t* pos,
                        etcdserverpb::TxnResponse* resp) const;
  absl::Status ApplyOp(KvAccess& kv, const etcdserverpb::RequestOp& op,
                       const std::vector<bool>& path, size_t* pos,
                       etcdserverpb::ResponseOp* out) const;

  LeaseLookup lease_exists_;
  mutable KvOpCounters ops_;
  Lessor* lessor_ = nullptr;
  AlarmStore* alarms_ = nullptr;
};

}  // namespace server
