// MemberInfo: the two ids every response header carries, fixed for the
// life of a member (read from its data dir, storage/identity.h).
#pragma once

#include <cstdint>

namespace server {

struct MemberInfo {
  uint64_t cluster_id = 0;
  uint64_t member_id = 0;
};

}  // namespace server
