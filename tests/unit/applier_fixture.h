// ApplierFixture: a fresh store in a temp dir, a KvApplier whose lessor knows
// leases 100 and 200, and helpers that build etcdserverpb requests and apply
// them as the apply loop does (one WriteBatch per entry, committed with the
// next applied index).
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "server/state/applier.h"
#include "server/state/kv_applier.h"
#include "server/state/errors.h"
#include "storage/mvcc_store.h"
#include "tests/unit/local_member.h"
#include "tests/unit/store_util.h"
#include "tests/common/temp_dir.h"

namespace ketcd_test {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;

inline etcdserverpb::PutRequest MakePut(const std::string& key, const std::string& value,
                                        int64_t lease = 0) {
  etcdserverpb::PutRequest p;
  p.set_key(key);
  p.set_value(value);
  p.set_lease(lease);
  return p;
}

inline etcdserverpb::DeleteRangeRequest MakeDelete(const std::string& key, const std::string& end = "",
                                                   bool prev_kv = false) {
  etcdserverpb::DeleteRangeRequest d;
  d.set_key(key);
  d.set_range_end(end);
  d.set_prev_kv(prev_kv);
  return d;
}

inline RangeRequest MakeRange(const std::string& key, const std::string& end = "") {
  RangeRequest r;
  r.set_key(key);
  r.set_range_end(end);
  return r;
}

inline RequestOp OpPut(const std::string& key, const std::string& value, int64_t lease = 0) {
  RequestOp op;
  *op.mutable_request_put() = MakePut(key, value, lease);
  return op;
}
inline RequestOp OpDelete(const std::string& key, const std::string& end = "") {
  RequestOp op;
  *op.mutable_request_delete_range() = MakeDelete(key, end);
  return op;
}
inline RequestOp OpRange(const std::string& key, const std::string& end = "") {
  RequestOp op;
  *op.mutable_request_range() = MakeRange(key, end);
  return op;
}
inline RequestOp OpTxn(const TxnRequest& t) {
  RequestOp op;
  *op.mutable_request_txn() = t;
  return op;
}

// "<target>(key) <result> operand"; `operand` goes to the member that
// matches `target` (the value for VALUE, a number otherwise).
inline Compare MakeCompare(const std::string& key, Compare::CompareTarget target,
                           Compare::CompareResult result, int64_t number,
                           const std::string& value = "", const std::string& range_end = "") {
  Compare c;
  c.set_key(key);
  c.set_target(target);
  c.set_result(result);
  c.set_range_end(range_end);
  switch (target) {
    case Compare::VERSION: c.set_version(number); break;
    case Compare::CREATE: c.set_create_revision(number); break;
    case Compare::MOD: c.set_mod_revision(number); break;
    case Compare::VALUE: c.set_value(value); break;
    case Compare::LEASE: c.set_lease(number); break;
    default: break;
  }
  return c;
}

inline serverpb::InternalRequest Wrap(const etcdserverpb::PutRequest& p) {
  serverpb::InternalRequest r;
  *r.mutable_put() = p;
  return r;
}
inline serverpb::InternalRequest Wrap(const etcdserverpb::DeleteRangeRequest& d) {
  serverpb::InternalRequest r;
  *r.mutable_delete_range() = d;
  return r;
}
inline serverpb::InternalRequest Wrap(const TxnRequest& t) {
  serverpb::InternalRequest r;
  *r.mutable_txn() = t;
  return r;
}
inline serverpb::InternalRequest WrapCompact(int64_t rev) {
  serverpb::InternalRequest r;
  r.mutable_compaction()->set_revision(rev);
  return r;
}

// A lone raft member over `store` (see local_member.h).
inline std::unique_ptr<LocalMember> NewLog(storage::MvccStore* store,
                                           const server::Applier* applier) {
  return std::make_unique<LocalMember>(store, applier);
}

class ApplierFixture {
 public:
  ApplierFixture()
      : store_(OpenStore(dir_.Sub("db"))),
        applier_([this](int64_t id) { return leases_.count(id) > 0; }) {}

  // Applies one entry as the apply loop does; the batch commits even when
  // the request fails (the entry is still consumed).
  absl::StatusOr<serverpb::InternalResponse> Apply(const serverpb::InternalRequest& req) {
    auto wb = store_->Write();
    auto got = applier_.ApplyEntry(*wb, req);
    REQUIRE(wb->Commit(++index_, /*sync=*/false).ok());
    return got;
  }
  template <typename Req>
  serverpb::InternalResponse MustApply(const Req& req) {
    auto got = Apply(Wrap(req));
    INFO(got.status().ToString());
    REQUIRE(got.ok());
    return *got;
  }
  int64_t Put(const std::string& key, const std::string& value, int64_t lease = 0) {
    return MustApply(MakePut(key, value, lease)).put().header().revision();
  }
  etcdserverpb::RangeResponse Read(const RangeRequest& r) {
    auto got = applier_.ReadRange(*store_, r);
    INFO(got.status().ToString());
    REQUIRE(got.ok());
    return *got;
  }
  std::optional<mvccpb::KeyValue> Get(const std::string& key) {
    auto r = Read(MakeRange(key));
    if (r.kvs_size() == 0) return std::nullopt;
    return r.kvs(0);
  }

  TempDir dir_;
  std::unique_ptr<storage::MvccStore> store_;
  std::set<int64_t> leases_{100, 200};
  server::KvApplier applier_;
  uint64_t index_ = 0;
};

}  // namespace ketcd_test
