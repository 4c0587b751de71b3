// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the
// checksum of every WAL record. Uses the SSE4.2 crc32 instruction when the
// CPU has it and a slicing-by-8 table otherwise; both give the same value.
// Thread-safe: pure functions over the caller's bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace storage {

// Continues `crc` (a value returned by Crc32c / Crc32cExtend; 0 to start)
// over n more bytes. Crc32cExtend(Crc32c(a), b) == Crc32c(a + b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }
inline uint32_t Crc32c(std::string_view s) { return Crc32c(s.data(), s.size()); }

// The table-driven path alone, so tests can check it against the hardware one.
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n);

}  // namespace storage
