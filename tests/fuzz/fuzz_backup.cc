// Fuzz target: the etcd backup reader (storage/etcd_backup_read.cc) and the
// bbolt reader under it (storage/bbolt/reader.cc). Both read from a path,
// so the input is written as one file of the scratch directory and opened
// with the hash check skipped (a fuzzed file never matches its SHA-256; the
// trailer, when the size says there is one, is still cut off). Then every
// reading path a restore or `snapshot status` takes: the small buckets
// (done by Open), the key bucket's revisions, the status walk, and bbolt's
// consistency check.
//
// Property: no crash, hang or huge allocation; a corrupt file is an error.
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/etcd_backup.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ketcd_fuzz::ScratchDir scratch("backup");
  static const std::string path = scratch.Sub("backup.db");
  ketcd_fuzz::WriteFileOrDie(path, std::string_view(reinterpret_cast<const char*>(data), size));

  storage::BackupReadOptions opts;
  opts.skip_hash_check = true;
  auto reader = storage::BackupReader::Open(path, opts);
  if (!reader.ok()) {
    FUZZ_NOTE("open: %s", reader.status().ToString().c_str());
    return 0;
  }
  int64_t revisions = 0;
  (void)(*reader)->ForEachRevision([&](const storage::BackupRevision& r) {
    ++revisions;
    return absl::OkStatus();
  });
  auto status = (*reader)->Status();
  absl::Status check = (*reader)->db().Check();
  FUZZ_NOTE("%zu leases, %zu members, %lld revisions, status %s, check %s", (*reader)->facts().leases.size(),
            (*reader)->facts().members.size(), static_cast<long long>(revisions),
            status.ok() ? "ok" : status.status().ToString().c_str(), check.ToString().c_str());
  return 0;
}
