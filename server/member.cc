#include "server/member.h"

#include <climits>
#include <cstdio>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/identity.h"
#include "server/kv_service.h"
#include "server/member_services.h"
#include "server/single_member_log.h"

namespace server {
namespace {

// etcd lets a gRPC message exceed --max-request-bytes by this much so that the
// request reaches the server and gets etcd's own "request is too large".
constexpr int64_t kGrpcOverheadBytes = 512 * 1024;

constexpr char kMetaClusterId[] = "cluster_id";
constexpr char kMetaMemberId[] = "member_id";

absl::StatusOr<MemberInfo> LoadOrCreateIdentity(storage::MvccStore* store, const Config& cfg) {
  auto cid = store->GetMeta(kMetaClusterId);
  auto mid = store->GetMeta(kMetaMemberId);
  MemberInfo info;
  if (cid.ok() && mid.ok()) {
    // A member restarted on its data dir keeps its identity and ignores the
    // bootstrap flags, as etcd does.
    if (!absl::SimpleHexAtoi(*cid, &info.cluster_id) || !absl::SimpleHexAtoi(*mid, &info.member_id)) {
      return absl::DataLossError("member identity in the data dir is unreadable");
    }
    return info;
  }
  if (!absl::IsNotFound(cid.status())) return cid.status();
  std::vector<uint64_t> ids;
  for (const auto& m : cfg.initial_cluster) {
    uint64_t id = ComputeMemberId(m.peer_urls, cfg.initial_cluster_token);
    ids.push_back(id);
    if (m.name == cfg.name) info.member_id = id;
  }
  info.cluster_id = ComputeClusterId(ids);
  if (auto s = store->PutMeta(kMetaMemberId, absl::StrCat(absl::Hex(info.member_id))); !s.ok()) return s;
  if (auto s = store->PutMeta(kMetaClusterId, absl::StrCat(absl::Hex(info.cluster_id))); !s.ok()) return s;
  return info;
}

}  // namespace

struct Member::Parts {
  std::unique_ptr<storage::MvccStore> store;
  std::unique_ptr<Applier> applier;
  std::unique_ptr<SingleMemberLog> log;
  std::unique_ptr<KvService> kv;
  std::unique_ptr<ClusterService> cluster;
  std::unique_ptr<MaintenanceService> maintenance;
  std::unique_ptr<grpc::Server> grpc_server;
  MemberInfo info;
  bool stopped = false;
};

Member::Member(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Member::~Member() { Shutdown(); }

uint64_t Member::member_id() const { return parts_->info.member_id; }
uint64_t Member::cluster_id() const { return parts_->info.cluster_id; }

absl::StatusOr<std::unique_ptr<Member>> Member::Start(const Config& cfg) {
  auto parts = std::make_unique<Parts>();
  const std::filesystem::path db_dir = std::filesystem::path(cfg.data_dir) / "member" / "db";
  std::error_code ec;
  std::filesystem::create_directories(db_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data dir ", db_dir.string(), ": ", ec.message()));
  }
  std::filesystem::permissions(cfg.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  auto store = storage::MvccStore::Open(db_dir.string());
  if (!store.ok()) {
    if (absl::StrContains(store.status().message(), "/LOCK")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the data dir ", cfg.data_dir, " is in use by another process (its lock is held)"));
    }
    return absl::Status(store.status().code(),
                        absl::StrCat("cannot open the store in ", db_dir.string(), ": ",
                                     store.status().message()));
  }
  parts->store = std::move(*store);
  auto info = LoadOrCreateIdentity(parts->store.get(), cfg);
  if (!info.ok()) return info.status();
  parts->info = *info;

  // No lessor yet: every lease id is unknown, so puts with a lease get
  // etcd's "requested lease not found".
  parts->applier = std::make_unique<Applier>([](int64_t) { return false; });
  parts->log = std::make_unique<SingleMemberLog>(parts->store.get(), parts->applier.get());
  parts->log->Start();
  parts->kv = std::make_unique<KvService>(parts->store.get(), parts->applier.get(), parts->log.get(),
                                          parts->info,
                                          KvLimits{cfg.max_request_bytes, cfg.max_txn_ops});

  MemberSelf self{parts->info, cfg.name, {}, {}};
  for (const auto& u : cfg.initial_advertise_peer_urls) self.peer_urls.push_back(u.raw);
  for (const auto& u : cfg.advertise_client_urls) self.client_urls.push_back(u.raw);
  parts->cluster = std::make_unique<ClusterService>(self, parts->log.get(), parts->store.get());
  parts->maintenance = std::make_unique<MaintenanceService>(self, parts->log.get(), parts->store.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  std::vector<int> bound(cfg.listen_client_urls.size(), 0);
  for (size_t i = 0; i < cfg.listen_client_urls.size(); ++i) {
    builder.AddListeningPort(cfg.listen_client_urls[i].HostPort(), grpc::InsecureServerCredentials(),
                             &bound[i]);
  }
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(INT_MAX, cfg.max_request_bytes + kGrpcOverheadBytes)));
  builder.SetMaxSendMessageSize(INT_MAX);
  builder.RegisterService(parts->kv.get());
  builder.RegisterService(parts->cluster.get());
  builder.RegisterService(parts->maintenance.get());
  parts->grpc_server = builder.BuildAndStart();
  if (!parts->grpc_server) {
    parts->log->Stop();
    return absl::UnavailableError("cannot listen on the client URLs (address in use or not local?)");
  }
  for (size_t i = 0; i < bound.size(); ++i) {
    if (bound[i] == 0) {
      parts->grpc_server->Shutdown();
      parts->log->Stop();
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", cfg.listen_client_urls[i].raw));
    }
  }
  return std::unique_ptr<Member>(new Member(std::move(parts)));
}

void Member::Shutdown() {
  if (!parts_ || parts_->stopped) return;
  parts_->stopped = true;
  // In-flight requests get a short grace period, then are cancelled.
  parts_->grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  parts_->log->Stop();
  parts_->kv.reset();
  parts_->cluster.reset();
  parts_->maintenance.reset();
  parts_->grpc_server.reset();
  parts_->store.reset();
}

}  // namespace server
