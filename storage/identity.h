// Member and cluster identity, derived the way etcd derives them so that the
// same flags give the same ids: a member id is the first 8 bytes (big endian)
// of SHA-1(sorted peer URLs joined + cluster token); a cluster id is the
// same digest of the sorted member ids, each as 8 big-endian bytes.
//
// A data dir records its identity in the store's meta table
// (storage/meta_schema.h: cluster_id, member_id) at the member's first
// start; from then on the recorded identity wins over the bootstrap flags,
// as in etcd. Thread-safety: as the MvccStore calls they make.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "serverpb/internal.pb.h"
#include "storage/mvcc_store.h"

namespace storage {

uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token);
uint64_t ComputeClusterId(std::vector<uint64_t> member_ids);

struct MemberIdentity {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
};

// A founding member (--initial-cluster entry) with its derived id.
serverpb::MemberAttributes FoundingMember(const std::string& name,
                                          const std::vector<std::string>& peer_urls,
                                          const std::string& cluster_token);

// The identity a new member takes: the cluster id of all founding members
// and the id of the one named `self_name` (0 if none is).
MemberIdentity FoundingIdentity(const std::vector<serverpb::MemberAttributes>& founding,
                                std::string_view self_name);

// The recorded identity; nullopt on a data dir that has none yet. DataLoss
// if it is unreadable or half recorded.
[[nodiscard]] absl::StatusOr<std::optional<MemberIdentity>> LoadIdentity(const MvccStore& store);

// Records `identity` (synchronously; cluster_id last, so a crash in between
// leaves no identity rather than half of one).
[[nodiscard]] absl::Status SaveIdentity(MvccStore& store, const MemberIdentity& identity);

// The recorded identity, or `fresh` recorded now when there is none.
[[nodiscard]] absl::StatusOr<MemberIdentity> LoadOrCreateIdentity(MvccStore& store,
                                                                  const MemberIdentity& fresh);

}  // namespace storage
