#include "server/state/kv_applier.h"

#include <algorithm>
#include <string>

#include "server/state/alarms.h"
#include "server/state/errors.h"
#include "server/state/lessor.h"
#include "storage/errors.h"
#include "storage/meta_schema.h"

namespace server {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;
using storage::KeyRange;

// One request's operations, added to the member's counters when it ends.
class OpTally {
 public:
  explicit OpTally(KvOpCounters* counters) : counters_(counters) {}
  ~OpTally() {
    const auto add = [](std::atomic<uint64_t>& c, uint64_t n) {
      if (n > 0) c.fetch_add(n, std::memory_order_relaxed);
    };
    add(counters_->range, ranges);
    add(counters_->put, puts);
    add(counters_->del, deletes);
    add(counters_->txn, ranges + puts + deletes > 1 ? 1 : 0);
  }
  uint64_t ranges = 0, puts = 0, deletes = 0;

 private:
  KvOpCounters* counters_;
};

class ReadViewAccess : public KvAccess {
 public:
  ReadViewAccess(std::unique_ptr<storage::ReadView> view, KvOpCounters* counters)
      : view_(std::move(view)), tally_(counters) {}
  absl::StatusOr<storage::RangeResult> Range(const KeyRange& range,
                                             const storage::RangeOptions& opts) override {
    ++tally_.ranges;
    return view_->Range(range, opts);
  }
  absl::StatusOr<mvccpb::KeyValue> Put(std::string_view, std::string_view, int64_t) override {
    return absl::InternalError("write on a read-only view");
  }
  absl::StatusOr<std::vector<mvccpb::KeyValue>> DeleteRange(const KeyRange&) override {
    return absl::InternalError("write on a read-only view");
  }
  int64_t Rev() const override { return view_->rev(); }
  int64_t CompactRev() const override { return view_->compact_rev(); }

 private:
  std::unique_ptr<storage::ReadView> view_;
  OpTally tally_;
};

class WriteTxnAccess : public KvAccess {
 public:
  WriteTxnAccess(storage::WriteTxn* txn, int64_t compact_rev, KvOpCounters* counters)
      : txn_(txn), compact_rev_(compact_rev), tally_(counters) {}
  absl::StatusOr<storage::RangeResult> Range(const KeyRange& range,
                                             const storage::RangeOptions& opts) override {
    ++tally_.ranges;
    return txn_->Range(range, opts);
  }
  absl::StatusOr<mvccpb::KeyValue> Put(std::string_view key, std::string_view value,
                                       int64_t lease) override {
    ++tally_.puts;
    return txn_->Put(key, value, lease);
  }
  absl::StatusOr<std::vector<mvccpb::KeyValue>> DeleteRange(const KeyRange& range) override {
    ++tally_.deletes;
    return txn_->DeleteRange(range);
  }
  int64_t Rev() const override { return txn_->rev_after(); }
  int64_t CompactRev() const override { return compact_rev_; }

 private:
  storage::WriteTxn* txn_;
  int64_t compact_rev_;
  OpTally tally_;
};

int CompareBytes(const std::string& a, const std::string& b) { return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1); }
int CompareInt(int64_t a, int64_t b) { return a < b ? -1 : (a > b ? 1 : 0); }

bool CompareKv(const Compare& c, const mvccpb::KeyValue& kv) {
  int result = 0;
  switch (c.target()) {
    case Compare::VALUE:
      result = CompareBytes(kv.value(), c.value());
      break;
    case Compare::CREATE:
      result = CompareInt(kv.create_revision(), c.create_revision());
      break;
    case Compare::MOD:
      result = CompareInt(kv.mod_revision(), c.mod_revision());
      break;
    case Compare::VERSION:
      result = CompareInt(kv.version(), c.version());
      break;
    case Compare::LEASE:
      result = CompareInt(kv.lease(), c.lease());
      break;
    default:
      break;
  }
  switch (c.result()) {
    case Compare::EQUAL:
      return result == 0;
    case Compare::NOT_EQUAL:
      return result != 0;
    case Compare::GREATER:
      return result > 0;
    case Compare::LESS:
      return result < 0;
    default:
      return true;
  }
}

// A compare over a range holds when it holds for every key in it; on no key
// it is judged against an empty KeyValue, except VALUE which then fails
// (a missing value cannot be told from an empty one on the wire).
bool ApplyCompare(KvAccess& kv, const Compare& c) {
  auto rr = kv.Range(KeyRange::FromEtcd(c.key(), c.range_end()), storage::RangeOptions{});
  if (!rr.ok()) return false;
  if (rr->kvs.empty()) {
    if (c.target() == Compare::VALUE) return false;
    return CompareKv(c, mvccpb::KeyValue());
  }
  for (const auto& one : rr->kvs) {
    if (!CompareKv(c, one)) return false;
  }
  return true;
}

// Evaluates every compare of the chosen path up front, against the state
// before any op runs, as etcd does; path[i] is the branch of the i-th txn in
// depth-first order.
void CompareToPath(KvAccess& kv, const etcdserverpb::TxnRequest& r, std::vector<bool>* path) {
  bool ok = true;
  for (const auto& c : r.compare()) {
    if (!ApplyCompare(kv, c)) {
      ok = false;
      break;
    }
  }
  path->push_back(ok);
  for (const auto& op : ok ? r.success() : r.failure()) {
    if (op.has_request_txn()) CompareToPath(kv, op.request_txn(), path);
  }
}

// Runs one KV request as one WriteTxn of `batch`. A request refused after
// it wrote (only storage failing can do that: checks run before writes)
// turns Internal, which stops the apply loop.
template <typename Resp, typename Fn>
absl::StatusOr<Resp> InWriteTxn(storage::WriteBatch& batch, KvOpCounters* counters, Fn fn) {
  storage::WriteTxn txn = batch.BeginTxn();
  WriteTxnAccess kv(&txn, batch.compact_rev(), counters);
  absl::StatusOr<Resp> got = fn(kv);
  if (!got.ok() && txn.changed()) {
    return absl::InternalError("request failed after writing: " + std::string(got.status().message()));
  }
  batch.EndTxn(txn);
  return got;
}

}  // namespace

absl::StatusOr<etcdserverpb::RangeResponse> KvApplier::RangeIn(KvAccess& kv,
                                                             const RangeRequest& r) const {
  etcdserverpb::RangeResponse resp;
  storage::RangeOptions ro;
  ro.limit = r.limit();
  ro.rev = r.revision();
  ro.count_only = r.count_only();
  const bool post_filter = r.sort_order() != RangeRequest::NONE || r.min_mod_revision() != 0 ||
                           r.max_mod_revision() != 0 || r.min_create_revision() != 0 ||
                           r.max_create_revision() != 0;
  if (post_filter) {
    ro.limit = 0;  // everything is needed to sort or filter before truncating
  } else if (ro.limit > 0) {
    ro.limit += 1;  // one extra tells whether there is more
  }
  auto rr = kv.Range(KeyRange::FromEtcd(r.key(), r.range_end()), ro);
  if (!rr.ok()) return rr.status();
  auto& kvs = rr->kvs;
  auto prune = [&](auto drop) { kvs.erase(std::remove_if(kvs.begin(), kvs.end(), drop), kvs.end()); };
  if (r.max_mod_revision() != 0) prune([&](const auto& x) { return x.mod_revision() > r.max_mod_revision(); });
  if (r.min_mod_revision() != 0) prune([&](const auto& x) { return x.mod_revision() < r.min_mod_revision(); });
  if (r.max_create_revision() != 0) prune([&](const auto& x) { return x.create_revision() > r.max_create_revision(); });
  if (r.min_create_revision() != 0) prune([&](const auto& x) { return x.create_revision() < r.min_create_revision(); });

  auto order = r.sort_order();
  // The store returns keys ascending, so only a non-key target needs a
  // default order; etcd sorts ascending then.
  if (r.sort_target() != RangeRequest::KEY && order == RangeRequest::NONE) order = RangeRequest::ASCEND;
  if (order != RangeRequest::NONE) {
    auto key_of = [&](const mvccpb::KeyValue& a, const mvccpb::KeyValue& b) -> int {
      switch (r.sort_target()) {
        case RangeRequest::VERSION: return CompareInt(a.version(), b.version());
        case RangeRequest::CREATE: return CompareInt(a.create_revision(), b.create_revision());
        case RangeRequest::MOD: return CompareInt(a.mod_revision(), b.mod_revision());
        case RangeRequest::VALUE: return CompareBytes(a.value(), b.value());
        default: return CompareBytes(a.key(), b.key());
      }
    };
    if (order == RangeRequest::DESCEND) {
      std::stable_sort(kvs.begin(), kvs.end(), [&](const auto& a, const auto& b) { return key_of(a, b) > 0; });
    } else {
      std::stable_sort(kvs.begin(), kvs.end(), [&](const auto& a, const auto& b) { return key_of(a, b) < 0; });
    }
  }
  if (r.limit() > 0 && static_cast<int64_t>(kvs.size()) > r.limit()) {
    kvs.resize(r.limit());
    resp.set_more(true);
  }
  resp.mutable_header()->set_revision(rr->rev);
  resp.set_count(rr->count);
  for (auto& one : kvs) {
    if (r.keys_only()) one.clear_value();
    *resp.add_kvs() = std::move(one);
  }
  return resp;
}

absl::StatusOr<etcdserverpb::PutResponse> KvApplier::PutIn(KvAccess& kv,
                                                         const etcdserverpb::PutRequest& r) const {
  etcdserverpb::PutResponse resp;
  std::string value = r.value();
  int64_t lease = r.lease();
  if (r.ignore_value() || r.ignore_lease() || r.prev_kv()) {
    auto rr = kv.Range(KeyRange::FromEtcd(r.key(), ""), storage::RangeOptions{});
    if (!rr.ok()) return rr.status();
    if ((r.ignore_value() || r.ignore_lease()) && rr->kvs.empty()) {
      return KeyNotFoundError();
    }
    if (r.ignore_value()) value = rr->kvs[0].value();
    if (r.ignore_lease()) lease = rr->kvs[0].lease();
    if (r.prev_kv() && !rr->kvs.empty()) *resp.mutable_prev_kv() = rr->kvs[0];
  }
  auto put = kv.Put(r.key(), value, lease);
  if (!put.ok()) return put.status();
  resp.mutable_header()->set_revision(put->mod_revision());
  return resp;
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> KvApplier::DeleteRangeIn(
    KvAccess& kv, const etcdserverpb::DeleteRangeRequest& r) const {
  etcdserverpb::DeleteRangeResponse resp;
  auto deleted = kv.DeleteRange(KeyRange::FromEtcd(r.key(), r.range_end()));
  if (!deleted.ok()) return deleted.status();
  resp.set_deleted(static_cast<int64_t>(deleted->size()));
  if (r.prev_kv()) {
    for (auto& one : *deleted) *resp.add_prev_kvs() = std::move(one);
  }
  resp.mutable_header()->set_revision(kv.Rev());
  return resp;
}

// Checks the ops of the chosen path before any of them runs, so a txn either
// applies whole or not at all: puts need their lease and, with ignore_*, a
// previous key; reads need a revision that is neither future nor compacted.
absl::Status KvApplier::CheckPath(KvAccess& kv, const etcdserverpb::TxnRequest& r,
                                  const std::vector<bool>& path, size_t* pos) const {
  const bool ok = path[(*pos)++];
  for (const auto& op : ok ? r.success() : r.failure()) {
    if (op.has_request_put()) {
      const auto& p = op.request_put();
      if (p.ignore_value() || p.ignore_lease()) {
        auto rr = kv.Range(KeyRange::FromEtcd(p.key(), ""), storage::RangeOptions{});
        if (!rr.ok()) return rr.status();
        if (rr->kvs.empty()) return KeyNotFoundError();
      }
      if (p.lease() != 0 && !lease_exists_(p.lease())) return LeaseNotFoundError();
    } else if (op.has_request_range()) {
      const auto& g = op.request_range();
      if (g.revision() > kv.Rev()) return storage::FutureRevError();
      if (g.revision() > 0 && g.revision() < kv.CompactRev()) return storage::CompactedError();
    } else if (op.has_request_txn()) {
      if (auto s = CheckPath(kv, op.request_txn(), path, pos); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status KvApplier::ApplyOp(KvAccess& kv, const RequestOp& op, const std::vector<bool>& path,
                                size_t* pos, etcdserverpb::ResponseOp* out) const {
  switch (op.request_case()) {
    case RequestOp::kRequestRange: {
      auto got = RangeIn(kv, op.request_range());
      if (!got.ok()) return got.status();
      *out->mutable_response_range() = std::move(*got);
      return absl::OkStatus();
    }
    case RequestOp::kRequestPut: {
      auto got = PutIn(kv, op.request_put());
      if (!got.ok()) return got.status();
      *out->mutable_response_put() = std::move(*got);
      return absl::OkStatus();
    }
    case RequestOp::kRequestDeleteRange: {
      auto got = DeleteRangeIn(kv, op.request_delete_range());
      if (!got.ok()) return got.status();
      *out->mutable_response_delete_range() = std::move(*got);
      return absl::OkStatus();
    }
    case RequestOp::kRequestTxn:
      return ApplyOps(kv, op.request_txn(), path, pos, out->mutable_response_txn());
    default:
      return absl::OkStatus();
  }
}

absl::Status KvApplier::ApplyOps(KvAccess& kv, const etcdserverpb::TxnRequest& r,
                                 const std::vector<bool>& path, size_t* pos,
                                 etcdserverpb::TxnResponse* resp) const {
  const bool ok = path[(*pos)++];
  resp->set_succeeded(ok);
  resp->mutable_header();
  for (const auto& op : ok ? r.success() : r.failure()) {
    if (auto s = ApplyOp(kv, op, path, pos, resp->add_responses()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<etcdserverpb::TxnResponse> KvApplier::TxnIn(KvAccess& kv,
                                                           const etcdserverpb::TxnRequest& r) const {
  std::vector<bool> path;
  CompareToPath(kv, r, &path);
  size_t pos = 0;
  if (auto s = CheckPath(kv, r, path, &pos); !s.ok()) return s;
  etcdserverpb::TxnResponse resp;
  pos = 0;
  if (auto s = ApplyOps(kv, r, path, &pos, &resp); !s.ok()) {
    // Every failure a client can cause was ruled out by CheckPath; what is
    // left is storage failing, which must not be half-applied.
    return absl::InternalError(std::string("txn failed after its checks: ") + std::string(s.message()));
  }
  resp.mutable_header()->set_revision(kv.Rev());
  return resp;
}

// ---- the Applier interface

absl::StatusOr<etcdserverpb::PutResponse> KvApplier::Put(storage::WriteBatch& batch,
                                                         const etcdserverpb::PutRequest& r) const {
  return InWriteTxn<etcdserverpb::PutResponse>(
      batch, &ops_, [&](KvAccess& kv) -> absl::StatusOr<etcdserverpb::PutResponse> {
        if (r.lease() != 0 && !lease_exists_(r.lease())) return LeaseNotFoundError();
        return PutIn(kv, r);
      });
}

absl::StatusOr<etcdserverpb::DeleteRangeResponse> KvApplier::DeleteRange(
    storage::WriteBatch& batch, const etcdserverpb::DeleteRangeRequest& r) const {
  return InWriteTxn<etcdserverpb::DeleteRangeResponse>(
      batch, &ops_, [&](KvAccess& kv) { return DeleteRangeIn(kv, r); });
}

absl::StatusOr<etcdserverpb::TxnResponse> KvApplier::Txn(storage::WriteBatch& batch,
                                                         const etcdserverpb::TxnRequest& r) const {
  return InWriteTxn<etcdserverpb::TxnResponse>(batch, &ops_, [&](KvAccess& kv) { return TxnIn(kv, r); });
}

absl::StatusOr<etcdserverpb::CompactionResponse> KvApplier::Compaction(
    storage::WriteBatch& batch, const etcdserverpb::CompactionRequest& r) const {
  if (auto s = batch.Compact(r.revision()); !s.ok()) return s;
  etcdserverpb::CompactionResponse resp;
  resp.mutable_header()->set_revision(batch.rev());
  return resp;
}

absl::StatusOr<etcdserverpb::LeaseGrantResponse> KvApplier::LeaseGrant(
    storage::WriteBatch& batch, const etcdserverpb::LeaseGrantRequest& r) const {
  if (lessor_ == nullptr) return absl::UnimplementedError("no lessor");
  return lessor_->ApplyGrant(batch, r);
}

absl::StatusOr<etcdserverpb::LeaseRevokeResponse> KvApplier::LeaseRevoke(
    storage::WriteBatch& batch, const etcdserverpb::LeaseRevokeRequest& r) const {
  if (lessor_ == nullptr) return absl::UnimplementedError("no lessor");
  return lessor_->ApplyRevoke(batch, r);
}

absl::StatusOr<etcdserverpb::LeaseCheckpointResponse> KvApplier::LeaseCheckpoint(
    storage::WriteBatch& batch, const etcdserverpb::LeaseCheckpointRequest& r) const {
  if (lessor_ == nullptr) return absl::UnimplementedError("no lessor");
  if (auto s = lessor_->ApplyCheckpoint(batch, r); !s.ok()) return s;
  etcdserverpb::LeaseCheckpointResponse resp;
  resp.mutable_header()->set_revision(batch.rev());
  return resp;
}

absl::StatusOr<serverpb::MemberAttributes> KvApplier::SetMemberAttributes(
    storage::WriteBatch& batch, const serverpb::MemberAttributes& attrs) const {
  if (auto s = batch.PutMeta(storage::MemberMetaKey(attrs.member_id()), attrs.SerializeAsString()); !s.ok()) {
    return absl::InternalError(s.message());
  }
  return attrs;
}

absl::StatusOr<etcdserverpb::AlarmResponse> KvApplier::Alarm(storage::WriteBatch& batch,
                                                             const etcdserverpb::AlarmRequest& r) const {
  if (alarms_ == nullptr) return absl::UnimplementedError("no alarm store");
  return alarms_->Apply(batch, r);
}

absl::StatusOr<etcdserverpb::RangeResponse> KvApplier::ReadRange(const storage::MvccStore& store,
                                                                 const RangeRequest& r) const {
  ReadViewAccess view(store.Read(), &ops_);
  return RangeIn(view, r);
}

absl::StatusOr<etcdserverpb::TxnResponse> KvApplier::ReadTxn(const storage::MvccStore& store,
                                                             const etcdserverpb::TxnRequest& r) const {
  ReadViewAccess view(store.Read(), &ops_);
  return TxnIn(view, r);
}

}  // namespace server
