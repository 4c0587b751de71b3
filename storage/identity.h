// Member and cluster identity, derived the way etcd derives them so that the
// same flags give the same ids: a member id is the first 8 bytes (big endian)
// of SHA-1(sorted peer URLs joined + cluster token); a cluster id is the
// same digest of the sorted member ids, each as 8 big-endian bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace storage {

uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token);
uint64_t ComputeClusterId(std::vector<uint64_t> member_ids);

}  // namespace storage
