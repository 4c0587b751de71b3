#include "storage/identity.h"

#include <algorithm>

#include <openssl/sha.h>

namespace storage {
namespace {

uint64_t First8BigEndian(const std::string& data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | digest[i];
  return v;
}

}  // namespace

uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token) {
  std::sort(peer_urls.begin(), peer_urls.end());
  std::string data;
  for (const auto& u : peer_urls) data += u;
  data += cluster_token;
  return First8BigEndian(data);
}

uint64_t ComputeClusterId(std::vector<uint64_t> member_ids) {
  std::sort(member_ids.begin(), member_ids.end());
  std::string data;
  for (uint64_t id : member_ids) {
    for (int shift = 56; shift >= 0; shift -= 8) data.push_back(static_cast<char>((id >> shift) & 0xff));
  }
  return First8BigEndian(data);
}

}  // namespace storage
