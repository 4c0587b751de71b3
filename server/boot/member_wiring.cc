// The steps of Member::Start (member_parts.h), each building one layer of
// the member from the Config and the layers below it.
#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/boot/auto_tls.h"
#include "server/boot/cluster_join.h"
#include "server/boot/listeners.h"
#include "server/edge/http_endpoints.h"
#include "server/edge/json_gateway.h"
#include "server/edge/member_metrics.h"
#include "server/boot/member_parts.h"
#include "server/replication/raft_log.h"
#include "server/state/membership.h"
#include "server/state/password.h"
#include "storage/identity.h"
#include "storage/snapshot_install.h"

namespace server {
namespace {

std::vector<serverpb::MemberAttributes> FoundingMembers(const Config& cfg) {
  std::vector<serverpb::MemberAttributes> founding;
  for (const auto& m : cfg.initial_cluster) {
    founding.push_back(storage::FoundingMember(m.name, m.peer_urls, cfg.initial_cluster_token));
  }
  return founding;
}

absl::Status OpenRaft(Member::Parts& p, std::unique_ptr<raft::RawNode>* node) {
  const Config& cfg = p.cfg;
  RaftLogOptions lo;
  lo.wal_dir = p.dir->wal();
  lo.logger = &p.logger;
  lo.cluster_id = p.info.cluster_id;
  lo.member_id = p.info.member_id;
  // A joining member starts with an empty log: the leader sends it all.
  if (!p.joining) lo.initial_members = FoundingMembers(cfg);
  lo.election_tick = std::max(2, cfg.election_timeout_ms / cfg.heartbeat_interval_ms);
  // Members started together must not time out in step.
  lo.random_seed = p.info.member_id ^ static_cast<uint64_t>(absl::ToUnixNanos(p.clock.Now()));
  auto log = OpenRaftLog(lo, *p.store);
  if (!log.ok()) return log.status();
  p.log_cache = std::move(log->cache);
  p.wal = std::move(log->persistence);
  *node = std::move(log->node);
  return absl::OkStatus();
}

void StartPeerTransport(Member::Parts& p) {
  p.snapshot_inbox = std::make_unique<SnapshotInbox>(p.dir->snapshots(), p.info.member_id, &p.logger);
  Member::Parts* parts = &p;
  PeerTransport::Options topts;
  topts.cluster_id = p.info.cluster_id;
  topts.self_id = p.info.member_id;
  topts.snapshot_inbox = p.snapshot_inbox.get();
  topts.lessor = p.lessor.get();
  topts.lease_caught_up = [parts] {
    return parts->raft && parts->raft->Status().caught_up();
  };
  topts.store = p.store.get();
  // Peer calls arrive only once the peer listener is up, after
  // member_changes exists (StartReplication).
  topts.promote_member = [parts](uint64_t id, std::function<void(absl::Status)> done) {
    parts->member_changes->PromoteOnLeader(id, std::move(done));
  };
  topts.on_removed_by_peer = [parts] { parts->OnRemoved(); };
  topts.directory = p.peers.get();
  topts.clock = &p.clock;
  topts.logger = &p.logger;
  topts.metrics = &p.peer_metrics;
  topts.heartbeat_interval = absl::Milliseconds(p.cfg.heartbeat_interval_ms);
  p.transport = std::make_unique<PeerTransport>(
      std::move(topts),
      [parts](std::vector<raftpb::Message> msgs) {
        if (parts->raft) parts->raft->Deliver(std::move(msgs));
      },
      [parts](uint64_t id) {
        if (parts->raft) parts->raft->ReportUnreachable(id);
      });
  // Peer addresses: the membership the store recorded from the log; on a
  // member's first start, the bootstrap list. Conf changes not applied yet
  // add theirs when they are.
  auto recorded = LoadRaftMembers(*p.store);
  if (recorded.empty()) {
    const auto initial = p.joining ? p.joined_members : FoundingMembers(p.cfg);
    for (const auto& m : initial) {
      if (m.peer_urls_size() > 0) p.transport->AddPeer(m.member_id(), m.peer_urls(0));
    }
  }
  for (const auto& [id, m] : recorded) {
    if (m.peer_urls_size() > 0) p.transport->AddPeer(id, m.peer_urls(0));
  }
}

}  // namespace

absl::Status BuildSecurity(Member::Parts& p) {
  SecurityConfig given;
  given.client = p.cfg.client_tls;
  given.peer = p.cfg.peer_tls;
  given.client_listen_urls = p.cfg.listen_client_urls;
  // https metrics URLs are served with the client certificate.
  given.client_listen_urls.insert(given.client_listen_urls.end(), p.cfg.listen_metrics_urls.begin(),
                                  p.cfg.listen_metrics_urls.end());
  given.peer_listen_urls = p.cfg.listen_peer_urls;
  given.peer_allowed_cn = p.cfg.peer_allowed_cn;
  given.peer_allowed_hostname = p.cfg.peer_allowed_hostname;
  auto protocol = ParseTlsProtocol(absl::StrSplit(p.cfg.cipher_suites, ',', absl::SkipEmpty()),
                                   p.cfg.tls_min_version, p.cfg.tls_max_version);
  if (!protocol.ok()) return protocol.status();
  given.protocol = *protocol;
  if (!protocol->openssl_cipher_list.empty()) {
    // gRPC takes its TLS 1.2 cipher list only from this variable, read when
    // it makes its first TLS context (after this); etcd's flag is for the
    // whole process too, client and peer sides alike.
    ::setenv("GRPC_SSL_CIPHER_SUITES", protocol->openssl_cipher_list.c_str(), 1);
  }
  // --auto-tls and --peer-auto-tls become certificate files here.
  auto sc = ApplyAutoTls(p.cfg, std::move(given), p.clock.Now(), p.logger);
  if (!sc.ok()) return sc.status();
  auto security = TransportSecurity::Create(*sc);
  if (!security.ok()) return security.status();
  p.security = std::move(*security);
  p.peers = std::make_unique<PeerDirectory>(p.security.get());
  // --auth-token (its key files too) is checked before the data dir is touched.
  std::vector<std::string> warnings;
  auto tokens = NewTokenProvider(p.cfg.auth_token, &p.clock,
                                 absl::Seconds(static_cast<int64_t>(p.cfg.auth_token_ttl_s)), &warnings);
  if (!tokens.ok()) return tokens.status();
  for (const auto& w : warnings) p.logger.Warn(w);
  p.tokens = std::move(*tokens);
  return absl::OkStatus();
}

absl::Status OpenDataDir(Member::Parts& p) {
  const Config& cfg = p.cfg;
  auto dir = storage::MemberDir::Create(cfg.data_dir);  // refuses a data dir in use
  if (!dir.ok()) return dir.status();
  p.dir = std::move(*dir);
  const storage::MemberDir& md = *p.dir;
  // Before the store opens: a snapshot installation cut by a crash is
  // finished (or was never committed and is dropped).
  if (auto s = storage::RecoverSnapshotDirs(md.snapshots(), &p.logger); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("cannot recover the snapshot directories in ",
                                               md.path(), ": ", s.message()));
  }
  std::optional<JoinedCluster> joined;
  if (cfg.initial_cluster_state == "existing" && !md.HasWal()) {
    // A member added with `member add`: the running members say who we are.
    auto j = DiscoverCluster(cfg, *p.security, p.logger);
    if (!j.ok()) return j.status();
    joined = std::move(*j);
  }
  storage::MvccStoreOptions store_opts;
  store_opts.logger = &p.logger;
  auto store = storage::MvccStore::Open(md.db(), store_opts);
  if (!store.ok()) {
    return absl::Status(store.status().code(), absl::StrCat("cannot open the store in ", md.db(),
                                                            ": ", store.status().message()));
  }
  p.store = std::move(*store);
  // A restarted member keeps its identity and ignores the bootstrap flags.
  const storage::MemberIdentity fresh =
      joined ? storage::MemberIdentity{joined->cluster_id, joined->member_id}
             : storage::FoundingIdentity(FoundingMembers(cfg), cfg.name);
  auto id = storage::LoadOrCreateIdentity(*p.store, fresh);
  if (!id.ok()) return id.status();
  if (joined) {
    if (id->cluster_id != joined->cluster_id || id->member_id != joined->member_id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the data dir ", cfg.data_dir, " belongs to another member or cluster than the one joined"));
    }
    p.joined_members = std::move(joined->members);
    p.joining = true;
  }
  p.info = MemberInfo{id->cluster_id, id->member_id};
  return absl::OkStatus();
}

absl::Status BuildStateMachine(Member::Parts& p) {
  const Config& cfg = p.cfg;
  // etcd's minimum lease TTL: 1.5 election timeouts, in whole seconds.
  const int64_t election_ticks = std::max(1, cfg.election_timeout_ms / cfg.heartbeat_interval_ms);
  Lessor::Options lopts;
  lopts.min_ttl = ((3 * election_ticks / 2) * cfg.heartbeat_interval_ms + 999) / 1000;
  lopts.extend = absl::Milliseconds(cfg.election_timeout_ms);
  p.lessor = std::make_unique<Lessor>(p.store.get(), p.clock, lopts);
  if (auto s = p.lessor->Reload(); !s.ok()) return s;
  p.applier = std::make_unique<KvApplier>([lessor = p.lessor.get()](int64_t id) { return lessor->Exists(id); });
  p.applier->SetLessor(p.lessor.get());
  AuthStore::Options aopts;
  aopts.token_ttl = absl::Seconds(static_cast<int64_t>(cfg.auth_token_ttl_s));
  aopts.tokens = p.tokens;
  p.auth_store = std::make_unique<AuthStore>(p.store.get(), &p.clock, aopts);
  if (auto s = p.auth_store->Reload(); !s.ok()) return s;
  p.auth_applier = std::make_unique<AuthApplier>(p.applier.get(), p.auth_store.get());
  // The hub listens to commits before the raft loop starts replaying.
  WatchHub::Options wo;
  wo.progress_interval = cfg.watch_progress_notify_interval;
  wo.fragment_bytes = cfg.max_request_bytes + kGrpcOverheadBytes;
  p.watch_hub = std::make_unique<WatchHub>(p.store.get(), p.clock, &p.logger, wo);
  p.store->SetCommitListener([hub = p.watch_hub.get()] { hub->Notify(); });
  return absl::OkStatus();
}

absl::Status StartReplication(Member::Parts& p) {
  // Every member, even a lone one, runs raft over its WAL: one write path.
  std::unique_ptr<raft::RawNode> node;
  if (auto s = OpenRaft(p, &node); !s.ok()) return s;
  StartPeerTransport(p);
  RaftMemberOptions opts;
  opts.id = p.info.member_id;
  opts.tick = absl::Milliseconds(p.cfg.heartbeat_interval_ms);
  opts.snapshot_count = p.cfg.snapshot_count;
  opts.snapshot_catchup_entries = p.cfg.snapshot_catchup_entries;
  opts.member_dir = p.dir->path();
  opts.clock = &p.clock;
  opts.logger = &p.logger;
  Member::Parts* parts = &p;
  opts.on_snapshot_installed = [parts] {
    if (auto s = parts->lessor->Reload(); !s.ok()) {
      parts->logger.Fatal("reloading leases after a snapshot", {{"error", s}});
    }
    parts->alarms->Reload(*parts->store);
    if (auto s = parts->auth_store->Reload(); !s.ok()) {
      parts->logger.Fatal("reloading users and roles after a snapshot", {{"error", s}});
    }
  };
  opts.on_removed = [parts] { parts->OnRemoved(); };
  p.raft = std::make_unique<RaftMember>(opts, std::move(node), p.log_cache.get(), p.wal.get(),
                                        p.store.get(), p.guarded_applier.get(), p.transport.get());
  p.peer_health = std::make_unique<PeerHealth>(p.peers.get(), p.info.member_id, &p.clock);
  p.peer_prober = std::make_unique<PeerProber>(PeerProber::Options{p.info.member_id}, p.peers.get(),
                                               &p.peer_metrics, &p.clock);
  MemberChanges::Options mopts;
  mopts.cluster_id = p.info.cluster_id;
  mopts.self_id = p.info.member_id;
  mopts.strict_reconfig_check = p.cfg.strict_reconfig_check;
  mopts.max_learners = static_cast<size_t>(p.cfg.max_learners);
  mopts.forward_timeout = absl::Seconds(5) + 2 * absl::Milliseconds(p.cfg.election_timeout_ms);
  p.member_changes = std::make_unique<MemberChanges>(mopts, p.raft.get(), p.store.get(),
                                                     p.peer_health.get(), p.peers.get(), &p.clock);
  auto server = StartPeerListener(p.cfg, *p.security, p.transport->service());
  if (!server.ok()) return server.status();
  p.peer_server = std::move(*server);
  p.raft->Start();
  return absl::OkStatus();
}

void BuildServices(Member::Parts& p) {
  const Config& cfg = p.cfg;
  p.counting_proposer = std::make_unique<CountingProposer>(p.raft.get());
  Proposer* proposer = p.counting_proposer.get();
  p.lease_forwarder = std::make_unique<LeaseForwarder>(
      proposer, p.lessor.get(), p.peers.get(), p.clock, p.info,
      absl::Seconds(5) + 2 * absl::Milliseconds(cfg.election_timeout_ms));
  p.lease_expirer = std::make_unique<LeaseExpirer>(p.lessor.get(), proposer, p.clock,
                                                   p.info.member_id, LeaseExpirer::Options{});
  p.quota_gate = std::make_unique<QuotaGate>(p.quota.get(), proposer, p.info.member_id,
                                              p.nospace_raise.get());
  p.kv = std::make_unique<KvService>(p.store.get(), p.applier.get(), proposer, p.info,
                                     KvLimits{cfg.max_request_bytes, cfg.max_txn_ops}, p.quota_gate.get());
  // Before the services: Watch and LeaseKeepAlive count their own calls.
  p.grpc_metrics = NewGrpcMetrics(
      cfg.metrics_extensive, p.clock,
      {etcdserverpb::KV::service_full_name(), etcdserverpb::Watch::service_full_name(),
       etcdserverpb::Lease::service_full_name(), etcdserverpb::Auth::service_full_name(),
       etcdserverpb::Cluster::service_full_name(), etcdserverpb::Maintenance::service_full_name(),
       v3lockpb::Lock::service_full_name(), v3electionpb::Election::service_full_name()});
  p.watch = std::make_unique<WatchService>(p.store.get(), proposer, p.watch_hub.get(), p.info,
                                           p.grpc_metrics.get());
  p.lease = std::make_unique<LeaseService>(p.store.get(), proposer, p.lessor.get(), p.lease_forwarder.get(),
                                           p.clock, p.info, p.quota_gate.get(), p.grpc_metrics.get());
  MemberSelf self{p.info, cfg.name, {}, {}};
  for (const auto& u : cfg.initial_advertise_peer_urls) self.peer_urls.push_back(u.raw);
  for (const auto& u : cfg.advertise_client_urls) self.client_urls.push_back(u.raw);
  std::vector<etcdserverpb::Member> bootstrap;
  for (const auto& m : p.joining ? p.joined_members : FoundingMembers(cfg)) {
    etcdserverpb::Member em;
    em.set_id(m.member_id());
    em.set_name(m.name());
    for (const auto& u : m.peer_urls()) em.add_peerurls(u);
    bootstrap.push_back(std::move(em));
  }
  p.auth_gate = std::make_unique<AuthGate>(p.auth_store.get(), cfg.client_tls.client_cert_auth);
  p.kv->SetAuthGate(p.auth_gate.get());
  p.watch->SetAuthGate(p.auth_gate.get());
  p.lease->SetAuthGate(p.auth_gate.get());
  int bcrypt_cost = cfg.bcrypt_cost;
  if (bcrypt_cost < kBcryptMinCost || bcrypt_cost > kBcryptMaxCost) {
    // etcd's rule: an invalid cost falls back to the default, with a warning.
    p.logger.Warn(absl::StrCat("use default bcrypt cost ", kBcryptDefaultCost,
                               " instead of the invalid given cost ", bcrypt_cost));
    bcrypt_cost = kBcryptDefaultCost;
  }
  p.auth = std::make_unique<AuthService>(p.store.get(), proposer, p.auth_gate.get(), p.info, bcrypt_cost,
                                         &p.clock);
  p.cluster = std::make_unique<ClusterService>(self, std::move(bootstrap), proposer, p.store.get(),
                                               p.member_changes.get());
  p.cluster->SetAuthGate(p.auth_gate.get());
  p.maintenance = std::make_unique<MaintenanceService>(p.info, proposer, p.store.get(), p.alarms.get());
  p.maintenance->SetAuthGate(p.auth_gate.get());
  p.maintenance->SetClock(&p.clock);
  p.self_client = std::make_unique<SelfClient>();
  p.lock = std::make_unique<LockService>(p.self_client.get(), p.auth_gate.get());
  p.election = std::make_unique<ElectionService>(p.self_client.get(), p.auth_gate.get());
}

void StartAutoCompaction(Member::Parts& p) {
  const Config& cfg = p.cfg;
  AutoCompactor::Options opts;
  if (cfg.auto_compaction_mode == Config::AutoCompactionMode::kRevision) {
    if (cfg.auto_compaction_revisions == 0) return;
    opts.mode = AutoCompactor::Mode::kRevision;
    opts.retention = cfg.auto_compaction_revisions;
    opts.revision_interval = cfg.auto_compaction_revision_interval;
  } else {
    if (cfg.auto_compaction_period == absl::ZeroDuration()) return;
    opts.mode = AutoCompactor::Mode::kPeriodic;
    opts.period = cfg.auto_compaction_period;
  }
  // etcd's request timeout: 5 s plus two election timeouts.
  opts.request_timeout = absl::Seconds(5) + 2 * absl::Milliseconds(cfg.election_timeout_ms);
  AutoCompactor::Sources src;
  src.proposer = p.raft.get();
  src.current_revision = [store = p.store.get()] { return store->Rev(); };
  src.leading = [raft = p.raft.get(), self = p.info.member_id] { return raft->Status().leader == self; };
  src.clock = &p.clock;
  src.logger = &p.logger;
  p.auto_compactor = std::make_unique<AutoCompactor>(opts, std::move(src));
  p.auto_compactor->Start();
}

absl::Status ServeClients(Member::Parts& p) {
  HttpRoutes routes;
  AddEtcdHealthEndpoints(routes, HealthSources{p.raft.get(), p.store.get(), &p.health_counters, p.alarms.get()});
  // etcd reports a disabled quota's (negative) flag value.
  const int64_t quota = p.cfg.quota_backend_bytes < 0 ? p.cfg.quota_backend_bytes : p.quota->bytes();
  const std::vector<grpc::Service*> services = {p.kv.get(),      p.watch.get(),       p.lease.get(),
                                                p.auth.get(),    p.cluster.get(),     p.maintenance.get(),
                                                p.lock.get(),    p.election.get()};
  MetricSources metrics{p.info.member_id, p.raft.get(), p.store.get(), &p.health_counters,
                        &p.raft->WalFsyncDurations(), &p.raft->BackendCommitDurations(), quota};
  metrics.grpc = p.grpc_metrics.get();
  metrics.peers = &p.peer_metrics;
  metrics.proposals = p.counting_proposer.get();
  metrics.kv_ops = &p.applier->ops();
  metrics.watch_hub = p.watch_hub.get();
  metrics.slow_applies = [raft = p.raft.get()] { return raft->SlowApplies(); };
  metrics.leases = &p.lessor->counters();
  metrics.maintenance = &p.maintenance->metrics();
  metrics.auth_revision = [auth = p.auth_store.get()] { return auth->Revision(); };
  metrics.write_stages = &p.raft->Stages();
  AddMetricsEndpoint(routes, std::move(metrics));
  ServerInterceptors interceptors;
  interceptors.push_back(p.grpc_metrics->InterceptorFactory());
  if (p.cfg.enable_grpc_gateway) {
    AddJsonGateway(routes, p.self_client.get(),
                   {p.cfg.client_tls.client_cert_auth, [auth = p.auth_store.get()] { return auth->Enabled(); }});
  }
  auto listener = StartClientListener(
      p.cfg, *p.security, services, std::move(routes), p.clock,
      [self = p.self_client.get()](grpc::Server& server) {
        grpc::ChannelArguments args;
        args.SetMaxReceiveMessageSize(-1);
        self->Connect(server.InProcessChannel(args));
      },
      std::move(interceptors));
  if (!listener.ok()) return listener.status();
  p.client = std::move(*listener);
  return absl::OkStatus();
}

serverpb::MemberAttributes SelfAttributes(const Config& cfg, uint64_t member_id) {
  serverpb::MemberAttributes attrs;
  attrs.set_member_id(member_id);
  attrs.set_name(cfg.name);
  for (const auto& u : cfg.initial_advertise_peer_urls) attrs.add_peer_urls(u.raw);
  for (const auto& u : cfg.advertise_client_urls) attrs.add_client_urls(u.raw);
  return attrs;
}

}  // namespace server
