// The recipes etcd's Lock and Election services share (etcd's
// clientv3/concurrency: session, mutex, election), run on the member's own
// API through SelfClient:
//  - a participant's key is <prefix><lease id in hex>, attached to its
//    lease; the owner (lock holder, election leader) is the key under the
//    prefix with the lowest create revision;
//  - a participant waits for its turn by watching, one at a time, the
//    newest key created before its own until it is deleted (WaitDeletes);
//  - a request with lease 0 gets a lease of the session's default TTL
//    (60 s), granted for it, as etcd's concurrency.NewSession does.
// Errors reach clients as etcd's services send them: its clientv3 turns
// every server error into a plain error, so gRPC code UNKNOWN with the
// error's text (e.g. "etcdserver: requested lease not found").
//
// Thread-safety: stateless functions; callbacks run on gRPC's threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "etcdserverpb/rpc.pb.h"
#include "grpcpp/support/server_callback.h"
#include "server/edge/self_client.h"

namespace server {

// etcd's concurrency.defaultSessionTTL, in seconds.
inline constexpr int64_t kSessionTtlSeconds = 60;

// etcd's messages for election errors (clientv3/concurrency, v3election).
inline constexpr absl::string_view kErrElectionNotLeader = "election: not leader";
inline constexpr absl::string_view kErrElectionNoLeader = "election: no leader";
inline constexpr absl::string_view kErrMissingLeaderKey = "\"leader\" field must be provided";

// The end of the range holding every key that starts with `prefix`.
std::string PrefixEnd(absl::string_view prefix);
// <prefix><lease in hex> (Go's %x of the lease id: lowercase, no padding).
std::string LeaseKey(absl::string_view prefix, int64_t lease);

etcdserverpb::Compare CreateRevisionIs(const std::string& key, int64_t revision);
etcdserverpb::RequestOp PutOp(const std::string& key, const std::string& value, int64_t lease);
etcdserverpb::RequestOp DeleteOp(const std::string& key);
etcdserverpb::RequestOp RangeOp(etcdserverpb::RangeRequest range);
etcdserverpb::RangeRequest KeyRange(const std::string& key);
// The first-created key under `prefix` (the owner), as one-key range.
etcdserverpb::RangeRequest FirstCreated(const std::string& prefix);

// The gRPC status etcd's concurrency services answer an error with.
grpc::Status RecipeError(const absl::Status& s);

// The session's lease: `lease` itself, or a new 60 s lease when it is 0.
void SessionLease(SelfClient& client, CallScope* scope, int64_t lease,
                  std::function<void(absl::StatusOr<int64_t>)> done);

// Waits until no key under `prefix` created at or before `max_create_rev`
// is left (etcd's waitDeletes); `done` gets the header of the range that
// found none.
void WaitDeletes(SelfClient& client, CallScope* scope, std::string prefix, int64_t max_create_rev,
                 std::function<void(absl::StatusOr<etcdserverpb::ResponseHeader>)> done);

// A unary server call answered by a chain of SelfClient calls: a cancelled
// call cancels the client calls it made (CallScope). Subclasses finish it
// exactly once, after their last client call completed; it deletes itself
// when gRPC is done with it.
// `client_` acts as the server call's caller (SelfClient::ActingAs), for
// every call it makes, cleanups included.
class RecipeCall : public grpc::ServerUnaryReactor {
 public:
  explicit RecipeCall(SelfClient client) : client_(std::move(client)) {}
  void OnCancel() override { scope_.Cancel(); }
  void OnDone() override { delete this; }

 protected:
  void Fail(const absl::Status& s) { Finish(RecipeError(s)); }
  SelfClient client_;
  CallScope scope_;
};

}  // namespace server
