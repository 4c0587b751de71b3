// Encoding and parsing of WAL records (the format is documented in wal.h).
// Internal to storage/: the Wal and its tests use it; nothing else should.
// Thread-safety: pure functions and a single-owner encoder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "google/protobuf/message_lite.h"
#include "storage/wal.h"

namespace storage::wal_format {

enum class RecordType : uint8_t {
  kMetadata = 1,
  kEntry = 2,
  kHardState = 3,
  kSnapshot = 4,
  kCommit = 5,
};

inline constexpr uint64_t kAlign = 8;
inline constexpr uint64_t kHeaderSize = 24;
inline constexpr uint64_t kMetadataSize = 48;
inline constexpr uint64_t kCommitSize = 16;
inline constexpr uint32_t kVersion = 1;
inline constexpr std::string_view kMagic = "KETCDWAL";

inline constexpr uint64_t AlignUp(uint64_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }
// Bytes a record with an n-byte payload takes, padding included.
inline constexpr uint64_t RecordSize(uint64_t n) { return AlignUp(kHeaderSize + n); }

// The payload of a metadata record: who owns the WAL and which segment this is.
struct SegmentHeader {
  uint64_t seq = 0;
  uint64_t first_index = 0;
  WalMetadata metadata;
};
std::string EncodeSegmentHeader(const SegmentHeader& h);
// False (with the reason in *why) if the payload is not a version-1 header.
bool DecodeSegmentHeader(std::string_view payload, SegmentHeader* h, std::string* why);

// The payload of a commit record.
struct Commit {
  uint32_t records = 0;  // records of the batch before the commit record
  uint32_t crc = 0;      // CRC-32C of the batch's bytes before the commit record
  uint64_t bytes = 0;    // their length
};
bool DecodeCommit(std::string_view payload, Commit* c);

// Appends the records of one batch to *out, then its commit record.
class BatchEncoder {
 public:
  BatchEncoder(std::string* out, uint64_t batch)
      : out_(out), batch_(batch), start_(out->size()) {}
  void Add(RecordType type, const google::protobuf::MessageLite& msg);
  void AddRaw(RecordType type, std::string_view payload);
  // Appends the commit record; the encoder must not be used afterwards.
  void Finish();

 private:
  // Reserves room for a record with an n-byte payload; returns its offset.
  size_t Reserve(uint64_t n);
  void Seal(size_t at, RecordType type, uint64_t n);

  std::string* out_;
  uint64_t batch_;
  size_t start_;
  uint32_t records_ = 0;
};

// One record as parsed from a segment; payload points into the segment.
struct Record {
  RecordType type{};
  uint64_t batch = 0;
  std::string_view payload;
  uint64_t size = 0;  // bytes taken, padding included
};

enum class Parse {
  kOk,
  kZero,  // an all-zero header: pre-allocated space
  kBad,   // anything else that does not check out; *why says what
};
// Parses the record at `offset` (a multiple of 8) of `file`.
Parse ParseRecord(std::string_view file, uint64_t offset, Record* rec, std::string* why);

// "<seq>-<index>.wal" with 16 hex digits each.
std::string SegmentName(uint64_t seq, uint64_t first_index);
bool ParseSegmentName(std::string_view name, uint64_t* seq, uint64_t* first_index);

}  // namespace storage::wal_format
