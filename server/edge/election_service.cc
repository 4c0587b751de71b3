#include "server/edge/election_service.h"

#include <string>
#include <utility>

#include "server/edge/concurrency_recipes.h"

namespace server {
namespace {

using etcdserverpb::ResponseHeader;
using etcdserverpb::TxnResponse;

// Rewrites `key`'s value if it was created at `rev` (etcd's Election.Proclaim).
void ProclaimTxn(SelfClient& client, CallScope* scope, const std::string& key, int64_t rev,
                 const std::string& value, int64_t lease,
                 std::function<void(absl::StatusOr<ResponseHeader>)> done) {
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = CreateRevisionIs(key, rev);
  *txn.add_success() = PutOp(key, value, lease);
  client.Txn(scope, std::move(txn), [done = std::move(done)](absl::StatusOr<TxnResponse> got) {
    if (!got.ok()) return done(got.status());
    if (!got->succeeded()) return done(absl::UnknownError(kErrElectionNotLeader));
    done(got->header());
  });
}

// Deletes `key` if it was created at `rev` (etcd's Election.Resign).
void ResignTxn(SelfClient& client, CallScope* scope, const std::string& key, int64_t rev,
               std::function<void(absl::StatusOr<ResponseHeader>)> done) {
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = CreateRevisionIs(key, rev);
  *txn.add_success() = DeleteOp(key);
  client.Txn(scope, std::move(txn), [done = std::move(done)](absl::StatusOr<TxnResponse> got) {
    if (!got.ok()) return done(got.status());
    done(got->header());
  });
}

// One Campaign call: the session's lease, the candidate's key, then the
// wait for every earlier candidate's key to go (etcd's Election.Campaign).
class CampaignCall final : public RecipeCall {
 public:
  CampaignCall(SelfClient client, const v3electionpb::CampaignRequest& req,
               v3electionpb::CampaignResponse* resp)
      : RecipeCall(std::move(client)), name_(req.name()), prefix_(req.name() + "/"), value_(req.value()),
        resp_(resp) {
    SessionLease(client_, &scope_, req.lease(), [this](absl::StatusOr<int64_t> lease) {
      if (!lease.ok()) return Fail(lease.status());
      Enter(*lease);
    });
  }

 private:
  void Enter(int64_t lease) {
    lease_ = lease;
    key_ = LeaseKey(prefix_, lease);
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = CreateRevisionIs(key_, 0);
    *txn.add_success() = PutOp(key_, value_, lease_);
    *txn.add_failure() = RangeOp(KeyRange(key_));
    client_.Txn(&scope_, std::move(txn), [this](absl::StatusOr<TxnResponse> got) {
      if (!got.ok()) return Fail(got.status());
      OnEntered(*got);
    });
  }

  void OnEntered(const TxnResponse& txn) {
    header_ = txn.header();
    rev_ = txn.header().revision();
    if (txn.succeeded()) return Wait();
    // This lease is a candidate already: keep its place, with this value.
    const auto& mine = txn.responses(0).response_range();
    if (mine.kvs_size() == 0) return Fail(absl::UnknownError(kErrElectionNotLeader));
    rev_ = mine.kvs(0).create_revision();
    if (mine.kvs(0).value() == value_) return Wait();
    ProclaimTxn(client_, &scope_, key_, rev_, value_, lease_,
                [this](absl::StatusOr<ResponseHeader> h) {
                  if (h.ok()) return Wait();
                  // etcd resigns after a failed proclaim; when the key is no
                  // longer this leadership's there is nothing to delete.
                  if (h.status().message() == kErrElectionNotLeader) return Fail(h.status());
                  ResignTxn(client_, &scope_, key_, rev_,
                            [this, cause = h.status()](auto) { Fail(cause); });
                });
  }

  void Wait() {
    WaitDeletes(client_, &scope_, prefix_, rev_ - 1, [this](absl::StatusOr<ResponseHeader> h) {
      if (h.ok()) return Answer();
      if (!scope_.cancelled()) return Fail(h.status());
      // Cancelled while waiting: withdraw, even though the call's own
      // client calls are cancelled.
      ResignTxn(client_, nullptr, key_, rev_, [this, cause = h.status()](auto) { Fail(cause); });
    });
  }

  void Answer() {
    *resp_->mutable_header() = header_;
    auto* leader = resp_->mutable_leader();
    leader->set_name(name_);
    leader->set_key(key_);
    leader->set_rev(rev_);
    leader->set_lease(lease_);
    Finish(grpc::Status::OK);
  }

  const std::string name_;
  const std::string prefix_;
  const std::string value_;
  v3electionpb::CampaignResponse* const resp_;
  int64_t lease_ = 0;
  std::string key_;
  int64_t rev_ = 0;
  ResponseHeader header_;  // the campaign write's, as etcd answers
};

// Proclaim and Resign: the session's lease (etcd grants one for lease 0
// even here), then one guarded txn on the LeaderKey.
class LeaderKeyCall final : public RecipeCall {
 public:
  using Op = std::function<void(SelfClient&, CallScope*, const v3electionpb::LeaderKey&, int64_t lease,
                                std::function<void(absl::StatusOr<ResponseHeader>)>)>;
  LeaderKeyCall(SelfClient client, const v3electionpb::LeaderKey* leader, ResponseHeader* header,
                Op op)
      : RecipeCall(std::move(client)) {
    if (leader == nullptr) {
      Fail(absl::InvalidArgumentError(kErrMissingLeaderKey));
      return;
    }
    SessionLease(client_, &scope_, leader->lease(),
                 [this, c = &client_, leader, header, op = std::move(op)](absl::StatusOr<int64_t> lease) {
                   if (!lease.ok()) return Fail(lease.status());
                   op(*c, &scope_, *leader, *lease,
                      [this, header](absl::StatusOr<ResponseHeader> h) {
                        if (!h.ok()) return Fail(h.status());
                        *header = *h;
                        Finish(grpc::Status::OK);
                      });
                 });
  }
};

class LeaderCall final : public RecipeCall {
 public:
  LeaderCall(SelfClient client, const v3electionpb::LeaderRequest& req,
             v3electionpb::LeaderResponse* resp)
      : RecipeCall(std::move(client)) {
    client_.Range(&scope_, FirstCreated(req.name() + "/"),
                 [this, resp](absl::StatusOr<etcdserverpb::RangeResponse> got) {
                   if (!got.ok()) return Fail(got.status());
                   if (got->kvs_size() == 0) return Fail(absl::UnknownError(kErrElectionNoLeader));
                   *resp->mutable_header() = got->header();
                   *resp->mutable_kv() = got->kvs(0);
                   Finish(grpc::Status::OK);
                 });
  }
};

// One Observe stream (etcd's Election.Observe): the current leader, or the
// first key put under the prefix when there is none; then every put of that
// leader's key, until it is deleted; then again. One response is written
// at a time: the watch is read further only after the write completed.
// Ends when the client goes away (CANCELLED) or, as in etcd, with OK when
// a read or watch fails.
class ObserveCall final : public grpc::ServerWriteReactor<v3electionpb::LeaderResponse> {
 public:
  ObserveCall(SelfClient client, const v3electionpb::LeaderRequest& req)
      : client_(std::move(client)), prefix_(req.name() + "/") {
    Round();
  }
  void OnCancel() override { scope_.Cancel(); }
  void OnWriteDone(bool ok) override {
    auto then = std::move(after_write_);
    then(ok);
  }
  void OnDone() override { delete this; }

 private:
  void Round() {
    client_.Range(&scope_, FirstCreated(prefix_),
                  [this](absl::StatusOr<etcdserverpb::RangeResponse> got) {
                    if (!got.ok()) return End();
                    if (got->kvs_size() == 0) return AwaitFirstPut(got->header().revision());
                    SendThenWatch(got->header(), got->kvs(0));
                  });
  }

  // No leader: the first key put under the prefix from `revision` on.
  void AwaitFirstPut(int64_t revision) {
    etcdserverpb::WatchCreateRequest create;
    create.set_key(prefix_);
    create.set_range_end(PrefixEnd(prefix_));
    create.set_start_revision(revision);
    client_.Watch(
        &scope_, std::move(create),
        [this](SelfWatch& w, const etcdserverpb::WatchResponse& resp) {
          for (const auto& ev : resp.events()) {
            if (ev.type() != mvccpb::Event::PUT) continue;
            first_header_ = resp.header();
            first_header_.set_revision(ev.kv().mod_revision());
            first_kv_ = ev.kv();
            return w.Stop();
          }
          w.Next();
        },
        [this](absl::Status s) {
          if (!s.ok()) return End();
          SendThenWatch(first_header_, first_kv_);
        });
  }

  void SendThenWatch(const ResponseHeader& header, const mvccpb::KeyValue& kv) {
    Send(header, kv, [this, key = kv.key(), from = header.revision() + 1](bool ok) {
      if (!ok) return End();
      WatchLeader(key, from);
    });
  }

  void WatchLeader(const std::string& key, int64_t from) {
    etcdserverpb::WatchCreateRequest create;
    create.set_key(key);
    create.set_start_revision(from);
    client_.Watch(
        &scope_, std::move(create),
        [this](SelfWatch& w, const etcdserverpb::WatchResponse& resp) {
          watch_ = &w;
          events_ = resp;
          next_event_ = 0;
          SendEvents();
        },
        [this](absl::Status s) {
          if (!s.ok() || broken_) return End();
          Round();  // the leader's key was deleted
        });
  }

  // The puts of events_ from next_event_ on, one write at a time; a delete
  // ends this leader's watch.
  void SendEvents() {
    if (next_event_ == events_.events_size()) return watch_->Next();
    const auto& ev = events_.events(next_event_++);
    if (ev.type() == mvccpb::Event::DELETE) return watch_->Stop();
    Send(events_.header(), ev.kv(), [this](bool ok) {
      if (ok) return SendEvents();
      broken_ = true;
      watch_->Stop();
    });
  }

  void Send(const ResponseHeader& header, const mvccpb::KeyValue& kv, std::function<void(bool)> then) {
    out_.Clear();
    *out_.mutable_header() = header;
    *out_.mutable_kv() = kv;
    after_write_ = std::move(then);
    StartWrite(&out_);
  }

  void End() {
    Finish(scope_.cancelled() ? grpc::Status(grpc::StatusCode::CANCELLED, "context canceled")
                              : grpc::Status::OK);
  }

  SelfClient client_;  // acting as the caller
  const std::string prefix_;
  CallScope scope_;
  // The chain runs one step at a time, so these need no lock.
  v3electionpb::LeaderResponse out_;
  std::function<void(bool)> after_write_;
  ResponseHeader first_header_;
  mvccpb::KeyValue first_kv_;
  SelfWatch* watch_ = nullptr;  // the leader's watch, while SendEvents runs
  etcdserverpb::WatchResponse events_;
  int next_event_ = 0;
  bool broken_ = false;  // a write failed: the stream is gone
};

}  // namespace

SelfClient ElectionService::ClientFor(const grpc::ServerContextBase& ctx) const {
  return client_->ActingAs(auth_ == nullptr ? SelfClient::Metadata{} : auth_->Delegate(ctx));
}

grpc::ServerUnaryReactor* ElectionService::Campaign(grpc::CallbackServerContext* ctx,
                                                    const v3electionpb::CampaignRequest* req,
                                                    v3electionpb::CampaignResponse* resp) {
  return new CampaignCall(ClientFor(*ctx), *req, resp);
}

grpc::ServerUnaryReactor* ElectionService::Proclaim(grpc::CallbackServerContext* ctx,
                                                    const v3electionpb::ProclaimRequest* req,
                                                    v3electionpb::ProclaimResponse* resp) {
  const std::string value = req->value();
  return new LeaderKeyCall(
      ClientFor(*ctx), req->has_leader() ? &req->leader() : nullptr, resp->mutable_header(),
      [value](SelfClient& c, CallScope* scope, const v3electionpb::LeaderKey& l, int64_t lease,
              auto done) { ProclaimTxn(c, scope, l.key(), l.rev(), value, lease, std::move(done)); });
}

grpc::ServerUnaryReactor* ElectionService::Resign(grpc::CallbackServerContext* ctx,
                                                  const v3electionpb::ResignRequest* req,
                                                  v3electionpb::ResignResponse* resp) {
  return new LeaderKeyCall(
      ClientFor(*ctx), req->has_leader() ? &req->leader() : nullptr, resp->mutable_header(),
      [](SelfClient& c, CallScope* scope, const v3electionpb::LeaderKey& l, int64_t, auto done) {
        ResignTxn(c, scope, l.key(), l.rev(), std::move(done));
      });
}

grpc::ServerUnaryReactor* ElectionService::Leader(grpc::CallbackServerContext* ctx,
                                                  const v3electionpb::LeaderRequest* req,
                                                  v3electionpb::LeaderResponse* resp) {
  return new LeaderCall(ClientFor(*ctx), *req, resp);
}

grpc::ServerWriteReactor<v3electionpb::LeaderResponse>* ElectionService::Observe(
    grpc::CallbackServerContext* ctx, const v3electionpb::LeaderRequest* req) {
  return new ObserveCall(ClientFor(*ctx), *req);
}

}  // namespace server
