#include "storage/meta_schema.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace storage {
namespace {

// 16 lower-case hex digits, zero-padded.
std::string Hex16(uint64_t v) { return absl::StrCat(absl::Hex(v, absl::kZeroPad16)); }

}  // namespace

std::string EncodeMetaInt64(int64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>((static_cast<uint64_t>(v) >> (56 - 8 * i)) & 0xff);
  }
  return out;
}

int64_t DecodeMetaInt64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return static_cast<int64_t>(v);
}

std::string LeaseKeysMetaPrefix(int64_t lease) {
  return absl::StrCat(kLeaseKeyMetaPrefix, Hex16(static_cast<uint64_t>(lease)), "/");
}

std::string LeaseKeyMetaKey(int64_t lease, std::string_view key) {
  std::string out = LeaseKeysMetaPrefix(lease);
  out.append(key);
  return out;
}

std::string EncodeMetaId(uint64_t id) { return absl::StrCat(absl::Hex(id)); }

std::optional<uint64_t> DecodeMetaId(std::string_view s) {
  uint64_t id = 0;
  if (!absl::SimpleHexAtoi(absl::string_view(s.data(), s.size()), &id)) return std::nullopt;
  return id;
}

std::string MemberMetaKey(uint64_t member_id) {
  return absl::StrCat(kMemberMetaPrefix, Hex16(member_id));
}

std::string RaftMemberMetaKey(uint64_t member_id) {
  return absl::StrCat(kRaftMemberMetaPrefix, Hex16(member_id));
}

std::string RemovedMemberMetaKey(uint64_t member_id) {
  return absl::StrCat(kRemovedMemberMetaPrefix, Hex16(member_id));
}

std::string LeaseMetaKey(int64_t lease) {
  return absl::StrCat(kLeaseMetaPrefix, Hex16(static_cast<uint64_t>(lease)));
}

std::string AuthUserMetaKey(std::string_view name) {
  return absl::StrCat(kAuthUserMetaPrefix, absl::string_view(name.data(), name.size()));
}

std::string AuthRoleMetaKey(std::string_view name) {
  return absl::StrCat(kAuthRoleMetaPrefix, absl::string_view(name.data(), name.size()));
}

std::string AlarmMetaKey(uint64_t member_id, int alarm_type) {
  return absl::StrCat(kAlarmMetaPrefix, Hex16(member_id), "/", alarm_type);
}

std::optional<AlarmKey> DecodeAlarmMetaKey(std::string_view key) {
  const std::string_view prefix(kAlarmMetaPrefix);
  // "<16 hex digits>/<decimal>" after the prefix.
  if (key.size() < prefix.size() + 18 || key.substr(0, prefix.size()) != prefix) return std::nullopt;
  key.remove_prefix(prefix.size());
  if (key[16] != '/') return std::nullopt;
  AlarmKey out;
  if (!absl::SimpleHexAtoi(absl::string_view(key.data(), 16), &out.member_id) ||
      !absl::SimpleAtoi(absl::string_view(key.data() + 17, key.size() - 17), &out.alarm_type)) {
    return std::nullopt;
  }
  return out;
}

}  // namespace storage
