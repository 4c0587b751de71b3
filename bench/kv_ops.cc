#include "bench/kv_ops.h"

#include <cstdio>
#include <functional>

namespace ketcd::bench {
namespace {

template <class Req, class Resp>
struct UnaryCall {
  grpc::ClientContext ctx;
  Req req;
  Resp resp;
};

// Starts one unary call with the callback API and ends it through `done`.
// `on_ok` (may be empty) sees the response of a call that succeeded.
template <class Req, class Resp, class Start>
void StartUnary(Start start, Req req, double timeout_s, int kind, ClosedLoop::Done done,
                std::function<void(const Resp&)> on_ok = nullptr) {
  auto* call = new UnaryCall<Req, Resp>;
  call->req = std::move(req);
  call->ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  start(&call->ctx, &call->req, &call->resp,
        [call, kind, done = std::move(done), on_ok = std::move(on_ok)](grpc::Status st) {
          if (st.ok() && on_ok) on_ok(call->resp);
          // The call's state goes before `done`: the last `done` lets the run
          // end and its stubs and channels go.
          delete call;
          done(kind, st);
        });
}

uint64_t KeyIndex(const KvWorkload& w, uint64_t n) {
  uint64_t space = std::max<uint64_t>(1, w.key_space_size);
  return w.sequential_keys ? n % space : Mix64(w.seed * 0x100000001b3ULL + n) % space;
}

etcdserverpb::KV::Stub& StubFor(KvStubs& stubs, int client) { return *stubs[client % stubs.size()]; }

}  // namespace

std::string PutKey(const KvWorkload& w, uint64_t n) { return BinaryKey(KeyIndex(w, n), w.key_size); }

std::string RangeKey(const KvWorkload& w, uint64_t n) {
  KvWorkload random = w;  // put's random choice: uniform over the key space, seeded by n
  random.sequential_keys = false;
  return PutKey(random, n);
}

std::string MixedWriteKey(const KvWorkload& w, uint64_t n) {
  char digits[32];
  int width = std::max(1, w.key_size - static_cast<int>(w.key_prefix.size()));
  std::snprintf(digits, sizeof digits, "%0*llu", std::min(width, 20),
                static_cast<unsigned long long>(KeyIndex(w, n)));
  return w.key_prefix + digits;
}

bool MixedIsRead(const KvWorkload& w, uint64_t n) {
  double u = static_cast<double>(Mix64(w.seed * 31 + n + 0x5bd1e995ULL) >> 11) / 9007199254740992.0;
  return u < w.rw_ratio / (w.rw_ratio + 1.0);
}

ClosedLoop::Op PutOp(std::shared_ptr<KvStubs> stubs, KvWorkload w) {
  auto value = std::make_shared<std::string>(SeededBytes(w.seed, w.val_size));
  return [stubs, w, value](int client, uint64_t n, ClosedLoop::Done done) {
    etcdserverpb::PutRequest req;
    req.set_key(PutKey(w, n));
    req.set_value(*value);
    auto* async = StubFor(*stubs, client).async();
    StartUnary<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
        [async](auto* ctx, auto* rq, auto* rs, auto cb) { async->Put(ctx, rq, rs, std::move(cb)); },
        std::move(req), w.timeout_s, 0, std::move(done));
  };
}

ClosedLoop::Op RangeOp(std::shared_ptr<KvStubs> stubs, KvWorkload w, std::atomic<uint64_t>* empty) {
  std::function<void(const etcdserverpb::RangeResponse&)> on_ok;
  if (empty != nullptr) {
    on_ok = [empty](const etcdserverpb::RangeResponse& resp) {
      if (resp.kvs_size() == 0) empty->fetch_add(1, std::memory_order_relaxed);
    };
  }
  return [stubs, w, on_ok](int client, uint64_t n, ClosedLoop::Done done) {
    etcdserverpb::RangeRequest req;
    if (w.range_keys) {
      req.set_key(RangeKey(w, n));
    } else {
      req.set_key(w.range_key);
      req.set_range_end(w.range_end);
    }
    req.set_serializable(w.serializable);
    req.set_limit(w.limit);
    auto* async = StubFor(*stubs, client).async();
    StartUnary<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
        [async](auto* ctx, auto* rq, auto* rs, auto cb) { async->Range(ctx, rq, rs, std::move(cb)); },
        std::move(req), w.timeout_s, 0, std::move(done), on_ok);
  };
}

ClosedLoop::Op TxnPutOp(std::shared_ptr<KvStubs> stubs, KvWorkload w) {
  auto value = std::make_shared<std::string>(SeededBytes(w.seed, w.val_size));
  return [stubs, w, value](int client, uint64_t n, ClosedLoop::Done done) {
    etcdserverpb::TxnRequest req;
    uint64_t space = std::max<uint64_t>(1, w.key_space_size);
    uint64_t base = KeyIndex(w, n);
    for (int i = 0; i < w.txn_ops; ++i) {
      // Consecutive keys from a seeded base: distinct within the txn, as
      // etcd refuses a txn that writes one key twice.
      auto* put = req.add_success()->mutable_request_put();
      put->set_key(BinaryKey((base + static_cast<uint64_t>(i)) % space, w.key_size));
      put->set_value(*value);
    }
    auto* async = StubFor(*stubs, client).async();
    StartUnary<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
        [async](auto* ctx, auto* rq, auto* rs, auto cb) { async->Txn(ctx, rq, rs, std::move(cb)); },
        std::move(req), w.timeout_s, 0, std::move(done));
  };
}

ClosedLoop::Op TxnMixedOp(std::shared_ptr<KvStubs> stubs, KvWorkload w) {
  auto value = std::make_shared<std::string>(SeededBytes(w.seed, w.val_size));
  return [stubs, w, value](int client, uint64_t n, ClosedLoop::Done done) {
    etcdserverpb::TxnRequest req;
    int kind;
    if (MixedIsRead(w, n)) {
      kind = 0;
      auto* range = req.add_success()->mutable_request_range();
      range->set_key(w.range_key);
      range->set_range_end(w.range_end);
      range->set_limit(w.limit);
      range->set_serializable(w.serializable);
    } else {
      kind = 1;
      auto* put = req.add_success()->mutable_request_put();
      put->set_key(MixedWriteKey(w, n));
      put->set_value(*value);
    }
    auto* async = StubFor(*stubs, client).async();
    StartUnary<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
        [async](auto* ctx, auto* rq, auto* rs, auto cb) { async->Txn(ctx, rq, rs, std::move(cb)); },
        std::move(req), w.timeout_s, kind, std::move(done));
  };
}

}  // namespace ketcd::bench
