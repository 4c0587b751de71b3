// The KV request kinds of ketcd-bench, as ClosedLoop ops: put, range,
// txn-put and txn-mixed, shaped after etcd's own benchmark tool.
//
// Contract: request n's key and value depend only on (seed, n) and the
// flags, never on timing or on which client sends it. range with
// --key-space-size reads one key per request, named as put names its keys
// (BinaryKey of an index below the key space, --key-size bytes), so a
// range after `put --sequential-keys` over the same space always hits. Every op ends its
// request through `done` exactly once; txn-mixed reports reads as kind 0
// and writes as kind 1, the others everything as kind 0.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "bench/driver.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace ketcd::bench {

struct KvWorkload {
  int key_size = 8;
  int val_size = 8;
  uint64_t key_space_size = 1;
  bool sequential_keys = false;
  uint64_t seed = 1;
  int txn_ops = 1;
  std::string range_key;
  std::string range_end;
  bool range_keys = false;  // range: one of put's keys per request (key_size, key_space_size), at random
  bool serializable = false;
  int64_t limit = 0;
  double rw_ratio = 1.0;  // reads per write, txn-mixed
  std::string key_prefix; // txn-mixed writes: prefix + zero-padded number
  double timeout_s = 60;
};

using KvStubs = std::vector<std::unique_ptr<etcdserverpb::KV::Stub>>;

ClosedLoop::Op PutOp(std::shared_ptr<KvStubs> stubs, KvWorkload w);
// `empty` (may be null) counts the ranges answered without a key.
ClosedLoop::Op RangeOp(std::shared_ptr<KvStubs> stubs, KvWorkload w, std::atomic<uint64_t>* empty = nullptr);
ClosedLoop::Op TxnPutOp(std::shared_ptr<KvStubs> stubs, KvWorkload w);
ClosedLoop::Op TxnMixedOp(std::shared_ptr<KvStubs> stubs, KvWorkload w);

// The key request n writes under `w` (exposed for tests of determinism).
std::string PutKey(const KvWorkload& w, uint64_t n);
std::string RangeKey(const KvWorkload& w, uint64_t n);  // with range_keys
std::string MixedWriteKey(const KvWorkload& w, uint64_t n);
bool MixedIsRead(const KvWorkload& w, uint64_t n);

}  // namespace ketcd::bench
