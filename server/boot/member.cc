#include "server/boot/member.h"

#include <chrono>
#include <future>
#include <thread>

#include "server/boot/member_parts.h"
#include "storage/identity.h"
#include "storage/meta_schema.h"

namespace server {

absl::StatusOr<std::unique_ptr<Member>> Member::Start(const Config& cfg, const base::Clock& clock,
                                                      base::Logger& logger, std::function<void()> on_removed) {
  std::unique_ptr<Member> member(new Member(std::make_unique<Parts>(cfg, clock, logger)));
  Parts& p = *member->parts_;
  p.on_removed = std::move(on_removed);
  // A failure at any step returns, and ~Member unwinds what was started.
  // Security first: a bad certificate stops the member before its data
  // dir is created or locked.
  if (auto s = BuildSecurity(p); !s.ok()) return s;
  if (auto s = OpenDataDir(p); !s.ok()) return s;
  // A member that applied its own removal never serves again: its peers
  // would refuse it (as etcd's do), but a member outside the configuration
  // sends them nothing to refuse, so it would serve its stale data alone.
  if (p.store->GetMeta(storage::RemovedMemberMetaKey(p.info.member_id)).ok()) {
    return absl::FailedPreconditionError(
        "the member has been permanently removed from the cluster; "
        "the data-dir used by this member must be removed");
  }
  member->ids_ = p.info;
  if (auto s = BuildStateMachine(p); !s.ok()) return s;
  BuildAlarms(p);
  if (auto s = CheckInitialCorruption(p); !s.ok()) return s;
  if (auto s = StartReplication(p); !s.ok()) return s;
  BuildServices(p);
  StartCorruptionMonitor(p);
  StartAutoCompaction(p);
  if (auto s = ServeClients(p); !s.ok()) return s;
  // Announce this member's client URLs through the log once a leader can
  // take the proposal, as etcd publishes its attributes.
  p.publisher = std::make_unique<AttributePublisher>(p.raft.get(), SelfAttributes(cfg, p.info.member_id));
  return member;
}

void Member::Parts::OnRemoved() {
  if (removed.exchange(true)) return;
  if (on_removed) on_removed();
}

Member::Member(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Member::~Member() { Shutdown(); }

void Member::CutPeersForTest(bool outbound, bool inbound) {
  if (!parts_ || !parts_->transport) return;
  for (const auto& m : parts_->cfg.initial_cluster) {
    parts_->transport->CutForTest(
        storage::ComputeMemberId(m.peer_urls, parts_->cfg.initial_cluster_token), outbound,
        inbound);
  }
}


void Member::Shutdown() {
  if (!parts_) return;
  std::unique_ptr<Parts> owned = std::move(parts_);
  Parts& p = *owned;
  // Stop taking requests at once; in-flight ones get a grace period.
  // gRPC's Shutdown returns only when every call has finished, and a call
  // waiting on raft finishes only when raft answers it: so if calls are
  // still open after the grace period, raft is stopped, which answers all
  // of them ("server stopped").
  std::thread client_shutdown;
  if (p.client) {
    p.client->StopAccepting();
    std::promise<void> done;
    std::future<void> finished = done.get_future();
    grpc::Server* server = &p.client->grpc();
    client_shutdown = std::thread([server, done = std::move(done)]() mutable {
      server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
      done.set_value();
    });
    finished.wait_for(std::chrono::seconds(1));
  }
  if (p.corruption_monitor) p.corruption_monitor->Stop();
  if (p.raft) p.raft->Stop();
  if (p.peer_health) p.peer_health->Stop();
  if (p.peer_prober) p.peer_prober->Stop();
  if (client_shutdown.joinable()) client_shutdown.join();
  if (p.publisher) p.publisher->Stop();
  // Peer streams never end by themselves: cut them at once.
  if (p.peer_server) p.peer_server->Shutdown(std::chrono::system_clock::now());
  if (p.transport) p.transport->Stop();
  if (p.lease_expirer) p.lease_expirer->Stop();
  if (p.auto_compactor) p.auto_compactor->Stop();
  if (p.watch_hub) p.watch_hub->Stop();
  if (p.store) p.store->SetCommitListener(nullptr);
  // The parts are destroyed with `owned`, in reverse order of construction
  // (member_parts.h): services before the raft loop they call, the raft
  // loop before the log and store it uses, the data dir's lock last.
}

}  // namespace server
