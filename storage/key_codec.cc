#include "storage/key_codec.h"

#include <cstdint>

namespace storage {
namespace {

constexpr char kEscape = '\x00';
constexpr char kEscapedZero = '\xff';
constexpr char kTerminator = '\x01';
constexpr size_t kRevBytes = 16;

void AppendBigEndian(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

void AppendEscaped(std::string& out, std::string_view user_key) {
  for (char c : user_key) {
    out.push_back(c);
    if (c == kEscape) out.push_back(kEscapedZero);
  }
}

}  // namespace

std::string EncodeUserKey(std::string_view user_key) {
  std::string out;
  out.reserve(user_key.size() + 2 + kRevBytes);
  AppendEscaped(out, user_key);
  out.push_back(kEscape);
  out.push_back(kTerminator);
  return out;
}

std::string EncodeUserKeySuccessor(std::string_view user_key) {
  std::string out = EncodeUserKey(user_key);
  // 0x00 0x02 sorts after 0x00 0x01 + any revision, and before 0x00 0xFF
  // (an escaped zero byte) and before any non-zero byte: exactly the gap
  // between this key's versions and the next user key.
  out.back() = '\x02';
  return out;
}

std::string EncodeKvKey(std::string_view user_key, Revision rev) {
  std::string out = EncodeUserKey(user_key);
  AppendBigEndian(out, ~static_cast<uint64_t>(rev.main));
  AppendBigEndian(out, ~static_cast<uint64_t>(rev.sub));
  return out;
}

std::optional<DecodedKvKey> DecodeKvKey(std::string_view encoded) {
  DecodedKvKey out;
  size_t i = 0;
  while (true) {
    if (i + 1 >= encoded.size()) return std::nullopt;
    char c = encoded[i];
    if (c != kEscape) {
      out.user_key.push_back(c);
      ++i;
      continue;
    }
    char next = encoded[i + 1];
    if (next == kEscapedZero) {
      out.user_key.push_back(kEscape);
      i += 2;
      continue;
    }
    if (next != kTerminator) return std::nullopt;
    i += 2;
    break;
  }
  if (encoded.size() - i != kRevBytes) return std::nullopt;
  out.rev.main = static_cast<int64_t>(~ReadBigEndian(encoded.substr(i)));
  out.rev.sub = static_cast<int64_t>(~ReadBigEndian(encoded.substr(i + 8)));
  return out;
}

std::string EncodeRevKey(Revision rev) {
  std::string out;
  out.reserve(kRevBytes);
  AppendBigEndian(out, static_cast<uint64_t>(rev.main));
  AppendBigEndian(out, static_cast<uint64_t>(rev.sub));
  return out;
}

std::optional<Revision> DecodeRevKey(std::string_view encoded) {
  if (encoded.size() != kRevBytes) return std::nullopt;
  return Revision{static_cast<int64_t>(ReadBigEndian(encoded)),
                  static_cast<int64_t>(ReadBigEndian(encoded.substr(8)))};
}

}  // namespace storage
