#include "server/edge/lock_service.h"

#include <string>
#include <utility>

#include "server/edge/concurrency_recipes.h"

namespace server {
namespace {

// One Lock call: the session's lease, then the enqueueing txn, then the
// wait for the earlier keys' deletion (etcd's concurrency.Mutex.Lock).
class LockCall final : public RecipeCall {
 public:
  LockCall(SelfClient client, const v3lockpb::LockRequest& req, v3lockpb::LockResponse* resp)
      : RecipeCall(std::move(client)), prefix_(req.name() + "/"), resp_(resp) {
    SessionLease(client_, &scope_, req.lease(), [this](absl::StatusOr<int64_t> lease) {
      if (!lease.ok()) return Fail(lease.status());
      Enqueue(*lease);
    });
  }

 private:
  // Creates the key unless this lease has it already (a session that
  // holds or waits for the lock keeps its place), and reads the owner.
  void Enqueue(int64_t lease) {
    key_ = LeaseKey(prefix_, lease);
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = CreateRevisionIs(key_, 0);
    *txn.add_success() = PutOp(key_, "", lease);
    *txn.add_success() = RangeOp(FirstCreated(prefix_));
    *txn.add_failure() = RangeOp(KeyRange(key_));
    *txn.add_failure() = RangeOp(FirstCreated(prefix_));
    client_.Txn(&scope_, std::move(txn), [this](absl::StatusOr<etcdserverpb::TxnResponse> got) {
      if (!got.ok()) return Fail(got.status());
      OnEnqueued(*got);
    });
  }

  void OnEnqueued(const etcdserverpb::TxnResponse& txn) {
    int64_t my_rev = txn.header().revision();
    if (!txn.succeeded()) {
      const auto& mine = txn.responses(0).response_range();
      // The compare failed because the key exists; a lease revoked in
      // between could delete it, as in etcd (which would then fail).
      if (mine.kvs_size() == 0) return Fail(absl::UnknownError("lock key vanished"));
      my_rev = mine.kvs(0).create_revision();
    }
    const auto& owner = txn.responses(1).response_range();
    if (owner.kvs_size() == 0 || owner.kvs(0).create_revision() == my_rev) {
      return Answer(txn.header());
    }
    WaitDeletes(client_, &scope_, prefix_, my_rev - 1,
                [this](absl::StatusOr<etcdserverpb::ResponseHeader> header) {
                  if (header.ok()) return Answer(*header);
                  ReleaseAndFail(header.status());
                });
  }

  // The wait failed (cancelled, most often): give up the place in line,
  // even though the call's own client calls are cancelled.
  void ReleaseAndFail(absl::Status cause) {
    etcdserverpb::DeleteRangeRequest del;
    del.set_key(key_);
    client_.DeleteRange(nullptr, std::move(del),
                        [this, cause = std::move(cause)](auto) { Fail(cause); });
  }

  void Answer(const etcdserverpb::ResponseHeader& header) {
    *resp_->mutable_header() = header;
    resp_->set_key(key_);
    Finish(grpc::Status::OK);
  }

  const std::string prefix_;
  v3lockpb::LockResponse* const resp_;
  std::string key_;
};

class UnlockCall final : public RecipeCall {
 public:
  UnlockCall(SelfClient client, const v3lockpb::UnlockRequest& req, v3lockpb::UnlockResponse* resp)
      : RecipeCall(std::move(client)) {
    etcdserverpb::DeleteRangeRequest del;
    del.set_key(req.key());
    client_.DeleteRange(&scope_, std::move(del),
                       [this, resp](absl::StatusOr<etcdserverpb::DeleteRangeResponse> got) {
                         if (!got.ok()) return Fail(got.status());
                         *resp->mutable_header() = got->header();
                         Finish(grpc::Status::OK);
                       });
  }
};

}  // namespace

SelfClient LockService::ClientFor(const grpc::ServerContextBase& ctx) const {
  return client_->ActingAs(auth_ == nullptr ? SelfClient::Metadata{} : auth_->Delegate(ctx));
}

grpc::ServerUnaryReactor* LockService::Lock(grpc::CallbackServerContext* ctx,
                                            const v3lockpb::LockRequest* req,
                                            v3lockpb::LockResponse* resp) {
  return new LockCall(ClientFor(*ctx), *req, resp);
}

grpc::ServerUnaryReactor* LockService::Unlock(grpc::CallbackServerContext* ctx,
                                              const v3lockpb::UnlockRequest* req,
                                              v3lockpb::UnlockResponse* resp) {
  return new UnlockCall(ClientFor(*ctx), *req, resp);
}

}  // namespace server
