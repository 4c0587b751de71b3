// UnaryCalls: how the client-facing services answer a unary etcd call
// (KV Put/DeleteRange/Txn/Range, Lease Grant/Revoke): propose the
// InternalRequest through raft, pick this call's part of the applied
// response, fill its header, and finish the reactor with it or with the
// error mapped to etcd's code and string (grpc_errors.h).
//
// Ownership: each service owns one; `proposer` and the header source's
// pointees must outlive it. Thread-safety: all methods are thread-safe;
// completions run on the proposer's threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/edge/grpc_errors.h"
#include "server/edge/response_header.h"
#include "server/replication/proposer.h"

namespace server {

class UnaryCalls {
 public:
  // Wraps the completion of every proposal (QuotaGate::Filter defers a
  // NOSPACE answer until the member's alarm is raised).
  using DoneFilter = std::function<ProposeDone(ProposeDone)>;

  // `max_request_bytes`: the largest replicated request proposed (etcd
  // measures the InternalRequest, not the gRPC message); a larger one is
  // refused with "request is too large" before it reaches raft. `filter`
  // may be empty.
  UnaryCalls(Proposer* proposer, HeaderSource headers,
             int64_t max_request_bytes = std::numeric_limits<int64_t>::max(), DoneFilter filter = {})
      : proposer_(proposer), headers_(headers), max_request_bytes_(max_request_bytes),
        filter_(std::move(filter)) {}

  const HeaderSource& headers() const { return headers_; }

  // Proposes `req`; `done` runs once with the applied response or the error.
  void Propose(serverpb::InternalRequest req, ProposeDone done);

  // Proposes `req` and answers the call with the part of the applied
  // response that `pick` selects (a pointer into it), header filled.
  template <typename Resp, typename Pick>
  void ProposeAndAnswer(serverpb::InternalRequest req, grpc::ServerUnaryReactor* reactor,
                        Resp* resp, Pick pick, HeaderRevision revision = HeaderRevision::kKeep) {
    Propose(std::move(req), [this, reactor, resp, pick, revision](ProposeResult r) {
      if (!r.ok()) return reactor->Finish(ToGrpcStatus(r.status()));
      Answer<Resp>(reactor, resp, std::move(*pick(*r)), revision);
    });
  }

  // Finishes a call: the error, or `got` with its header filled.
  template <typename Resp>
  void Answer(grpc::ServerUnaryReactor* reactor, Resp* resp, absl::StatusOr<Resp> got,
              HeaderRevision revision = HeaderRevision::kKeep) const {
    if (!got.ok()) return reactor->Finish(ToGrpcStatus(got.status()));
    *resp = std::move(*got);
    FillHeader(headers_, revision, resp->mutable_header());
    reactor->Finish(grpc::Status::OK);
  }

  // Finishes a call refused before it started.
  static grpc::ServerUnaryReactor* Fail(grpc::CallbackServerContext* ctx, const absl::Status& s);

 private:
  Proposer* proposer_;
  const HeaderSource headers_;
  const int64_t max_request_bytes_;
  const DoneFilter filter_;
  std::atomic<uint64_t> next_request_id_{1};
};

}  // namespace server
