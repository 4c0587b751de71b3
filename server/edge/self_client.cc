#include "server/edge/self_client.h"

#include <algorithm>
#include <string>
#include <utility>

namespace server {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  // gRPC and absl share the canonical code numbering.
  return absl::Status(static_cast<absl::StatusCode>(static_cast<int>(s.error_code())),
                      s.error_message());
}

absl::Status NotConnected() {
  return absl::UnavailableError("the member's own client is not connected yet");
}

}  // namespace

void CallScope::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  // TryCancel is safe on a call that is finishing, or not started yet
  // (it is then cancelled as it starts).
  for (grpc::ClientContext* ctx : live_) ctx->TryCancel();
}

bool CallScope::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

bool CallScope::Register(grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return false;
  live_.push_back(ctx);
  return true;
}

void CallScope::Unregister(grpc::ClientContext* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  live_.erase(std::remove(live_.begin(), live_.end(), ctx), live_.end());
}

void SelfClient::Connect(std::shared_ptr<grpc::Channel> channel) {
  channel_ = std::move(channel);
  kv_ = etcdserverpb::KV::NewStub(channel_);
  lease_ = etcdserverpb::Lease::NewStub(channel_);
  watch_ = etcdserverpb::Watch::NewStub(channel_);
}

SelfClient SelfClient::ActingAs(Metadata caller) const {
  SelfClient c = *this;
  c.caller_ = std::move(caller);
  return c;
}

void SelfClient::AddCaller(grpc::ClientContext* ctx) const {
  for (const auto& [key, value] : caller_) ctx->AddMetadata(key, value);
}

template <typename Req, typename Resp, typename Start>
void SelfClient::Unary(CallScope* scope, Req req, Done<Resp> done, Start start) {
  if (!channel_) return done(NotConnected());
  struct Call {
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
  };
  auto call = std::make_shared<Call>();
  call->req = std::move(req);
  AddCaller(&call->ctx);
  if (scope != nullptr && !scope->Register(&call->ctx)) {
    return done(absl::CancelledError("the call was cancelled"));
  }
  start(&call->ctx, &call->req, &call->resp,
        [call, scope, done = std::move(done)](grpc::Status s) {
          if (scope != nullptr) scope->Unregister(&call->ctx);
          if (!s.ok()) return done(FromGrpc(s));
          done(std::move(call->resp));
        });
}

void SelfClient::Txn(CallScope* scope, etcdserverpb::TxnRequest req,
                     Done<etcdserverpb::TxnResponse> done) {
  Unary(scope, std::move(req), std::move(done), [this](auto* ctx, auto* rq, auto* rs, auto cb) {
    kv_->async()->Txn(ctx, rq, rs, std::move(cb));
  });
}

void SelfClient::Range(CallScope* scope, etcdserverpb::RangeRequest req,
                       Done<etcdserverpb::RangeResponse> done) {
  Unary(scope, std::move(req), std::move(done), [this](auto* ctx, auto* rq, auto* rs, auto cb) {
    kv_->async()->Range(ctx, rq, rs, std::move(cb));
  });
}

void SelfClient::DeleteRange(CallScope* scope, etcdserverpb::DeleteRangeRequest req,
                             Done<etcdserverpb::DeleteRangeResponse> done) {
  Unary(scope, std::move(req), std::move(done), [this](auto* ctx, auto* rq, auto* rs, auto cb) {
    kv_->async()->DeleteRange(ctx, rq, rs, std::move(cb));
  });
}

void SelfClient::LeaseGrant(CallScope* scope, etcdserverpb::LeaseGrantRequest req,
                            Done<etcdserverpb::LeaseGrantResponse> done) {
  Unary(scope, std::move(req), std::move(done), [this](auto* ctx, auto* rq, auto* rs, auto cb) {
    lease_->async()->LeaseGrant(ctx, rq, rs, std::move(cb));
  });
}

SelfWatch* SelfClient::Watch(CallScope* scope, etcdserverpb::WatchCreateRequest create,
                             SelfWatch::ResponseFn on_response, SelfWatch::DoneFn on_done) {
  if (!channel_) {
    on_done(NotConnected());
    return nullptr;
  }
  auto* w = new SelfWatch(scope, std::move(on_response), std::move(on_done));
  *w->create_.mutable_create_request() = std::move(create);
  AddCaller(&w->ctx_);
  // A scope cancelled already: the call starts cancelled and ends at once,
  // through the same path as any other end.
  if (scope != nullptr && !scope->Register(&w->ctx_)) w->ctx_.TryCancel();
  watch_->async()->Watch(&w->ctx_, w);
  // Held until End(): the stream stays open between a response handed
  // over and the consumer's Next().
  w->AddHold();
  w->StartWrite(&w->create_);
  w->StartRead(&w->resp_);
  w->StartCall();
  return w;
}

void SelfWatch::Next() { StartRead(&resp_); }

void SelfWatch::Stop() {
  ctx_.TryCancel();
  End(absl::OkStatus());
}

void SelfWatch::End(std::optional<absl::Status> final_status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return;
    ended_ = true;
    final_status_ = std::move(final_status);
  }
  RemoveHold();
}

void SelfWatch::OnReadDone(bool ok) {
  if (!ok) return End(std::nullopt);
  if (resp_.canceled()) {
    // What clientv3 reports for a watcher the server canceled.
    if (resp_.compact_revision() != 0) {
      return End(absl::OutOfRangeError("etcdserver: mvcc: required revision has been compacted"));
    }
    return End(absl::UnknownError(resp_.cancel_reason().empty() ? "watch canceled"
                                                                : resp_.cancel_reason()));
  }
  // The "created" answer and progress notifications carry no event.
  if (resp_.events_size() == 0) return Next();
  on_response_(*this, resp_);
}

void SelfWatch::OnDone(const grpc::Status& s) {
  if (scope_ != nullptr) scope_->Unregister(&ctx_);
  absl::Status result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (final_status_.has_value()) {
      result = *final_status_;
    } else if (s.ok()) {
      result = absl::AbortedError("the watch stream ended");
    } else {
      result = FromGrpc(s);
    }
  }
  on_done_(std::move(result));
  delete this;
}

}  // namespace server
