// Order-preserving encodings of the RocksDB keys the MVCC store writes.
//
// kv column family:  Escape(user_key) 0x00 0x01 | ~main (8 bytes BE) | ~sub (8 BE)
//   Escape() turns each 0x00 byte into 0x00 0xFF and leaves other bytes alone,
//   so the encoded key sorts exactly as the raw user key for any bytes
//   (including 0x00, 0xFF and keys that are prefixes of each other), and the
//   complemented revision sorts the newest version of a key first. A range
//   read at any revision is therefore one forward iterator.
// rev column family: main (8 BE) | sub (8 BE), ascending.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "storage/revision.h"

namespace storage {

// The prefix shared by every version of `user_key` in the kv column family;
// also the smallest encoded key at or after `user_key`.
std::string EncodeUserKey(std::string_view user_key);

// The smallest encoded key strictly after every version of `user_key`.
std::string EncodeUserKeySuccessor(std::string_view user_key);

std::string EncodeKvKey(std::string_view user_key, Revision rev);

struct DecodedKvKey {
  std::string user_key;
  Revision rev;
};
// nullopt when `encoded` was not written by EncodeKvKey (corruption).
std::optional<DecodedKvKey> DecodeKvKey(std::string_view encoded);

std::string EncodeRevKey(Revision rev);
std::optional<Revision> DecodeRevKey(std::string_view encoded);

}  // namespace storage
