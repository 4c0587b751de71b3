// Applier: how a replicated request changes the member's state, as etcd's
// apply/ package: an interface with one method per kind of request in the
// raft log (serverpb::InternalRequest), the core implementation over the
// store and the lessor (KvApplier, kv_applier.h), and decorators that wrap
// the core and override only what they guard (the alarms' AlarmGuard,
// alarm_guard.h; later: auth). The
// non-virtual ApplyEntry is the one dispatcher: it turns an InternalRequest
// into the call on the outermost applier, so a decorator is consulted for
// every entry of its kind.
//
// Errors (what RaftMember::Apply does with ApplyEntry's status):
//  - ok: the request's response, handed to the proposer's waiter;
//  - kInternal: storage failed in the middle of the request (the batch may
//    hold part of it). FATAL to the apply loop: the member stops rather
//    than commit or skip half an entry, as a replica that diverged silently
//    would be worse than a crash;
//  - any other code (typed errors from server/state/errors.h and
//    storage/errors.h: kLeaseNotFound, kKeyNotFound, kCompacted, ...): the
//    request's own answer, the same on every member. The entry is consumed,
//    the batch holds no change from it, and the proposer gets the status.
//    A decorator that refuses a request returns such a status and writes
//    nothing. One exception, as in etcd: a write applied past the backend
//    quota keeps its changes and is answered kNoSpace (alarm_guard.h).
//
// Pure with respect to its inputs: given the same store state and request
// every member produces the same effects and response. Responses carry only
// header.revision; the service edge fills cluster_id, member_id, raft_term.
// Thread-safety: the Read* methods may run on any thread against their own
// view; the write methods and ApplyEntry run only on the apply loop.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"
#include "serverpb/internal.pb.h"
#include "storage/mvcc_store.h"

namespace server {

class Applier {
 public:
  virtual ~Applier() = default;

  // ---- replicated requests, each applied inside the entry's `batch`
  [[nodiscard]] virtual absl::StatusOr<etcdserverpb::PutResponse> Put(
      storage::WriteBatch& batch, const etcdserverpb::PutRequest& r) const = 0;
  [[nodiscard]] virtual absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      storage::WriteBatch& batch, const etcdserverpb::DeleteRangeRequest& r) const = 0;
  // A txn's puts and deletes run inside the core's Txn, not through Put and
  // DeleteRange: a decorator guarding writes overrides Txn too (as etcd's
  // auth applier checks every op of a txn).
  [[nodiscard]] virtual absl::StatusOr<etcdserverpb::TxnResponse> Txn(
      storage::WriteBatch& batch, const etcdserverpb::TxnRequest& r) const = 0;
  [[nodiscard]] virtual absl::StatusOr<etcdserverpb::CompactionResponse> Compaction(
      storage::WriteBatch& batch, const etcdserverpb::CompactionRequest& r) const = 0;
  [[nodiscard]] virtual absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(
      storage::WriteBatch& batch, const etcdserverpb::LeaseGrantRequest& r) const = 0;
  [[nodiscard]] virtual absl::StatusOr<etcdserverpb::LeaseRevokeResponse> LeaseRevoke(
      storage::WriteBatch& batch, const etcdserverpb::LeaseRevokeRequest& r) const = 0;
  [[nodiscard]] virtual absl::StatusOr<etcdserverpb::LeaseCheckpointResponse> LeaseCheckpoint(
      storage::WriteBatch& batch, const etcdserverpb::LeaseCheckpointRequest& r) const = 0;
  // A member's name and URLs, as it announced them through the log.
  [[nodiscard]] virtual absl::StatusOr<serverpb::MemberAttributes> SetMemberAttributes(
      storage::WriteBatch& batch, const serverpb::MemberAttributes& attrs) const = 0;
  // Maintenance.Alarm and the alarms members raise (alarms.h).
  [[nodiscard]] virtual absl::StatusOr<etcdserverpb::AlarmResponse> Alarm(
      storage::WriteBatch& batch, const etcdserverpb::AlarmRequest& r) const = 0;

  // ---- reads, served from a consistent snapshot of `store` (not replicated)
  [[nodiscard]] virtual absl::StatusOr<etcdserverpb::RangeResponse> ReadRange(
      const storage::MvccStore& store, const etcdserverpb::RangeRequest& r) const = 0;
  // A read-only txn (see IsTxnReadOnly in request_checks.h).
  [[nodiscard]] virtual absl::StatusOr<etcdserverpb::TxnResponse> ReadTxn(
      const storage::MvccStore& store, const etcdserverpb::TxnRequest& r) const = 0;

  // ---- auth
  // Consulted by ApplyEntry before any entry is applied: a refusal (a typed
  // error) consumes the entry with nothing written. The auth decorator
  // checks the request's auth header against the permissions here.
  [[nodiscard]] virtual absl::Status Admit(const storage::WriteBatch& batch,
                                           const serverpb::InternalRequest& req) const {
    return absl::OkStatus();
  }
  // The auth requests (user_*, role_*, auth_*, authenticate); only the auth
  // decorator (auth_applier.h) knows them.
  [[nodiscard]] virtual absl::StatusOr<serverpb::InternalResponse> ApplyAuth(
      storage::WriteBatch& batch, const serverpb::InternalRequest& req) const {
    return absl::UnimplementedError("auth requests need the auth applier");
  }

  // The dispatcher: applies one replicated request through the method of its
  // kind. See the error contract above.
  [[nodiscard]] absl::StatusOr<serverpb::InternalResponse> ApplyEntry(
      storage::WriteBatch& batch, const serverpb::InternalRequest& req) const;
};

// A decorator's base: passes every call to `next` (not owned, must outlive
// it). A decorator derives from it and overrides only what it guards.
class ApplierDecorator : public Applier {
 public:
  explicit ApplierDecorator(const Applier* next) : next_(next) {}

  absl::StatusOr<etcdserverpb::PutResponse> Put(
      storage::WriteBatch& batch, const etcdserverpb::PutRequest& r) const override {
    return next_->Put(batch, r);
  }
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      storage::WriteBatch& batch, const etcdserverpb::DeleteRangeRequest& r) const override {
    return next_->DeleteRange(batch, r);
  }
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(
      storage::WriteBatch& batch, const etcdserverpb::TxnRequest& r) const override {
    return next_->Txn(batch, r);
  }
  absl::StatusOr<etcdserverpb::CompactionResponse> Compaction(
      storage::WriteBatch& batch, const etcdserverpb::CompactionRequest& r) const override {
    return next_->Compaction(batch, r);
  }
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(
      storage::WriteBatch& batch, const etcdserverpb::LeaseGrantRequest& r) const override {
    return next_->LeaseGrant(batch, r);
  }
  absl::StatusOr<etcdserverpb::LeaseRevokeResponse> LeaseRevoke(
      storage::WriteBatch& batch, const etcdserverpb::LeaseRevokeRequest& r) const override {
    return next_->LeaseRevoke(batch, r);
  }
  absl::StatusOr<etcdserverpb::LeaseCheckpointResponse> LeaseCheckpoint(
      storage::WriteBatch& batch, const etcdserverpb::LeaseCheckpointRequest& r) const override {
    return next_->LeaseCheckpoint(batch, r);
  }
  absl::StatusOr<serverpb::MemberAttributes> SetMemberAttributes(
      storage::WriteBatch& batch, const serverpb::MemberAttributes& attrs) const override {
    return next_->SetMemberAttributes(batch, attrs);
  }
  absl::StatusOr<etcdserverpb::AlarmResponse> Alarm(
      storage::WriteBatch& batch, const etcdserverpb::AlarmRequest& r) const override {
    return next_->Alarm(batch, r);
  }
  absl::StatusOr<etcdserverpb::RangeResponse> ReadRange(
      const storage::MvccStore& store, const etcdserverpb::RangeRequest& r) const override {
    return next_->ReadRange(store, r);
  }
  absl::Status Admit(const storage::WriteBatch& batch,
                     const serverpb::InternalRequest& req) const override {
    return next_->Admit(batch, req);
  }
  absl::StatusOr<serverpb::InternalResponse> ApplyAuth(
      storage::WriteBatch& batch, const serverpb::InternalRequest& req) const override {
    return next_->ApplyAuth(batch, req);
  }
  absl::StatusOr<etcdserverpb::TxnResponse> ReadTxn(
      const storage::MvccStore& store, const etcdserverpb::TxnRequest& r) const override {
    return next_->ReadTxn(store, r);
  }

 protected:
  const Applier& next() const { return *next_; }

 private:
  const Applier* next_;
};

}  // namespace server
