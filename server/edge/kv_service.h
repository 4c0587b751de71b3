// KvService: etcd's KV gRPC service. Validates requests as etcd's API layer
// does, sends writes through the Proposer and serves reads from the store,
// and fills response headers (cluster_id, member_id, revision, raft_term).
// Ownership: borrows the store, applier and proposer, which outlive it.
// Thread-safety: gRPC calls it from any thread.
#pragma once

#include <cstdint>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/edge/quota_gate.h"
#include "server/edge/auth_gate.h"
#include "server/edge/unary_call.h"
#include "server/replication/proposer.h"
#include "server/state/applier.h"
#include "server/state/auth_applier.h"
#include "server/state/member_info.h"
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
  // `quota` (may be null: no quota) admits what adds data (quota_gate.h).
  KvService(storage::MvccStore* store, const Applier* applier, Proposer* proposer,
            MemberInfo info, KvLimits limits, QuotaGate* quota = nullptr)
      : store_(store), applier_(applier), proposer_(proposer), limits_(limits), quota_(quota),
        calls_(proposer, HeaderSource{info, proposer, store}, limits.max_request_bytes,
               QuotaGate::Filter(quota)) {}

  // Auth checks as etcd's API layer makes them (auth_gate.h); without a
  // gate (tests) every call passes. Set before serving.
  void SetAuthGate(const AuthGate* gate) { auth_ = gate; }

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
  // Stamps a proposed request with the caller (auth_gate.h).
  absl::Status Stamp(const grpc::ServerContextBase& ctx, serverpb::InternalRequest* ir) const;
  // etcd's doSerialize: `check` the caller before `read`, and refuse the
  // result if the auth state changed while reading.
  template <typename Resp, typename Read>
  absl::StatusOr<Resp> ReadChecked(const grpc::ServerContextBase& ctx,
                                   const AuthGate::ReadCheck& check, Read read) const {
    if (auth_ == nullptr) return read();
    auto who = auth_->AdmitRead(ctx, check);
    if (!who.ok()) return who.status();
    absl::StatusOr<Resp> got = read();
    if (!got.ok()) return got;
    if (auto s = auth_->StillCurrent(*who); !s.ok()) return s;
    return got;
  }

  const AuthGate* auth_ = nullptr;
  storage::MvccStore* store_;
  const Applier* applier_;
  Proposer* proposer_;
  KvLimits limits_;
  QuotaGate* quota_;
  UnaryCalls calls_;
};

}  // namespace server
