#include "server/state/kv_hash.h"

#include <string>

#include "storage/crc32c.h"
#include "storage/errors.h"

namespace server {

absl::StatusOr<KvHash> HashKv(const storage::MvccStore& store, int64_t rev) {
  auto view = store.Read();
  KvHash out;
  out.rev = view->rev();
  out.compact_rev = view->compact_rev();
  // As etcd's HashByRev: the compaction revision itself is refused too
  // (a range at it still answers; a hash at it does not).
  if (rev > 0 && rev <= out.compact_rev) return storage::CompactedError();
  if (rev > out.rev) return storage::FutureRevError();
  out.hash_rev = rev > 0 ? rev : view->rev();
  uint32_t crc = 0;
  auto add_int = [&crc](int64_t v) { crc = storage::Crc32cExtend(crc, &v, sizeof(v)); };
  auto add_bytes = [&crc, &add_int](const std::string& b) {
    add_int(static_cast<int64_t>(b.size()));
    crc = storage::Crc32cExtend(crc, b.data(), b.size());
  };
  storage::KeyRange all;
  all.single = false;
  all.to_end = true;
  auto s = view->Scan(all, out.hash_rev, [&](const mvccpb::KeyValue& kv) {
    add_bytes(kv.key());
    add_bytes(kv.value());
    add_int(kv.create_revision());
    add_int(kv.mod_revision());
    add_int(kv.version());
    add_int(kv.lease());
  });
  if (!s.ok()) return s;
  add_int(out.compact_rev);
  out.hash = crc;
  return out;
}

}  // namespace server
