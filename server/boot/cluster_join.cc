#include "server/boot/cluster_join.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/grpcpp.h"
#include "peerpb/peer.grpc.pb.h"
#include "server/peer/peer_directory.h"

namespace server {
namespace {

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// etcd prints a cluster as name=url,... in its errors.
std::string Describe(const std::vector<serverpb::MemberAttributes>& members) {
  std::vector<std::string> parts;
  for (const auto& m : members) {
    for (const auto& u : m.peer_urls()) parts.push_back(absl::StrCat(m.name(), "=", u));
  }
  return absl::StrJoin(parts, ",");
}

}  // namespace

absl::StatusOr<JoinedCluster> DiscoverCluster(const Config& cfg, const TransportSecurity& security,
                                              base::Logger& logger) {
  std::vector<std::string> own;
  for (const auto& u : cfg.initial_advertise_peer_urls) own.push_back(u.raw);
  own = Sorted(own);
  const std::set<std::string> own_set(own.begin(), own.end());
  // Every other member's peer URLs, each tried in turn until one answers.
  PeerDirectory probe(&security);
  uint64_t next = 1;
  std::vector<uint64_t> targets;
  for (const auto& m : cfg.initial_cluster) {
    for (const auto& u : m.peer_urls) {
      if (own_set.count(u)) continue;
      probe.Set(next, u);
      targets.push_back(next++);
    }
  }
  std::string last_error =
      "no other member is listed in --initial-cluster; give the ETCD_INITIAL_CLUSTER that `etcdctl member add` "
      "printed";
  std::optional<peerpb::MembershipResponse> got;
  for (uint64_t t : targets) {
    auto channel = probe.Channel(t);
    if (!channel.ok()) {
      last_error = std::string(channel.status().message());
      continue;
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    ctx.set_wait_for_ready(true);
    peerpb::MembershipRequest req;
    peerpb::MembershipResponse resp;
    grpc::Status s = peerpb::Peer::NewStub(*channel)->Membership(&ctx, req, &resp);
    if (s.ok()) {
      got = std::move(resp);
      break;
    }
    last_error = absl::StrCat(*probe.UrlOf(t), ": ", s.error_message());
  }
  if (!got) {
    return absl::UnavailableError(absl::StrCat(
        "cannot fetch cluster info from peer urls: could not retrieve the cluster's membership from "
        "any member in --initial-cluster (", last_error, ")"));
  }
  JoinedCluster out;
  out.cluster_id = got->cluster_id();
  out.members.assign(got->members().begin(), got->members().end());
  const std::string existing = Describe(out.members);
  // etcd's ValidateClusterAndAssignIDs: the flags must describe the cluster.
  if (out.members.size() != cfg.initial_cluster.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("error validating peerURLs ", existing, ": member count is unequal"));
  }
  for (const auto& local : cfg.initial_cluster) {
    const auto want = Sorted(local.peer_urls);
    auto it = std::find_if(out.members.begin(), out.members.end(), [&](const serverpb::MemberAttributes& m) {
      return Sorted({m.peer_urls().begin(), m.peer_urls().end()}) == want;
    });
    if (it == out.members.end()) {
      return absl::FailedPreconditionError(absl::StrCat("error validating peerURLs ", existing,
                                                        ": unmatched member while checking PeerURLs (\"",
                                                        absl::StrJoin(want, ","), "\")"));
    }
    if (want == own) {
      // A member that has started before carries its name; a new one has none.
      if (!it->name().empty() && it->name() != cfg.name) {
        return absl::FailedPreconditionError(absl::StrCat(
            "--initial-cluster-state existing: the member with peer URLs ", absl::StrJoin(own, ","),
            " is named \"", it->name(), "\" in the cluster, not \"", cfg.name, "\""));
      }
      out.member_id = it->member_id();
    }
  }
  if (out.member_id == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--initial-cluster-state existing: this member's peer URLs (", absl::StrJoin(own, ","),
        ") are not in the cluster ", existing, "; add it with `etcdctl member add` first"));
  }
  logger.Info("joining an existing cluster", {{"cluster-id", absl::StrCat(absl::Hex(out.cluster_id))},
                                              {"member-id", absl::StrCat(absl::Hex(out.member_id))}});
  return out;
}

}  // namespace server
