// The bbolt file format (go.etcd.io/bbolt 1.3, as etcd 3.4 and 3.5 write it),
// spelled once for the writer and the reader. All integers are little endian
// (bbolt writes its structs in the machine's order; etcd runs on
// little-endian machines).
//
// A file is a sequence of pages of `page_size` bytes (4096 here); page N
// starts at byte N * page_size. Every page opens with a 16-byte header:
//   id u64 | flags u16 | count u16 | overflow u32
// where `overflow` counts the extra pages a large page spans (the page and
// its overflow pages are one contiguous block).
//
//   page 0, 1   meta: header, then magic u32 (0xED0CDAED) | version u32 (2) |
//               page_size u32 | flags u32 | root bucket {root pgid u64,
//               sequence u64} | freelist pgid u64 | pgid (high-water mark:
//               pages in use) u64 | txid u64 | checksum u64 (FNV-1a 64 of
//               the 56 bytes before it). The valid meta with the higher txid
//               is the current one.
//   freelist    `count` free page ids (u64 each) after the header; a count
//               of 0xFFFF means the first u64 holds the real count.
//   branch      `count` elements {pos u32, ksize u32, pgid u64}; element i's
//               key starts `pos` bytes after element i itself. The child at
//               pgid holds the keys >= that key (and < the next element's).
//   leaf        `count` elements {flags u32, pos u32, ksize u32, vsize u32};
//               key then value start `pos` bytes after the element. flags 1
//               marks a nested bucket: its value is a bucket header {root
//               pgid u64, sequence u64}, and when root is 0 the bucket is
//               inline: a leaf page (header and elements, no padding)
//               follows the header inside the value.
// Keys within a bucket are unique and sorted bytewise (unsigned).
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace storage::bbolt {

inline constexpr uint32_t kPageSize = 4096;
inline constexpr uint32_t kMagic = 0xED0CDAED;
inline constexpr uint32_t kVersion = 2;

// Page flags.
inline constexpr uint16_t kBranchPage = 0x01;
inline constexpr uint16_t kLeafPage = 0x02;
inline constexpr uint16_t kMetaPage = 0x04;
inline constexpr uint16_t kFreelistPage = 0x10;

// Leaf element flag: the value is a nested bucket.
inline constexpr uint32_t kBucketLeafFlag = 0x01;

inline constexpr size_t kPageHeaderSize = 16;
inline constexpr size_t kElementSize = 16;  // leaf and branch elements alike
inline constexpr size_t kBucketHeaderSize = 16;
inline constexpr size_t kMetaChecksumOffset = 56;  // within the meta struct
inline constexpr size_t kMetaSize = 64;
// bbolt's limits on what a bucket may hold.
inline constexpr size_t kMaxKeySize = 32768;
inline constexpr size_t kMaxValueSize = (size_t{1} << 31) - 2;
// A bucket is written inline when its one leaf page (header, elements, keys
// and values) is at most this large and it holds no nested bucket.
inline constexpr size_t kMaxInlineBucketSize = kPageSize / 4;
// A branch/leaf count is a u16 and 0xFFFF is reserved by the freelist.
inline constexpr size_t kMaxElementsPerPage = 0xFFFE;
// meta.freelist when the freelist is not stored (bbolt's NoFreelistSync).
inline constexpr uint64_t kNoFreelist = ~uint64_t{0};

struct PageHeader {
  uint64_t id = 0;
  uint16_t flags = 0;
  uint16_t count = 0;
  uint32_t overflow = 0;
};

struct Meta {
  uint32_t magic = kMagic;
  uint32_t version = kVersion;
  uint32_t page_size = kPageSize;
  uint32_t flags = 0;
  uint64_t root = 0;      // the root bucket's page
  uint64_t sequence = 0;  // the root bucket's sequence
  uint64_t freelist = 0;
  uint64_t pgid = 0;  // high-water mark: pages [0, pgid) are in use or free
  uint64_t txid = 0;
  uint64_t checksum = 0;
};

// Little-endian fixed-width integers at `p` (no alignment needed).
void PutU16(char* p, uint16_t v);
void PutU32(char* p, uint32_t v);
void PutU64(char* p, uint64_t v);
uint16_t GetU16(const char* p);
uint32_t GetU32(const char* p);
uint64_t GetU64(const char* p);

void EncodePageHeader(const PageHeader& h, char* dst);  // 16 bytes
PageHeader DecodePageHeader(const char* src);

// The 64 meta bytes (after the page header). Encode computes the checksum.
void EncodeMeta(const Meta& m, char* dst);
Meta DecodeMeta(const char* src);
// FNV-1a 64 of the first 56 meta bytes, as bbolt checks it.
uint64_t MetaChecksum(const char* meta_bytes);

// `s` (at most its first 64 bytes) with unprintable bytes escaped, for
// error messages.
std::string Printable(std::string_view s);

// A full meta page: header {id, kMetaPage} then the meta.
std::string MetaPage(const Meta& m, uint64_t id, uint32_t page_size);

// Why `m` is not a usable meta (bad magic, version, checksum, page size,
// root/freelist outside the high-water mark), naming `which` ("meta page 0").
[[nodiscard]] absl::Status ValidateMeta(const Meta& m, std::string_view which);

}  // namespace storage::bbolt
