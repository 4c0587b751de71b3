#include "server/boot/member.h"

#include <climits>
#include <cstdlib>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "storage/identity.h"
#include "server/edge/kv_service.h"
#include "server/edge/member_services.h"
#include "server/state/membership.h"
#include "server/peer/peer_transport.h"
#include "server/replication/raft_member.h"
#include "server/replication/raft_log.h"
#include "server/edge/lease_service.h"
#include "server/state/lessor.h"
#include "server/peer/snapshot_inbox.h"
#include "server/state/watch_hub.h"
#include "server/edge/watch_service.h"
#include "storage/snapshot_install.h"
#include "storage/wal.h"

namespace server {
namespace {

// etcd lets a gRPC message exceed --max-request-bytes by this much so that the
// request reaches the server and gets etcd's own "request is too large".
constexpr int64_t kGrpcOverheadBytes = 512 * 1024;

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
    uint64_t id = storage::ComputeMemberId(m.peer_urls, cfg.initial_cluster_token);
    ids.push_back(id);
    if (m.name == cfg.name) info.member_id = id;
  }
  info.cluster_id = storage::ComputeClusterId(ids);
  if (auto s = store->PutMeta(kMetaMemberId, absl::StrCat(absl::Hex(info.member_id))); !s.ok()) return s;
  if (auto s = store->PutMeta(kMetaClusterId, absl::StrCat(absl::Hex(info.cluster_id))); !s.ok()) return s;
  return info;
}

}  // namespace

struct Member::Parts {
  Config cfg;
  std::unique_ptr<storage::MvccStore> store;
  std::unique_ptr<Lessor> lessor;
  std::unique_ptr<Applier> applier;
  std::unique_ptr<raft::MemoryStorage> log_cache;
  std::unique_ptr<RaftPersistence> wal;
  std::unique_ptr<SnapshotInbox> snapshot_inbox;
  std::unique_ptr<PeerTransport> transport;
  std::unique_ptr<RaftMember> raft;
  Proposer* proposer = nullptr;
  std::unique_ptr<WatchHub> watch_hub;
  std::unique_ptr<KvService> kv;
  std::unique_ptr<WatchService> watch;
  std::unique_ptr<LeaseForwarder> lease_forwarder;
  std::unique_ptr<LeaseExpirer> lease_expirer;
  std::unique_ptr<LeaseService> lease;
  std::unique_ptr<ClusterService> cluster;
  std::unique_ptr<MaintenanceService> maintenance;
  std::unique_ptr<grpc::Server> client_server;
  std::unique_ptr<grpc::Server> peer_server;
  MemberInfo info;
  std::thread publisher;
  std::mutex publish_mu;
  std::condition_variable publish_cv;
  bool stopped = false;  // guarded by publish_mu for the publisher
};

Member::Member(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Member::~Member() { Shutdown(); }

void Member::IsolateForTest(bool isolated) {
  if (!parts_->transport) return;
  for (const auto& m : parts_->cfg.initial_cluster) {
    parts_->transport->CutForTest(storage::ComputeMemberId(m.peer_urls, parts_->cfg.initial_cluster_token),
                                  isolated);
  }
}

uint64_t Member::member_id() const { return parts_->info.member_id; }
uint64_t Member::cluster_id() const { return parts_->info.cluster_id; }

namespace {

absl::Status StartRaft(Member::Parts* p);

}  // namespace

absl::StatusOr<std::unique_ptr<Member>> Member::Start(const Config& cfg) {
  auto parts = std::make_unique<Parts>();
  parts->cfg = cfg;
  const std::filesystem::path member_dir = std::filesystem::path(cfg.data_dir) / "member";
  const std::filesystem::path db_dir = member_dir / "db";
  std::error_code ec;
  std::filesystem::create_directories(db_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data dir ", db_dir.string(), ": ", ec.message()));
  }
  std::filesystem::permissions(cfg.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  // Before the store opens: a snapshot installation cut by a crash is
  // finished (or was never committed and is dropped).
  if (auto s = storage::RecoverSnapshotDirs(storage::SnapshotDirs(member_dir.string())); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("cannot recover the snapshot directories in ",
                                               member_dir.string(), ": ", s.message()));
  }
  if (cfg.initial_cluster_state == "existing" &&
      !storage::Wal::Exists((member_dir / "wal").string())) {
    // etcd would fetch the membership from the running members and join
    // as a member added with `member add`; ketcd cannot join that way yet.
    // Bootstrapping a new log here instead could split the cluster.
    return absl::FailedPreconditionError(absl::StrCat(
        "--initial-cluster-state existing with no data in ", cfg.data_dir,
        ": joining a running cluster as a new member (member add) is not supported yet; "
        "start this member on its data dir, or bootstrap with --initial-cluster-state new"));
  }
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

  // etcd's minimum lease TTL: 1.5 election timeouts, in whole seconds.
  const int64_t election_ticks = std::max(1, cfg.election_timeout_ms / cfg.heartbeat_interval_ms);
  Lessor::Options lopts;
  lopts.min_ttl = ((3 * election_ticks / 2) * cfg.heartbeat_interval_ms + 999) / 1000;
  lopts.extend = absl::Milliseconds(cfg.election_timeout_ms);
  parts->lessor = std::make_unique<Lessor>(parts->store.get(), lopts);
  if (auto s = parts->lessor->Reload(); !s.ok()) return s;
  parts->applier = std::make_unique<Applier>(
      [lessor = parts->lessor.get()](int64_t id) { return lessor->Exists(id); });
  parts->applier->SetLessor(parts->lessor.get());

  // Every member, even a lone one, runs raft over its WAL: one write path.
  // The hub listens to commits before the raft loop starts replaying.
  WatchHub::Options wo;
  wo.progress_interval = cfg.watch_progress_notify_interval;
  wo.fragment_bytes = cfg.max_request_bytes + kGrpcOverheadBytes;
  parts->watch_hub = std::make_unique<WatchHub>(parts->store.get(), wo);
  parts->store->SetCommitListener([hub = parts->watch_hub.get()] { hub->Notify(); });
  if (auto s = StartRaft(parts.get()); !s.ok()) return s;
  parts->proposer = parts->raft.get();
  parts->watch = std::make_unique<WatchService>(parts->store.get(), parts->proposer,
                                                parts->watch_hub.get(), parts->info);
  parts->lease_forwarder = std::make_unique<LeaseForwarder>(
      parts->store.get(), parts->proposer, parts->lessor.get(), parts->info,
      absl::Seconds(5) + 2 * absl::Milliseconds(cfg.election_timeout_ms));
  parts->lease_expirer = std::make_unique<LeaseExpirer>(parts->lessor.get(), parts->proposer,
                                                        parts->info.member_id, LeaseExpirer::Options{});
  parts->lease = std::make_unique<LeaseService>(parts->store.get(), parts->proposer,
                                                parts->lessor.get(), parts->lease_forwarder.get(),
                                                parts->info);
  parts->kv = std::make_unique<KvService>(parts->store.get(), parts->applier.get(), parts->proposer,
                                          parts->info,
                                          KvLimits{cfg.max_request_bytes, cfg.max_txn_ops});
  MemberSelf self{parts->info, cfg.name, {}, {}};
  for (const auto& u : cfg.initial_advertise_peer_urls) self.peer_urls.push_back(u.raw);
  for (const auto& u : cfg.advertise_client_urls) self.client_urls.push_back(u.raw);
  std::vector<etcdserverpb::Member> bootstrap;
  for (const auto& m : cfg.initial_cluster) {
    etcdserverpb::Member em;
    em.set_id(storage::ComputeMemberId(m.peer_urls, cfg.initial_cluster_token));
    em.set_name(m.name);
    for (const auto& u : m.peer_urls) em.add_peerurls(u);
    bootstrap.push_back(std::move(em));
  }
  parts->cluster = std::make_unique<ClusterService>(self, std::move(bootstrap), parts->proposer,
                                                    parts->store.get());
  parts->maintenance = std::make_unique<MaintenanceService>(self, parts->proposer, parts->store.get());

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
  builder.RegisterService(parts->watch.get());
  builder.RegisterService(parts->lease.get());
  builder.RegisterService(parts->cluster.get());
  builder.RegisterService(parts->maintenance.get());
  parts->client_server = builder.BuildAndStart();
  std::unique_ptr<Member> member(new Member(std::move(parts)));
  Parts* p = member->parts_.get();
  if (!p->client_server) {
    return absl::UnavailableError("cannot listen on the client URLs (address in use?)");
  }
  for (size_t i = 0; i < bound.size(); ++i) {
    if (bound[i] == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", cfg.listen_client_urls[i].raw));
    }
  }
  if (p->raft) {
    // Announce this member's client URLs through the log once a leader can
    // take the proposal, as etcd publishes its attributes.
    p->publisher = std::thread([p] {
      serverpb::MemberAttributes attrs;
      attrs.set_member_id(p->info.member_id);
      attrs.set_name(p->cfg.name);
      for (const auto& u : p->cfg.initial_advertise_peer_urls) attrs.add_peer_urls(u.raw);
      for (const auto& u : p->cfg.advertise_client_urls) attrs.add_client_urls(u.raw);
      while (true) {
        serverpb::InternalRequest req;
        *req.mutable_member_attributes() = attrs;
        auto r = p->raft->ProposeAndWait(req, absl::Seconds(5));
        std::unique_lock<std::mutex> lock(p->publish_mu);
        if (r.ok() || p->stopped) return;
        p->publish_cv.wait_for(lock, std::chrono::milliseconds(500), [p] { return p->stopped; });
        if (p->stopped) return;
      }
    });
  }
  return member;
}

namespace {

absl::Status StartRaft(Member::Parts* p) {
  const Config& cfg = p->cfg;
  RaftLogOptions lo;
  lo.wal_dir = (std::filesystem::path(cfg.data_dir) / "member" / "wal").string();
  lo.cluster_id = p->info.cluster_id;
  lo.member_id = p->info.member_id;
  for (const auto& m : cfg.initial_cluster) {
    serverpb::MemberAttributes a;
    a.set_member_id(storage::ComputeMemberId(m.peer_urls, cfg.initial_cluster_token));
    a.set_name(m.name);
    for (const auto& u : m.peer_urls) a.add_peer_urls(u);
    lo.initial_members.push_back(std::move(a));
  }
  lo.election_tick = std::max(2, cfg.election_timeout_ms / cfg.heartbeat_interval_ms);
  lo.random_seed = p->info.member_id ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  auto log = OpenRaftLog(lo, *p->store);
  if (!log.ok()) return log.status();
  p->log_cache = std::move(log->cache);
  p->wal = std::move(log->persistence);

  RaftMemberOptions opts;
  opts.id = p->info.member_id;
  opts.tick = absl::Milliseconds(cfg.heartbeat_interval_ms);
  opts.snapshot_count = cfg.snapshot_count;
  opts.snapshot_catchup_entries = cfg.snapshot_catchup_entries;
  opts.member_dir = (std::filesystem::path(cfg.data_dir) / "member").string();
  opts.on_snapshot_installed = [p] {
    if (auto s = p->lessor->Reload(); !s.ok()) {
      std::fprintf(stderr, "ketcd: fatal: reloading leases after a snapshot: %s\n",
                   std::string(s.message()).c_str());
      std::abort();
    }
  };
  p->snapshot_inbox =
      std::make_unique<SnapshotInbox>(storage::SnapshotDirs(opts.member_dir), p->info.member_id);
  p->transport = std::make_unique<PeerTransport>(
      PeerTransport::Options{p->info.cluster_id, p->info.member_id, 4096, p->snapshot_inbox.get(),
                             p->lessor.get()},
      [p](std::vector<raftpb::Message> msgs) { if (p->raft) p->raft->Deliver(std::move(msgs)); },
      [p](uint64_t id) { if (p->raft) p->raft->ReportUnreachable(id); });
  // Peer addresses: the membership the store recorded from the log; on a
  // member's first start, the bootstrap list. Conf changes not applied yet
  // add theirs when they are.
  auto recorded = LoadRaftMembers(*p->store);
  if (recorded.empty()) {
    for (const auto& m : lo.initial_members) p->transport->AddPeer(m.member_id(), m.peer_urls(0));
  }
  for (const auto& [id, m] : recorded) {
    if (m.peer_urls_size() > 0) p->transport->AddPeer(id, m.peer_urls(0));
  }
  p->raft = std::make_unique<RaftMember>(opts, std::move(log->node), p->log_cache.get(), p->wal.get(),
                                         p->store.get(), p->applier.get(), p->transport.get());

  grpc::ServerBuilder builder;
  std::vector<int> bound(cfg.listen_peer_urls.size(), 0);
  for (size_t i = 0; i < cfg.listen_peer_urls.size(); ++i) {
    builder.AddListeningPort(cfg.listen_peer_urls[i].HostPort(), grpc::InsecureServerCredentials(),
                             &bound[i]);
  }
  builder.SetMaxReceiveMessageSize(INT_MAX);
  // Ping idle peers so that a stream from a member whose host died (a
  // half-sent snapshot holds the inbox) breaks within seconds; and accept
  // the senders' own 2 s keepalive pings.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.RegisterService(p->transport->service());
  p->peer_server = builder.BuildAndStart();
  if (!p->peer_server) return absl::UnavailableError("cannot listen on the peer URLs (address in use?)");
  for (size_t i = 0; i < bound.size(); ++i) {
    if (bound[i] == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", cfg.listen_peer_urls[i].raw));
    }
  }
  p->raft->Start();
  return absl::OkStatus();
}

}  // namespace

void Member::Shutdown() {
  if (!parts_) return;
  {
    std::lock_guard<std::mutex> lock(parts_->publish_mu);
    if (parts_->stopped) return;
    parts_->stopped = true;
  }
  parts_->publish_cv.notify_all();
  // Stop taking requests at once; in-flight ones get a grace period.
  // gRPC's Shutdown returns only when every call has finished, and a call
  // waiting on raft finishes only when raft answers it: so if calls are
  // still open after the grace period, raft is stopped, which answers all
  // of them ("server stopped").
  std::thread client_shutdown;
  bool client_done = false;  // guarded by publish_mu
  if (parts_->client_server) {
    client_shutdown = std::thread([this, &client_done] {
      parts_->client_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
      std::lock_guard<std::mutex> lock(parts_->publish_mu);
      client_done = true;
      parts_->publish_cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(parts_->publish_mu);
    parts_->publish_cv.wait_for(lock, std::chrono::seconds(1), [&] { return client_done; });
  }
  if (parts_->raft) parts_->raft->Stop();
  if (client_shutdown.joinable()) client_shutdown.join();
  if (parts_->publisher.joinable()) parts_->publisher.join();
  // Peer streams never end by themselves: cut them at once.
  if (parts_->peer_server) parts_->peer_server->Shutdown(std::chrono::system_clock::now());
  if (parts_->transport) parts_->transport->Stop();
  parts_->client_server.reset();
  parts_->peer_server.reset();
  if (parts_->lease_expirer) parts_->lease_expirer->Stop();
  parts_->lease_forwarder.reset();
  if (parts_->watch_hub) parts_->watch_hub->Stop();
  if (parts_->store) parts_->store->SetCommitListener(nullptr);
  parts_->kv.reset();
  parts_->watch.reset();
  parts_->lease.reset();
  parts_->lease_expirer.reset();
  parts_->watch_hub.reset();
  parts_->cluster.reset();
  parts_->maintenance.reset();
  parts_->raft.reset();
  parts_->transport.reset();
  parts_->wal.reset();
  parts_->store.reset();
}

}  // namespace server
