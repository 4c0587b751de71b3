// Applier: etcd's KV request semantics (Range options, Put flags, DeleteRange,
// Txn compares and nesting, Compaction) on top of storage::MvccStore.
//
// Pure with respect to its inputs: given the same store state and request it
// produces the same effects and response, which is what lets every member of
// a cluster apply the same log and agree. Responses carry only
// header.revision; the service edge fills cluster_id, member_id and raft_term.
// Thread-safety: the read functions may run on any thread against their own
// view; ApplyEntry runs only on the apply loop.
#pragma once

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"
#include "serverpb/internal.pb.h"
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

// Where a member's announced attributes live in the store's meta table.
std::string MemberMetaKey(uint64_t member_id);
inline constexpr char kMemberMetaPrefix[] = "member/";

// Answers whether a lease id is currently granted (the lessor's view).
using LeaseLookup = std::function<bool(int64_t lease_id)>;

class Lessor;

class Applier {
 public:
  explicit Applier(LeaseLookup lease_exists) : lease_exists_(std::move(lease_exists)) {}
  // Lease grants, revokes and checkpoints are applied through `lessor`
  // (without one they fail); set before the first ApplyEntry.
  void SetLessor(Lessor* lessor) { lessor_ = lessor; }

  [[nodiscard]] absl::StatusOr<etcdserverpb::RangeResponse> Range(
      KvAccess& kv, const etcdserverpb::RangeRequest& r) const;
  [[nodiscard]] absl::StatusOr<etcdserverpb::PutResponse> Put(
      KvAccess& kv, const etcdserverpb::PutRequest& r) const;
  [[nodiscard]] absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      KvAccess& kv, const etcdserverpb::DeleteRangeRequest& r) const;
  [[nodiscard]] absl::StatusOr<etcdserverpb::TxnResponse> Txn(
      KvAccess& kv, const etcdserverpb::TxnRequest& r) const;

  // Serves a read (Range or read-only Txn) from a consistent snapshot.
  [[nodiscard]] absl::StatusOr<etcdserverpb::RangeResponse> ReadRange(
      const storage::MvccStore& store, const etcdserverpb::RangeRequest& r) const;
  [[nodiscard]] absl::StatusOr<etcdserverpb::TxnResponse> ReadTxn(
      const storage::MvccStore& store, const etcdserverpb::TxnRequest& r) const;

  // Applies one replicated request as one txn of `batch`. An error leaves the
  // batch without any change from this request.
  [[nodiscard]] absl::StatusOr<serverpb::InternalResponse> ApplyEntry(
      storage::WriteBatch& batch, const serverpb::InternalRequest& req) const;

 private:
  absl::Status CheckPath(KvAccess& kv, const etcdserverpb::TxnRequest& r,
                         const std::vector<bool>& path, size_t* pos) const;
  absl::Status ApplyOps(KvAccess& kv, const etcdserverpb::TxnRequest& r,
                        const std::vector<bool>& path, size_t* pos,
                        etcdserverpb::TxnResponse* resp) const;

  LeaseLookup lease_exists_;
  Lessor* lessor_ = nullptr;
};

}  // namespace server
