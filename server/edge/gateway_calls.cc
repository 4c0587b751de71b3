#include "server/edge/gateway_calls.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "server/edge/gateway_json.h"

namespace server {
namespace {

using google::protobuf::Message;
using Stub = grpc::TemplatedGenericStub<Message, Message>;

// How often a waiting request looks whether its HTTP client went away.
constexpr auto kClientPoll = std::chrono::milliseconds(200);
// Responses converted but not yet written to the HTTP client; reading from
// the call pauses past this, so a slow client holds back its own stream.
constexpr size_t kMaxQueued = 64;

HttpResponse SuccessHead() {
  HttpResponse head = GatewayHead(200);
  // grpc-gateway forwards the call's header metadata this way.
  head.headers.emplace_back("Grpc-Metadata-Content-Type", "application/grpc");
  return head;
}

struct UnaryState {
  grpc::ClientContext ctx;
  std::unique_ptr<Message> request;
  std::unique_ptr<Message> response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;    // guarded by mu
  grpc::Status status;  // guarded by mu
};

// What a streaming call shares with the thread that serves its HTTP
// client; the reactor deletes itself when the call is done, this lives on.
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> results;  // guarded by mu: JSON of responses not yet written
  bool reads_paused = false;        // guarded by mu: resumed by the writer
  bool reads_ended = false;         // guarded by mu
  bool done = false;                // guarded by mu
  grpc::Status status;              // guarded by mu
};

class StreamReactor final : public grpc::ClientBidiReactor<Message, Message> {
 public:
  StreamReactor(std::shared_ptr<StreamState> state, std::vector<std::unique_ptr<Message>> requests,
                const Message& prototype)
      : state_(std::move(state)), requests_(std::move(requests)), response_(prototype.New()) {}

  grpc::ClientContext& ctx() { return ctx_; }

  void Start(const std::shared_ptr<grpc::Channel>& channel, const std::string& method) {
    Stub(channel).PrepareBidiStreamingCall(&ctx_, method, grpc::StubOptions(), this);
    // Held until the serving thread has read the last response, so that
    // a paused read can be resumed from outside a reaction.
    AddHold();
    WriteNext();
    StartRead(response_.get());
    StartCall();
  }
  void ResumeReads() { StartRead(response_.get()); }
  void Release() { RemoveHold(); }

  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }
  void OnReadDone(bool ok) override {
    std::unique_lock<std::mutex> lock(state_->mu);
    if (!ok) {
      state_->reads_ended = true;
      state_->cv.notify_all();
      return;
    }
    state_->results.push_back(MessageJson(*response_));
    state_->cv.notify_all();
    if (state_->results.size() >= kMaxQueued) {
      state_->reads_paused = true;
      return;
    }
    lock.unlock();
    StartRead(response_.get());
  }
  void OnDone(const grpc::Status& s) override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->done = true;
      state_->status = s;
      state_->cv.notify_all();
    }
    delete this;
  }

 private:
  // The requests go one write at a time, then the half-close, as the
  // gateway's sending goroutine does.
  void WriteNext() {
    if (next_ < requests_.size()) {
      StartWrite(requests_[next_++].get());
    } else if (!writes_done_) {
      writes_done_ = true;
      StartWritesDone();
    }
  }

  const std::shared_ptr<StreamState> state_;
  grpc::ClientContext ctx_;
  std::vector<std::unique_ptr<Message>> requests_;
  size_t next_ = 0;  // only the write reactions touch it, one at a time
  bool writes_done_ = false;
  std::unique_ptr<Message> response_;
};

}  // namespace

void ServeUnaryCall(const GatewayCall& call, std::unique_ptr<Message> request, ResponseWriter& w) {
  auto st = std::make_shared<UnaryState>();
  st->request = std::move(request);
  st->response.reset(call.response_prototype->New());
  if (!call.token.empty()) st->ctx.AddMetadata("token", call.token);
  Stub(call.channel).UnaryCall(&st->ctx, call.method, grpc::StubOptions(), st->request.get(),
                               st->response.get(), [st](grpc::Status s) {
                                 std::lock_guard<std::mutex> lock(st->mu);
                                 st->status = std::move(s);
                                 st->done = true;
                                 st->cv.notify_all();
                               });
  std::unique_lock<std::mutex> lock(st->mu);
  bool cancelled = false;
  while (!st->done) {
    if (st->cv.wait_for(lock, kClientPoll, [&] { return st->done; })) break;
    if (!cancelled && w.ClientGone()) {
      cancelled = true;
      lock.unlock();
      st->ctx.TryCancel();  // the callback still comes, with CANCELLED
      lock.lock();
    }
  }
  if (cancelled) return;
  if (!st->status.ok()) return w.Send(GatewayError(st->status.error_code(), st->status.error_message()));
  HttpResponse resp = SuccessHead();
  resp.body = MessageJson(*st->response);
  w.Send(std::move(resp));
}

void ServeStreamingCall(const GatewayCall& call, std::vector<std::unique_ptr<Message>> requests,
                        ResponseWriter& w) {
  auto state = std::make_shared<StreamState>();
  auto* reactor = new StreamReactor(state, std::move(requests), *call.response_prototype);
  if (!call.token.empty()) reactor->ctx().AddMetadata("token", call.token);
  reactor->Start(call.channel, call.method);
  bool started = false;  // the 200 head is written with the first result
  bool cancelled = false;
  std::unique_lock<std::mutex> lock(state->mu);
  for (;;) {
    state->cv.wait_for(lock, kClientPoll, [&] { return !state->results.empty() || state->reads_ended; });
    std::deque<std::string> batch;
    batch.swap(state->results);
    const bool resume = state->reads_paused;
    state->reads_paused = false;
    const bool ended = state->reads_ended;
    lock.unlock();
    for (const std::string& result : batch) {
      if (cancelled) break;
      if (!started) started = w.StartChunked(SuccessHead());
      // One line per response, as grpc-gateway's stream delimiter.
      if (!w.WriteChunk(absl::StrCat(R"({"result":)", result, "}\n"))) break;
    }
    if (!cancelled && w.ClientGone()) {
      cancelled = true;
      reactor->ctx().TryCancel();
    }
    if (resume) reactor->ResumeReads();
    lock.lock();
    if (ended && state->results.empty()) break;
  }
  lock.unlock();
  reactor->Release();  // no read is started after this; the reactor deletes itself when done
  lock.lock();
  state->cv.wait(lock, [&] { return state->done; });
  const grpc::Status status = state->status;
  lock.unlock();
  if (cancelled) return;
  if (!status.ok()) {
    if (!started) {
      started = w.StartChunked(GatewayHead(HttpStatusFromGrpcCode(status.error_code())));
    }
    (void)w.WriteChunk(StreamErrorChunk(status.error_code(), status.error_message()));
    return;
  }
  if (!started) (void)w.StartChunked(SuccessHead());
}

}  // namespace server
