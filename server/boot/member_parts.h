// The parts of a running Member and the steps that build them, in the order
// Member::Start runs them. Private to server/boot: each step reads the
// Config and the parts built before it, and fills its own.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "base/clock.h"
#include "base/logger.h"
#include "grpcpp/grpcpp.h"
#include "server/boot/attribute_publisher.h"
#include "server/boot/config.h"
#include "server/boot/listeners.h"
#include "server/boot/member.h"
#include "server/edge/auth_gate.h"
#include "server/edge/auth_service.h"
#include "server/edge/cluster_service.h"
#include "server/edge/member_changes.h"
#include "server/peer/peer_health.h"
#include "server/peer/peer_metrics.h"
#include "server/peer/peer_prober.h"
#include "server/edge/grpc_metrics.h"
#include "server/replication/counting_proposer.h"
#include "server/edge/http_endpoints.h"
#include "server/edge/kv_service.h"
#include "server/edge/lease_forwarder.h"
#include "server/edge/lease_service.h"
#include "server/edge/election_service.h"
#include "server/edge/lock_service.h"
#include "server/edge/maintenance_service.h"
#include "server/edge/quota_gate.h"
#include "server/edge/self_client.h"
#include "server/edge/watch_service.h"
#include "server/net/transport_security.h"
#include "server/peer/peer_directory.h"
#include "server/peer/peer_transport.h"
#include "server/peer/snapshot_inbox.h"
#include "server/replication/auto_compactor.h"
#include "server/replication/corruption_check.h"
#include "server/replication/lease_expirer.h"
#include "server/replication/raft_member.h"
#include "server/state/auth_applier.h"
#include "server/state/auth_store.h"
#include "server/state/alarm_guard.h"
#include "server/state/alarms.h"
#include "server/state/backend_quota.h"
#include "server/state/kv_applier.h"
#include "server/state/lessor.h"
#include "server/state/member_info.h"
#include "server/state/watch_hub.h"
#include "storage/member_dir.h"
#include "storage/mvcc_store.h"

namespace server {

// Declared in build order; destroyed in reverse, after Shutdown() has
// stopped every thread.
struct Member::Parts {
  Parts(const Config& c, const base::Clock& clk, base::Logger& log)
      : cfg(c), clock(clk), logger(log) {}

  const Config cfg;
  const base::Clock& clock;
  base::Logger& logger;
  // Every listener's and channel's credentials; the one directory every
  // dialer of a peer shares (raft transport, lease forwarder).
  std::unique_ptr<TransportSecurity> security;
  std::unique_ptr<PeerDirectory> peers;
  PeerMetrics peer_metrics;  // counted into by the transport and the prober
  // The data dir stays owned until the store is closed.
  std::unique_ptr<storage::MemberDir> dir;
  std::unique_ptr<storage::MvccStore> store;
  MemberInfo info;
  // Joining a running cluster (--initial-cluster-state existing, first
  // start): its membership as the running members reported it.
  bool joining = false;
  std::vector<serverpb::MemberAttributes> joined_members;
  // This member was removed from the cluster: stop (once).
  void OnRemoved();
  std::atomic<bool> removed{false};
  std::function<void()> on_removed;  // set by Member::Start's caller
  std::unique_ptr<Lessor> lessor;
  std::unique_ptr<KvApplier> applier;
  // The alarms, the backend quota, and the applier raft applies through:
  // the AlarmGuard around the core (and, in tests, the corrupting failpoint).
  std::unique_ptr<AlarmStore> alarms;
  std::unique_ptr<BackendQuota> quota;
  std::unique_ptr<Applier> corrupt_failpoint;  // KETCD_TEST_CORRUPT_PUTS only
  std::unique_ptr<AlarmGuard> guarded_applier;
  // NOSPACE raised by the apply loop for this member (quota_gate.h).
  std::unique_ptr<NoSpaceRaise> nospace_raise;
  // Users, roles and tokens; the auth decorator wraps the applier chain and
  // is what the raft loop applies through.
  std::shared_ptr<TokenProvider> tokens;  // --auth-token, made by BuildSecurity
  std::unique_ptr<AuthStore> auth_store;
  std::unique_ptr<AuthApplier> auth_applier;
  std::unique_ptr<AuthGate> auth_gate;
  std::unique_ptr<WatchHub> watch_hub;
  std::unique_ptr<raft::MemoryStorage> log_cache;
  std::unique_ptr<RaftPersistence> wal;
  std::unique_ptr<SnapshotInbox> snapshot_inbox;
  std::unique_ptr<PeerTransport> transport;
  std::unique_ptr<RaftMember> raft;
  // What the services propose through: raft, with the proposal gauges.
  std::unique_ptr<CountingProposer> counting_proposer;
  std::unique_ptr<PeerHealth> peer_health;
  std::unique_ptr<PeerProber> peer_prober;
  std::unique_ptr<MemberChanges> member_changes;
  std::unique_ptr<grpc::Server> peer_server;
  std::unique_ptr<LeaseForwarder> lease_forwarder;
  std::unique_ptr<LeaseExpirer> lease_expirer;
  std::unique_ptr<CorruptionMonitor> corruption_monitor;  // only with --experimental-corrupt-check-time
  std::unique_ptr<QuotaGate> quota_gate;
  std::unique_ptr<AutoCompactor> auto_compactor;  // only with --auto-compaction-retention
  // Before the services and `client`, whose calls count into it.
  std::unique_ptr<GrpcMetrics> grpc_metrics;
  std::unique_ptr<KvService> kv;
  std::unique_ptr<WatchService> watch;
  std::unique_ptr<LeaseService> lease;
  std::unique_ptr<ClusterService> cluster;
  std::unique_ptr<AuthService> auth;
  std::unique_ptr<MaintenanceService> maintenance;
  // Lock and Election call the member's own API through `self_client`.
  std::unique_ptr<SelfClient> self_client;
  std::unique_ptr<LockService> lock;
  std::unique_ptr<ElectionService> election;
  HealthCounters health_counters;  // before `client`, whose routes count into it
  std::unique_ptr<ClientListener> client;
  std::unique_ptr<AttributePublisher> publisher;
};

// TransportSecurity from the certificate flags, and the peer directory.
[[nodiscard]] absl::Status BuildSecurity(Member::Parts& p);
// The data dir (locked), a finished or dropped snapshot install, the
// store, and the member's identity.
[[nodiscard]] absl::Status OpenDataDir(Member::Parts& p);
// The lessor, the applier and the watch hub over the store.
[[nodiscard]] absl::Status BuildStateMachine(Member::Parts& p);
// The alarm store, the backend quota and the AlarmGuard (member_alarms.cc).
void BuildAlarms(Member::Parts& p);
// --experimental-initial-corrupt-check, before raft starts.
[[nodiscard]] absl::Status CheckInitialCorruption(Member::Parts& p);
// The leader's periodic check, with --experimental-corrupt-check-time.
void StartCorruptionMonitor(Member::Parts& p);
// The raft log, the peer transport and listener, and the raft loop.
[[nodiscard]] absl::Status StartReplication(Member::Parts& p);
// The lease helpers and etcd's gRPC services.
void BuildServices(Member::Parts& p);
// The leader's auto-compaction, when the flags ask for it.
void StartAutoCompaction(Member::Parts& p);
// The client listener on every --listen-client-urls URL.
[[nodiscard]] absl::Status ServeClients(Member::Parts& p);
// This member's attributes, announced through the log.
serverpb::MemberAttributes SelfAttributes(const Config& cfg, uint64_t member_id);

}  // namespace server
