#include "storage/bbolt/format.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace storage::bbolt {
namespace {

template <typename T>
void PutLittle(char* p, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

template <typename T>
T GetLittle(const char* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<T>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

}  // namespace

void PutU16(char* p, uint16_t v) { PutLittle(p, v); }
void PutU32(char* p, uint32_t v) { PutLittle(p, v); }
void PutU64(char* p, uint64_t v) { PutLittle(p, v); }
uint16_t GetU16(const char* p) { return GetLittle<uint16_t>(p); }
uint32_t GetU32(const char* p) { return GetLittle<uint32_t>(p); }
uint64_t GetU64(const char* p) { return GetLittle<uint64_t>(p); }

void EncodePageHeader(const PageHeader& h, char* dst) {
  PutU64(dst, h.id);
  PutU16(dst + 8, h.flags);
  PutU16(dst + 10, h.count);
  PutU32(dst + 12, h.overflow);
}

PageHeader DecodePageHeader(const char* src) {
  return PageHeader{GetU64(src), GetU16(src + 8), GetU16(src + 10), GetU32(src + 12)};
}

uint64_t MetaChecksum(const char* meta_bytes) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (size_t i = 0; i < kMetaChecksumOffset; ++i) {
    h ^= static_cast<unsigned char>(meta_bytes[i]);
    h *= 1099511628211ull;  // FNV 64 prime
  }
  return h;
}

void EncodeMeta(const Meta& m, char* dst) {
  PutU32(dst, m.magic);
  PutU32(dst + 4, m.version);
  PutU32(dst + 8, m.page_size);
  PutU32(dst + 12, m.flags);
  PutU64(dst + 16, m.root);
  PutU64(dst + 24, m.sequence);
  PutU64(dst + 32, m.freelist);
  PutU64(dst + 40, m.pgid);
  PutU64(dst + 48, m.txid);
  PutU64(dst + 56, MetaChecksum(dst));
}

Meta DecodeMeta(const char* src) {
  Meta m;
  m.magic = GetU32(src);
  m.version = GetU32(src + 4);
  m.page_size = GetU32(src + 8);
  m.flags = GetU32(src + 12);
  m.root = GetU64(src + 16);
  m.sequence = GetU64(src + 24);
  m.freelist = GetU64(src + 32);
  m.pgid = GetU64(src + 40);
  m.txid = GetU64(src + 48);
  m.checksum = GetU64(src + 56);
  return m;
}

std::string Printable(std::string_view s) {
  s = s.substr(0, 64);
  return absl::CEscape(absl::string_view(s.data(), s.size()));
}

std::string MetaPage(const Meta& m, uint64_t id, uint32_t page_size) {
  std::string page(page_size, '\0');
  EncodePageHeader(PageHeader{id, kMetaPage, 0, 0}, page.data());
  EncodeMeta(m, page.data() + kPageHeaderSize);
  return page;
}

absl::Status ValidateMeta(const Meta& m, std::string_view which) {
  auto bad = [&](std::string_view why) {
    return absl::DataLossError(absl::StrCat("bbolt: ", std::string(which), ": ", std::string(why)));
  };
  if (m.magic != kMagic) return bad("bad magic (not a bbolt file)");
  if (m.version != kVersion) return bad(absl::StrCat("unsupported version ", m.version));
  char bytes[kMetaSize];
  EncodeMeta(m, bytes);
  if (GetU64(bytes + kMetaChecksumOffset) != m.checksum) return bad("checksum mismatch");
  bool power_of_two = (m.page_size & (m.page_size - 1)) == 0;
  if (m.page_size < 1024 || m.page_size > 65536 || !power_of_two) {
    return bad(absl::StrCat("unsupported page size ", m.page_size));
  }
  if (m.root < 2 || m.root >= m.pgid) {
    return bad(absl::StrCat("root page ", m.root, " outside [2, ", m.pgid, ")"));
  }
  if (m.freelist != kNoFreelist && (m.freelist < 2 || m.freelist >= m.pgid)) {
    return bad(absl::StrCat("freelist page ", m.freelist, " outside [2, ", m.pgid, ")"));
  }
  return absl::OkStatus();
}

}  // namespace storage::bbolt
