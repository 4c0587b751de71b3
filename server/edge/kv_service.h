// KvService: etcd's KV gRPC service. Validates requests as etcd's API layer
// does, sends writes through the Proposer and serves reads from the store,
// and fills response headers (cluster_id, member_id, revision, raft_term).
#pragma once

#include <atomic>
#include <cstdint>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/state/applier.h"
#include "server/state/member_info.h"
#include "server/replication/proposer.h"
#include "storage/mvcc_store.h"

namespace server {

struct KvLimits {
  int64_t max_request_bytes = 1572864;
  int max_txn_ops = 128;
};

// Uses gRPC's callback API: a write holds no thread while it waits for its
// batch to become durable; the proposer's completion finishes the call.
class KvService final : public etcdserverpb::KV::CallbackService {
 public:
  KvService(storage::MvccStore* store, const Applier* applier, Proposer* proposer,
            MemberInfo info, KvLimits limits)
      : store_(store), applier_(applier), proposer_(proposer), info_(info), limits_(limits) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx,
                                  const etcdserverpb::RangeRequest* req,
                                  etcdserverpb::RangeResponse* resp) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::PutRequest* req,
                                etcdserverpb::PutResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const etcdserverpb::DeleteRangeRequest* req,
                                        etcdserverpb::DeleteRangeResponse* resp) override;
  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx,
                                const etcdserverpb::TxnRequest* req,
                                etcdserverpb::TxnResponse* resp) override;
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const etcdserverpb::CompactionRequest* req,
                                    etcdserverpb::CompactionResponse* resp) override;

 private:
  // Proposes `req`; `done` gets the applied response or the error, once.
  void Write(serverpb::InternalRequest req, ProposeDone done);
  // Proposes `req` and answers the call with the part of the applied
  // response that `pick` selects.
  template <typename Resp, typename Pick>
  void ProposeAndAnswer(serverpb::InternalRequest req, grpc::ServerUnaryReactor* reactor,
                        Resp* resp, Pick pick);
  // Finishes a call: the error, or `got` with its header filled.
  template <typename Resp>
  void Answer(grpc::ServerUnaryReactor* reactor, Resp* resp, absl::StatusOr<Resp> got);
  void FillHeader(etcdserverpb::ResponseHeader* h) const;
  grpc::ServerUnaryReactor* Fail(grpc::CallbackServerContext* ctx, const absl::Status& s);

  storage::MvccStore* store_;
  const Applier* applier_;
  Proposer* proposer_;
  MemberInfo info_;
  KvLimits limits_;
  std::atomic<uint64_t> next_request_id_{1};
};

}  // namespace server
