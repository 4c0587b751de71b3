// `snapshot status FILE -w FORMAT`: what etcdctl 3.4 prints for a backup's
// storage::BackupStatus, byte for byte, in each of its output formats.
//
// Contract: FormatSnapshotStatus renders `simple` ("hash, revision, total
// keys, total size" with the size as go-humanize's Bytes), `table`
// (olekukonko/tablewriter as etcdctl configures it: every cell right
// aligned, centred upper-case header), `json` (the Go struct's fields
// hash, revision, totalKey, totalSize) and `fields`. Any other format is
// an error with etcdctl's text and exit code (kExitBadFeature).
// SnapshotStatus opens the file with storage::BackupReader, so unlike
// etcdctl it refuses a file whose SHA-256 trailer is missing or wrong (a
// truncated or damaged backup) unless skip_hash_check.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/etcd_backup.h"

namespace tools {

// go-humanize's Bytes: SI units, "%.1f" below 10 ("2.1 MB"), "%.0f" above.
std::string HumanizeBytes(uint64_t bytes);

struct FormatError {
  int exit_code = 0;
  std::string message;
};

// The text to print (newline-terminated), or the error etcdctl exits with.
[[nodiscard]] bool FormatSnapshotStatus(const storage::BackupStatus& status, std::string_view format,
                                        std::string* out, FormatError* error);

// Reads and checks `path`; the status etcdctl would compute for it.
[[nodiscard]] absl::StatusOr<storage::BackupStatus> SnapshotStatus(const std::string& path,
                                                                   bool skip_hash_check);

}  // namespace tools
