// AuthApplier: the auth decorator of the applier (applier.h), etcd's
// authApplierV3 (etcdserver/apply_auth.go). Before an entry is applied it
// checks the entry's auth header (who asked, at which auth revision) against
// the AuthStore's current state: Put and DeleteRange need write on their
// key or range (and read with prev_kv), a Put with a lease and a
// LeaseRevoke need write on every key attached to the lease, a Txn needs
// read on every compare and the right access for every operation of both
// branches (nested txns included), the admin auth requests need the root
// role, UserGet passes for the user itself and RoleGet for a holder of the
// role. Because the check runs when the entry is applied, a permission
// revoked between proposal and apply is honoured on every member alike.
//
// An entry without an auth header was proposed by a member itself (lease
// expiry, member attributes, lease checkpoints): the edge stamps every
// client request, so such entries are trusted, as etcd runs them as root.
//
// It also applies the auth requests through the AuthStore.
// Ownership: borrows `next` and the auth store. Thread-safety: as Applier.
#pragma once

#include "server/state/applier.h"
#include "server/state/auth_store.h"

namespace server {

class AuthApplier final : public ApplierDecorator {
 public:
  AuthApplier(const Applier* next, AuthStore* auth) : ApplierDecorator(next), auth_(auth) {}

  absl::Status Admit(const storage::WriteBatch& batch,
                     const serverpb::InternalRequest& req) const override;
  absl::StatusOr<serverpb::InternalResponse> ApplyAuth(
      storage::WriteBatch& batch, const serverpb::InternalRequest& req) const override;

 private:
  AuthStore* auth_;
};

// etcd's checkTxnAuth for one txn request (also used at the edge for
// read-only txns): compares need read; puts write; deletes write (and read
// with prev_kv); ranges read; nested txns likewise.
[[nodiscard]] absl::Status CheckTxnPermitted(const AuthState& state, const AuthInfo& who,
                                             const etcdserverpb::TxnRequest& txn);

}  // namespace server
