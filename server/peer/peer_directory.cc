#include "server/peer/peer_directory.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"
#include "server/net/url.h"

namespace server {

void PeerDirectory::Set(uint64_t id, const std::string& url) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = peers_[id];
  if (e.url == url) return;
  e = Entry{url, nullptr, nullptr};
}

void PeerDirectory::Remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  peers_.erase(id);
}

std::vector<uint64_t> PeerDirectory::Ids() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> out;
  for (const auto& [id, e] : peers_) out.push_back(id);
  return out;
}

std::optional<std::string> PeerDirectory::UrlOf(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(id);
  if (it == peers_.end()) return std::nullopt;
  return it->second.url;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> PeerDirectory::Channel(uint64_t id) {
  return Get(id, Use::kMessages);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> PeerDirectory::SnapshotChannel(uint64_t id) {
  return Get(id, Use::kSnapshots);
}

void PeerDirectory::ResetBackoff(uint64_t id) {
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    channel = it->second.channel;
  }
  if (channel) grpc::experimental::ChannelResetConnectionBackoff(channel.get());
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> PeerDirectory::Get(uint64_t id, Use use) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(id);
  if (it == peers_.end()) {
    return absl::NotFoundError(absl::StrCat("no peer URL is known for member ", absl::Hex(id)));
  }
  auto& slot = use == Use::kMessages ? it->second.channel : it->second.snapshot_channel;
  if (!slot) {
    // Creating a channel does not connect, so holding the lock is cheap.
    auto channel = Dial(it->second.url, use);
    if (!channel.ok()) return channel.status();
    slot = std::move(*channel);
  }
  return slot;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> PeerDirectory::Dial(const std::string& url,
                                                                  Use use) const {
  auto parsed = ParseUrl(url);
  if (!parsed.ok()) return parsed.status();
  auto creds = security_->PeerChannel(*parsed);
  if (!creds.ok()) return creds.status();
  grpc::ChannelArguments args;
  // Detect a peer that stopped answering (crashed host, SIGSTOP) so that a
  // blocked write fails instead of hanging its sender forever.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  args.SetMaxSendMessageSize(-1);
  if (use == Use::kMessages) {
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  } else {
    // Channels with equal arguments may share a connection (gRPC's global
    // subchannel pool); this one must not share the messages' connection.
    args.SetInt("ketcd.snapshot_channel", 1);
  }
  return grpc::CreateCustomChannel(parsed->HostPort(), *creds, args);
}

}  // namespace server
