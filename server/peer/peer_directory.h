// PeerDirectory: where each member of the cluster is reached, and the gRPC
// channels to it that every dialer shares (the raft transport's streams,
// snapshot transfers, forwarded lease calls). Channels get their
// credentials from TransportSecurity, so no dialer builds its own.
//
// Fed from the membership: the bootstrap list on a first start, the
// recorded members on a restart, and every applied conf change (through
// PeerTransport::AddPeer / RemovePeer, which every such place calls).
//
// Each member has two channels, each its own connection: Channel() for
// small, latency-bound calls (raft messages, heartbeats, forwarded lease
// calls) and SnapshotChannel() for bulk snapshot transfers, so that a
// snapshot's megabytes in flight never queue a heartbeat behind them
// (HTTP/2 shares one connection's flow-control window between streams).
// Channels are made on first use and kept until the member's URL changes
// or it is removed; gRPC reconnects them by itself.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "server/net/transport_security.h"

namespace server {

class PeerDirectory {
 public:
  // `security` must outlive the directory.
  explicit PeerDirectory(const TransportSecurity* security) : security_(security) {}

  // Sets (or replaces) the peer URL of member `id`; a changed URL drops
  // the old channels (calls already open on them run to their end).
  void Set(uint64_t id, const std::string& url);
  void Remove(uint64_t id);
  std::optional<std::string> UrlOf(uint64_t id) const;
  // Every member with a known URL (this member's own included).
  std::vector<uint64_t> Ids() const;

  // The shared channel to member `id`: NotFound for an unknown member, an
  // error for a URL that cannot be dialed (a bad URL, a scheme this member
  // has no credentials for).
  [[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel(uint64_t id);
  // The channel for snapshot transfers to member `id` (errors as Channel).
  [[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::Channel>> SnapshotChannel(uint64_t id);

  // The peer is up again (it just dialed us): retry a connection in
  // backoff now instead of when its backoff ends.
  void ResetBackoff(uint64_t id);

 private:
  struct Entry {
    std::string url;
    std::shared_ptr<grpc::Channel> channel;           // made on first use
    std::shared_ptr<grpc::Channel> snapshot_channel;  // made on first use
  };
  enum class Use { kMessages, kSnapshots };
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Get(uint64_t id, Use use);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Dial(const std::string& url, Use use) const;

  const TransportSecurity* security_;
  mutable std::mutex mu_;
  std::map<uint64_t, Entry> peers_;  // guarded by mu_
};

}  // namespace server
