// PeerDirectory: where each member of the cluster is reached, and the one
// gRPC channel per member that every dialer shares (the raft transport's
// streams, snapshot transfers, forwarded lease calls). Channels get their
// credentials from TransportSecurity, so no dialer builds its own.
//
// Fed from the membership: the bootstrap list on a first start, the
// recorded members on a restart, and every applied conf change.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "server/net/transport_security.h"

namespace server {

class PeerDirectory {
 public:
  // `security` must outlive the directory.
  explicit PeerDirectory(const TransportSecurity* security) : security_(security) {}

  // Sets (or replaces) the peer URL of member `id`; a changed URL drops
  // the old channel.
  void Set(uint64_t id, const std::string& url);
  void Remove(uint64_t id);
  std::optional<std::string> UrlOf(uint64_t id) const;

  // The shared channel to member `id`: NotFound for an unknown member, an
  // error for a URL that cannot be dialed.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel(uint64_t id);

 private:
  struct Entry {
    std::string url;
    std::shared_ptr<grpc::Channel> channel;  // made on first use
  };
  const TransportSecurity* security_;
  mutable std::mutex mu_;
  std::map<uint64_t, Entry> peers_;  // guarded by mu_
};

}  // namespace server
