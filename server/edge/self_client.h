// SelfClient: the member's own etcd API (KV, Lease, Watch), called through
// a gRPC in-process channel to its client server, so that the services built
// on top of it (Lock, Election) see leases, forwarding, watches and errors
// exactly as a remote client does — as etcd runs them over its in-process
// clientv3.
//
// Every call is asynchronous (gRPC's callback API): no thread waits.
// A CallScope groups the calls made for one server call, so that when that
// call is cancelled (its client went away or its deadline passed), every
// call still running for it is cancelled too and none is started after.
//
// A client made by ActingAs() makes every call with the given metadata:
// the caller's identity (AuthGate::Delegate), so that auth judges the calls
// made for a Lock or Election call as that caller's own, as etcd's
// in-process client runs with the caller's context.
//
// Ownership: Connect() takes the channel once, before the first call (the
// listener connects it before its ports accept connections); ActingAs()
// copies share it. The done
// callbacks run on gRPC's threads, once each. Thread-safety: all methods are
// thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace server {

// The client calls made on behalf of one server call.
class CallScope {
 public:
  // Cancels every registered call and refuses calls registered later.
  void Cancel();
  bool cancelled() const;
  // Registers a call about to start; false (not registered) once cancelled.
  [[nodiscard]] bool Register(grpc::ClientContext* ctx);
  void Unregister(grpc::ClientContext* ctx);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;                  // guarded by mu_
  std::vector<grpc::ClientContext*> live_;  // guarded by mu_
};

// A watch stream on the member's Watch service, one watcher. Responses are
// handed over one at a time: after each, the consumer calls Next() (read
// the next) or Stop() (end the stream), exactly once. `on_done` runs once,
// last: with OK after Stop(), else with the stream's error (a watcher the
// server canceled ends with its reason). The object deletes itself after
// `on_done`; do not touch it from then on.
class SelfWatch final
    : public grpc::ClientBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse> {
 public:
  // Gets only responses with events; calls Next() or Stop() on the stream.
  using ResponseFn = std::function<void(SelfWatch&, const etcdserverpb::WatchResponse&)>;
  using DoneFn = std::function<void(absl::Status)>;

  void Next();
  void Stop();

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& s) override;

 private:
  friend class SelfClient;
  SelfWatch(CallScope* scope, ResponseFn on_response, DoneFn on_done)
      : scope_(scope), on_response_(std::move(on_response)), on_done_(std::move(on_done)) {}
  // Ends the stream once; `final_status` is what on_done gets (none: the
  // status the call ends with).
  void End(std::optional<absl::Status> final_status);

  CallScope* const scope_;  // may be null
  const ResponseFn on_response_;
  const DoneFn on_done_;
  grpc::ClientContext ctx_;
  etcdserverpb::WatchRequest create_;
  etcdserverpb::WatchResponse resp_;
  std::mutex mu_;
  bool ended_ = false;                         // guarded by mu_; the hold is released once
  std::optional<absl::Status> final_status_;  // guarded by mu_
};

class SelfClient {
 public:
  template <typename Resp>
  using Done = std::function<void(absl::StatusOr<Resp>)>;

  void Connect(std::shared_ptr<grpc::Channel> channel);
  // The in-process channel (null before Connect), for callers that make
  // calls of their own on it (the JSON gateway).
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  using Metadata = std::vector<std::pair<std::string, std::string>>;
  // A client on the same channel whose every call carries `caller`.
  SelfClient ActingAs(Metadata caller) const;

  // `scope` may be null: the call then runs even if the server call that
  // asked for it was cancelled (cleanups, as etcd's use of client.Ctx()).
  void Txn(CallScope* scope, etcdserverpb::TxnRequest req, Done<etcdserverpb::TxnResponse> done);
  void Range(CallScope* scope, etcdserverpb::RangeRequest req,
             Done<etcdserverpb::RangeResponse> done);
  void DeleteRange(CallScope* scope, etcdserverpb::DeleteRangeRequest req,
                   Done<etcdserverpb::DeleteRangeResponse> done);
  void LeaseGrant(CallScope* scope, etcdserverpb::LeaseGrantRequest req,
                  Done<etcdserverpb::LeaseGrantResponse> done);

  // Starts one watcher; the stream is the returned object's (see SelfWatch).
  // A cancelled scope ends it at once (on_done with CANCELLED).
  SelfWatch* Watch(CallScope* scope, etcdserverpb::WatchCreateRequest create,
                   SelfWatch::ResponseFn on_response, SelfWatch::DoneFn on_done);

 private:
  template <typename Req, typename Resp, typename Start>
  void Unary(CallScope* scope, Req req, Done<Resp> done, Start start);

  void AddCaller(grpc::ClientContext* ctx) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<etcdserverpb::KV::Stub> kv_;
  std::shared_ptr<etcdserverpb::Lease::Stub> lease_;
  std::shared_ptr<etcdserverpb::Watch::Stub> watch_;
  Metadata caller_;
};

}  // namespace server
