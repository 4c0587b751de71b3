#include "server/edge/request_checks.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "server/state/errors.h"

namespace server {
namespace {

using etcdserverpb::RequestOp;

absl::Status CheckTxnOps(const etcdserverpb::TxnRequest& r, int max_txn_ops);

absl::Status CheckOp(const RequestOp& op, int max_txn_ops) {
  switch (op.request_case()) {
    case RequestOp::kRequestRange:
      return CheckRange(op.request_range());
    case RequestOp::kRequestPut:
      return CheckPut(op.request_put());
    case RequestOp::kRequestDeleteRange:
      return CheckDeleteRange(op.request_delete_range());
    case RequestOp::kRequestTxn:
      return CheckTxnOps(op.request_txn(), max_txn_ops);
    default:
      // etcd answers an empty union with "key not found".
      return KeyNotFoundError();
  }
}

absl::Status CheckTxnOps(const etcdserverpb::TxnRequest& r, int max_txn_ops) {
  int ops = std::max({r.compare_size(), r.success_size(), r.failure_size()});
  if (ops > max_txn_ops) return TooManyOpsError();
  for (const auto& c : r.compare()) {
    if (c.key().empty()) return EmptyKeyError();
  }
  // Nested txns share the budget the way etcd counts it.
  for (const auto& op : r.success()) {
    if (auto s = CheckOp(op, max_txn_ops - ops); !s.ok()) return s;
  }
  for (const auto& op : r.failure()) {
    if (auto s = CheckOp(op, max_txn_ops - ops); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Delete intervals compare as plain byte strings with an empty end meaning
// +infinity, exactly as etcd's affine string intervals; a point delete is
// [key, key+"\0"). A "\0" range end therefore overlaps no put, as in etcd.
struct Interval {
  std::string begin;
  std::string end;  // empty = unbounded
};

bool Contains(const std::vector<Interval>& dels, const std::string& k) {
  for (const auto& iv : dels) {
    if (k >= iv.begin && (iv.end.empty() || k < iv.end)) return true;
  }
  return false;
}

absl::Status CheckIntervals(const google::protobuf::RepeatedPtrField<RequestOp>& ops,
                            std::set<std::string>* puts_out, std::vector<Interval>* dels_out) {
  std::vector<Interval> dels;
  for (const auto& op : ops) {
    if (!op.has_request_delete_range()) continue;
    const auto& d = op.request_delete_range();
    if (!d.range_end().empty()) {
      dels.push_back({d.key(), d.range_end()});
    } else {
      dels.push_back({d.key(), d.key() + std::string(1, '\0')});
    }
  }
  std::set<std::string> puts;
  for (const auto& op : ops) {
    if (!op.has_request_txn()) continue;
    std::set<std::string> puts_then, puts_else;
    std::vector<Interval> dels_then, dels_else;
    if (auto s = CheckIntervals(op.request_txn().success(), &puts_then, &dels_then); !s.ok()) return s;
    if (auto s = CheckIntervals(op.request_txn().failure(), &puts_else, &dels_else); !s.ok()) return s;
    for (const auto& k : puts_then) {
      if (puts.count(k) || Contains(dels, k)) return DuplicateKeyError();
      puts.insert(k);
    }
    for (const auto& k : puts_else) {
      // then/else exclude each other, so a key put by both is fine.
      if (puts.count(k) && !puts_then.count(k)) return DuplicateKeyError();
      if (Contains(dels, k)) return DuplicateKeyError();
      puts.insert(k);
    }
    dels.insert(dels.end(), dels_then.begin(), dels_then.end());
    dels.insert(dels.end(), dels_else.begin(), dels_else.end());
  }
  for (const auto& op : ops) {
    if (!op.has_request_put()) continue;
    const std::string& k = op.request_put().key();
    if (puts.count(k) || Contains(dels, k)) return DuplicateKeyError();
    puts.insert(k);
  }
  if (puts_out) *puts_out = std::move(puts);
  if (dels_out) *dels_out = std::move(dels);
  return absl::OkStatus();
}

bool OpsReadOnly(const google::protobuf::RepeatedPtrField<RequestOp>& ops) {
  for (const auto& op : ops) {
    if (op.has_request_put() || op.has_request_delete_range()) return false;
    if (op.has_request_txn() && !IsTxnReadOnly(op.request_txn())) return false;
  }
  return true;
}

}  // namespace

absl::Status CheckRange(const etcdserverpb::RangeRequest& r) {
  if (r.key().empty()) return EmptyKeyError();
  // etcd 3.5 refuses enum values it does not know.
  if (!etcdserverpb::RangeRequest::SortOrder_IsValid(r.sort_order()) ||
      !etcdserverpb::RangeRequest::SortTarget_IsValid(r.sort_target())) {
    return InvalidSortOptionError();
  }
  return absl::OkStatus();
}

absl::Status CheckPut(const etcdserverpb::PutRequest& r) {
  if (r.key().empty()) return EmptyKeyError();
  if (r.ignore_value() && !r.value().empty()) return ValueProvidedError();
  if (r.ignore_lease() && r.lease() != 0) return LeaseProvidedError();
  return absl::OkStatus();
}

absl::Status CheckDeleteRange(const etcdserverpb::DeleteRangeRequest& r) {
  if (r.key().empty()) return EmptyKeyError();
  return absl::OkStatus();
}

absl::Status CheckTxn(const etcdserverpb::TxnRequest& r, int max_txn_ops) {
  if (auto s = CheckTxnOps(r, max_txn_ops); !s.ok()) return s;
  if (auto s = CheckIntervals(r.success(), nullptr, nullptr); !s.ok()) return s;
  return CheckIntervals(r.failure(), nullptr, nullptr);
}

bool IsTxnReadOnly(const etcdserverpb::TxnRequest& r) {
  return OpsReadOnly(r.success()) && OpsReadOnly(r.failure());
}

}  // namespace server
