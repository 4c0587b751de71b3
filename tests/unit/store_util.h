// Helpers shared by the storage and server unit tests: opening a store and
// comparing its answers with KvModel's.
#pragma once

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "storage/errors.h"
#include "storage/mvcc_store.h"
#include "tests/unit/kv_model.h"

namespace ketcd_test {

inline std::unique_ptr<storage::MvccStore> OpenStore(const std::string& dir) {
  auto store = storage::MvccStore::Open(dir);
  INFO("open " << dir << ": " << store.status().ToString());
  REQUIRE(store.ok());
  return std::move(*store);
}

inline ReadError ErrorOf(const absl::Status& s) {
  if (s.ok()) return ReadError::kNone;
  if (storage::IsCompacted(s)) return ReadError::kCompacted;
  if (storage::IsFutureRev(s)) return ReadError::kFutureRev;
  FAIL("unexpected status " << s.ToString());
  return ReadError::kNone;
}

inline const char* Name(ReadError e) {
  switch (e) {
    case ReadError::kNone: return "ok";
    case ReadError::kCompacted: return "compacted";
    case ReadError::kFutureRev: return "future";
  }
  return "?";
}

// REQUIREs that a store range answer equals the model's.
inline void RequireSameRange(const absl::StatusOr<storage::RangeResult>& got,
                             const ModelRange& want) {
  const ReadError got_err = got.ok() ? ReadError::kNone : ErrorOf(got.status());
  INFO("store: " << (got.ok() ? "ok" : got.status().ToString()) << "  model: " << Name(want.error));
  REQUIRE(got_err == want.error);
  if (!got.ok()) return;
  INFO("store kvs " << KvsStr(got->kvs) << "\nmodel kvs " << KvsStr(want.kvs));
  REQUIRE(got->count == want.count);
  REQUIRE(got->rev == want.rev);
  REQUIRE(KvsStr(got->kvs) == KvsStr(want.kvs));
}

}  // namespace ketcd_test
