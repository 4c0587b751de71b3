#include "storage/wal_format.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/crc32c.h"

namespace storage::wal_format {
namespace {

// Little-endian fixed-width integers; the WAL is read and written only on
// little-endian hosts, but the byte order is explicit so the format is too.
void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t Get64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

std::string EncodeSegmentHeader(const SegmentHeader& h) {
  std::string out(kMetadataSize, '\0');
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  Put32(out.data() + 8, kVersion);
  Put64(out.data() + 16, h.seq);
  Put64(out.data() + 24, h.first_index);
  Put64(out.data() + 32, h.metadata.cluster_id);
  Put64(out.data() + 40, h.metadata.member_id);
  return out;
}

bool DecodeSegmentHeader(std::string_view p, SegmentHeader* h, std::string* why) {
  if (p.size() != kMetadataSize) {
    *why = absl::StrCat("metadata record of ", p.size(), " bytes, expected ", kMetadataSize);
    return false;
  }
  if (p.substr(0, 8) != kMagic) {
    *why = "metadata record without the KETCDWAL magic";
    return false;
  }
  uint32_t version = Get32(p.data() + 8);
  if (version != kVersion) {
    *why = absl::StrCat("WAL format version ", version, " (this build reads ", kVersion, ")");
    return false;
  }
  h->seq = Get64(p.data() + 16);
  h->first_index = Get64(p.data() + 24);
  h->metadata.cluster_id = Get64(p.data() + 32);
  h->metadata.member_id = Get64(p.data() + 40);
  return true;
}

bool DecodeCommit(std::string_view p, Commit* c) {
  if (p.size() != kCommitSize) return false;
  c->records = Get32(p.data());
  c->crc = Get32(p.data() + 4);
  c->bytes = Get64(p.data() + 8);
  return true;
}

size_t BatchEncoder::Reserve(uint64_t n) {
  size_t at = out_->size();
  out_->resize(at + RecordSize(n), '\0');
  return at;
}

void BatchEncoder::Seal(size_t at, RecordType type, uint64_t n) {
  char* h = out_->data() + at;
  h[4] = static_cast<char>(type);
  Put32(h + 8, static_cast<uint32_t>(n));
  Put32(h + 12, Crc32c(h + kHeaderSize, n));
  Put64(h + 16, batch_);
  Put32(h, Crc32c(h + 4, kHeaderSize - 4));
  ++records_;
}

void BatchEncoder::Add(RecordType type, const google::protobuf::MessageLite& msg) {
  size_t n = msg.ByteSizeLong();
  size_t at = Reserve(n);
  msg.SerializeWithCachedSizesToArray(
      reinterpret_cast<uint8_t*>(out_->data() + at + kHeaderSize));
  Seal(at, type, n);
}

void BatchEncoder::AddRaw(RecordType type, std::string_view payload) {
  size_t at = Reserve(payload.size());
  std::memcpy(out_->data() + at + kHeaderSize, payload.data(), payload.size());
  Seal(at, type, payload.size());
}

void BatchEncoder::Finish() {
  uint64_t bytes = out_->size() - start_;
  char payload[kCommitSize];
  Put32(payload, records_);
  Put32(payload + 4, Crc32c(out_->data() + start_, bytes));
  Put64(payload + 8, bytes);
  AddRaw(RecordType::kCommit, std::string_view(payload, kCommitSize));
}

Parse ParseRecord(std::string_view file, uint64_t offset, Record* rec, std::string* why) {
  if (offset + kHeaderSize > file.size()) {
    if (AllZero(file.data() + offset, file.size() - offset)) return Parse::kZero;
    *why = "record header cut short by the end of the file";
    return Parse::kBad;
  }
  const char* h = file.data() + offset;
  if (AllZero(h, kHeaderSize)) return Parse::kZero;
  if (Get32(h) != Crc32c(h + 4, kHeaderSize - 4)) {
    *why = "record header checksum mismatch";
    return Parse::kBad;
  }
  uint8_t type = static_cast<uint8_t>(h[4]);
  if (type < static_cast<uint8_t>(RecordType::kMetadata) ||
      type > static_cast<uint8_t>(RecordType::kCommit) || !AllZero(h + 5, 3)) {
    *why = absl::StrCat("unknown record type ", type);
    return Parse::kBad;
  }
  uint64_t n = Get32(h + 8);
  if (offset + RecordSize(n) > file.size()) {
    *why = absl::StrCat("record of ", n, " bytes runs past the end of the file");
    return Parse::kBad;
  }
  if (Get32(h + 12) != Crc32c(h + kHeaderSize, n)) {
    *why = "record payload checksum mismatch";
    return Parse::kBad;
  }
  rec->type = static_cast<RecordType>(type);
  rec->batch = Get64(h + 16);
  rec->payload = file.substr(offset + kHeaderSize, n);
  rec->size = RecordSize(n);
  return Parse::kOk;
}

std::string SegmentName(uint64_t seq, uint64_t first_index) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%016llx-%016llx.wal", static_cast<unsigned long long>(seq),
                static_cast<unsigned long long>(first_index));
  return buf;
}

bool ParseSegmentName(std::string_view name, uint64_t* seq, uint64_t* first_index) {
  if (name.size() != 37 || name[16] != '-' || name.substr(33) != ".wal") return false;
  auto hex = [](std::string_view s, uint64_t* v) {
    *v = 0;
    for (char c : s) {
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else {
        return false;
      }
      *v = (*v << 4) | static_cast<uint64_t>(d);
    }
    return true;
  };
  return hex(name.substr(0, 16), seq) && hex(name.substr(17, 16), first_index);
}

}  // namespace storage::wal_format
