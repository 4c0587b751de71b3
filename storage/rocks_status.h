// The one place where rocksdb::Status becomes absl::Status.
#pragma once

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace storage {

[[nodiscard]] absl::Status FromRocks(const rocksdb::Status& s);

}  // namespace storage
