#include "server/edge/watch_service.h"

#include <map>
#include <mutex>
#include <set>

#include "base/errors.h"
#include "server/edge/grpc_errors.h"
#include "server/edge/response_header.h"
#include "server/edge/watch_send_queue.h"

namespace server {
namespace {

// A stream's queue holds what watch_send_queue.h's default limits allow
// before its watchers fall back to catching up from the store (etcd bounds
// its per-stream channel the same way).

constexpr char kErrEmptyWatcherRange[] = "mvcc: watcher range is empty";
constexpr char kErrDuplicateWatchId[] = "mvcc: duplicate watch ID provided on the WatchStream";
constexpr char kWatchMethod[] = "/etcdserverpb.Watch/Watch";

using WatchReactor = WatchService::Reactor;

// The outbound queue of one stream: one write in flight at a time, events
// coalesced behind it (watch_send_queue.h).
class StreamSink : public WatchSink {
 public:
  // `counts` (null: not counted) must outlive the stream's Finish.
  StreamSink(WatchReactor* reactor, HeaderSource headers, CallCounts* counts)
      : reactor_(reactor), headers_(headers), counts_(counts), queue_(WatchSendQueue::Limits{}) {}

  bool Enqueue(etcdserverpb::WatchResponse resp, bool force) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return true;  // nobody to tell any more
    if (!queue_.PushResponse(resp, force)) return false;
    StartWriting();
    return true;
  }

  bool EnqueueEvents(int64_t watch_id, const grpc::Slice& header, const grpc::Slice* const* events,
                     size_t count) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return true;
    if (!queue_.PushEvents(watch_id, header, events, count)) return false;
    StartWriting();
    return true;
  }

  bool Full() override {
    std::lock_guard<std::mutex> lock(mu_);
    return !finished_ && queue_.Full();
  }

  void FillHeader(etcdserverpb::ResponseHeader* h) override {
    // Callers set the revision each response reports.
    server::FillHeader(headers_, HeaderRevision::kKeep, h);
  }

  // After a write completes: the next one, or the deferred Finish. A failed
  // write (the client went away) finishes the stream.
  void OnWriteDone(bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.PopFront();
    if (!ok && !finished_) {
      finished_ = true;
      finish_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "etcdserver: watch canceled");
    }
    if (!queue_.empty() && !finished_) {
      WriteFront();
      return;
    }
    writing_ = false;
    if (finished_ && !finish_sent_) SendFinish();
  }

  // Finishes the RPC once: no write starts after it, and gRPC's Finish
  // waits for a write in flight (Finish may not overlap a write).
  void FinishOnce(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    finished_ = true;
    finish_status_ = status;
    if (!writing_) SendFinish();
  }

 private:
  void StartWriting() {
    if (!writing_) {
      writing_ = true;
      WriteFront();
    }
  }

  // A response with more queued behind it is written with the buffer hint,
  // so a burst leaves in a few large socket writes instead of one syscall
  // per response; the last of a burst flushes.
  void WriteFront() {
    grpc::WriteOptions options;
    if (queue_.size() > 1) options.set_buffer_hint();
    const grpc::ByteBuffer& front = queue_.StartFront();
    if (counts_ != nullptr) counts_->Sent(front.Length());
    reactor_->StartWrite(&front, options);
  }

  void SendFinish() {
    finish_sent_ = true;
    if (counts_ != nullptr) counts_->Handled(finish_status_.error_code());
    reactor_->Finish(finish_status_);
  }

  WatchReactor* reactor_;
  const HeaderSource headers_;
  CallCounts* const counts_;
  std::mutex mu_;
  WatchSendQueue queue_;                            // guarded by mu_; front is being written
  bool writing_ = false;                            // guarded by mu_
  bool finished_ = false;                           // guarded by mu_: no more writes
  bool finish_sent_ = false;                        // guarded by mu_
  grpc::Status finish_status_;                      // guarded by mu_
};

}  // namespace

class WatchService::Stream : public WatchReactor {
 public:
  Stream(WatchService* svc, grpc::CallbackServerContext* ctx)
      : svc_(svc), ctx_(ctx), counts_(StartCallCounts(svc->counters_, svc->metrics_, ctx->client_metadata())),
        sink_(std::make_shared<StreamSink>(this, HeaderSource{svc->info_, svc->proposer_, svc->store_},
                                           counts_.get())) {
    if (auto s = CheckRequireLeader(*ctx, *svc_->proposer_); !s.ok()) {
      sink_->FinishOnce(ToGrpcStatus(s));
      return;
    }
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    // A half-close (or a broken read) ends the requests, not the stream:
    // etcd keeps sending events until the client cancels.
    if (!ok) return;
    if (counts_) counts_->Received(&req_);
    if (req_.has_create_request()) {
      Create(req_.create_request());
    } else if (req_.has_cancel_request()) {
      Cancel(req_.cancel_request().watch_id());
    } else if (req_.has_progress_request()) {
      svc_->hub_->RequestProgress(sink_);
    }
    req_.Clear();
    StartRead(&req_);
  }

  void OnWriteDone(bool ok) override { sink_->OnWriteDone(ok); }

  void OnCancel() override {
    sink_->FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "etcdserver: watch canceled"));
  }

  void OnDone() override {
    svc_->hub_->RemoveSink(sink_.get());
    delete this;
  }

 private:
  // etcd's isWatchPermitted: the cancel reason for a caller that may not
  // read the watched range (a gRPC error's full text, as etcd sends it);
  // empty when the watch may be created.
  std::string AuthRefusal(const etcdserverpb::WatchCreateRequest& c) const {
    if (svc_->auth_ == nullptr) return "";
    auto who = svc_->auth_->AdmitRead(*ctx_, [&c](const AuthState& st, const AuthInfo& ai) {
      return CheckPermitted(st, ai, c.key(), c.range_end(), PermAccess::kRead);
    });
    if (who.ok()) return "";
    switch (base::KindOf(who.status())) {
      case base::ErrorKind::kInvalidAuthToken:
        return "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token";
      case base::ErrorKind::kAuthOldRevision:
        return "rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old";
      case base::ErrorKind::kUserEmpty:
        return "rpc error: code = InvalidArgument desc = etcdserver: user name is empty";
      default:
        return "rpc error: code = PermissionDenied desc = etcdserver: permission denied";
    }
  }

  void Refuse(const std::string& reason) {
    etcdserverpb::WatchResponse r;
    sink_->FillHeader(r.mutable_header());
    r.mutable_header()->set_revision(svc_->store_->Rev());
    r.set_watch_id(-1);
    r.set_created(true);
    r.set_canceled(true);
    r.set_cancel_reason(reason);
    sink_->Enqueue(std::move(r), /*force=*/true);
  }

  void Create(const etcdserverpb::WatchCreateRequest& c) {
    if (auto reason = AuthRefusal(c); !reason.empty()) return Refuse(reason);
    // etcd: an empty key is the smallest key; range_end "\0" means "and
    // every key after it".
    const std::string key = c.key().empty() ? std::string(1, '\0') : c.key();
    WatchSpec spec;
    spec.range = storage::KeyRange::FromEtcd(key, c.range_end());
    if (!spec.range.single && !spec.range.to_end && spec.range.key >= spec.range.end) {
      return Refuse(kErrEmptyWatcherRange);
    }
    // A negative start revision is below any compaction (-1 when none):
    // the hub cancels the watcher with compact_revision, as etcd 3.4 does.
    int64_t id = c.watch_id();
    if (id == 0) {
      while (ids_.count(next_id_)) ++next_id_;
      id = next_id_++;
    } else if (ids_.count(id)) {
      return Refuse(kErrDuplicateWatchId);
    }
    const int64_t ws_rev = svc_->store_->Rev();
    spec.start_rev = c.start_revision() == 0 ? ws_rev + 1 : c.start_revision();
    spec.prev_kv = c.prev_kv();
    spec.progress_notify = c.progress_notify();
    spec.fragment = c.fragment();
    for (int f : c.filters()) {
      if (f == etcdserverpb::WatchCreateRequest::NOPUT) spec.no_put = true;
      if (f == etcdserverpb::WatchCreateRequest::NODELETE) spec.no_delete = true;
    }
    ids_.insert(id);
    etcdserverpb::WatchResponse r;
    sink_->FillHeader(r.mutable_header());
    r.mutable_header()->set_revision(ws_rev);
    r.set_watch_id(id);
    r.set_created(true);
    // Queued before the hub knows the watcher: no event can overtake it.
    sink_->Enqueue(std::move(r), /*force=*/true);
    svc_->hub_->Add(sink_, id, std::move(spec));
  }

  void Cancel(int64_t id) {
    if (ids_.erase(id) == 0) return;  // unknown: etcd says nothing
    svc_->hub_->Remove(sink_.get(), id);
    etcdserverpb::WatchResponse r;
    sink_->FillHeader(r.mutable_header());
    r.mutable_header()->set_revision(svc_->store_->Rev());
    r.set_watch_id(id);
    r.set_canceled(true);
    sink_->Enqueue(std::move(r), /*force=*/true);
  }

  WatchService* svc_;
  grpc::CallbackServerContext* ctx_;  // lives as long as the stream
  const std::unique_ptr<CallCounts> counts_;  // null: no metrics; before sink_, which uses it
  std::shared_ptr<StreamSink> sink_;
  etcdserverpb::WatchRequest req_;
  // Read-side state: only OnReadDone touches it, one read at a time.
  std::set<int64_t> ids_;
  int64_t next_id_ = 0;
};

namespace {

// A stream refused before it starts (etcd: no stream RPC on a learner).
class RefusedWatch final : public WatchReactor {
 public:
  RefusedWatch(const grpc::Status& s, std::unique_ptr<CallCounts> counts) : counts_(std::move(counts)) {
    if (counts_) counts_->Handled(s.error_code());
    Finish(s);
  }
  void OnDone() override { delete this; }

 private:
  const std::unique_ptr<CallCounts> counts_;
};

}  // namespace

WatchService::WatchService(storage::MvccStore* store, Proposer* proposer, WatchHub* hub, MemberInfo info,
                           GrpcMetrics* metrics)
    : store_(store), proposer_(proposer), hub_(hub), info_(info), metrics_(metrics),
      counters_(metrics != nullptr ? metrics->CountInService(kWatchMethod) : nullptr) {
  // As the generated CallbackService registers it, but with raw responses.
  MarkMethodCallback(0, new grpc::internal::CallbackBidiHandler<etcdserverpb::WatchRequest, grpc::ByteBuffer>(
                            [this](grpc::CallbackServerContext* ctx) { return Watch(ctx); }));
}

WatchReactor* WatchService::Watch(grpc::CallbackServerContext* ctx) {
  if (auto s = CheckLearner(*proposer_, false); !s.ok()) {
    return new RefusedWatch(ToGrpcStatus(s), StartCallCounts(counters_, metrics_, ctx->client_metadata()));
  }
  return new Stream(this, ctx);
}

}  // namespace server
