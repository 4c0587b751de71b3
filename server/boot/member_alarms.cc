// The alarm steps of Member::Start (member_parts.h): the alarm store, the
// backend quota and the guarded applier raft applies through; the initial
// corruption check; the leader's periodic one.
#include "server/boot/corrupt_failpoint.h"
#include "server/boot/member_parts.h"
#include "server/edge/quota_gate.h"

namespace server {
namespace {

// etcd's request timeout: 5 s plus two election timeouts.
absl::Duration RequestTimeout(const Config& cfg) {
  return absl::Seconds(5) + 2 * absl::Milliseconds(cfg.election_timeout_ms);
}

CorruptionCheckOptions CheckOptions(const Member::Parts& p) {
  CorruptionCheckOptions o;
  o.cluster_id = p.info.cluster_id;
  o.self_id = p.info.member_id;
  o.timeout = RequestTimeout(p.cfg);
  return o;
}

}  // namespace

void BuildAlarms(Member::Parts& p) {
  p.alarms = std::make_unique<AlarmStore>(&p.logger);
  p.alarms->Reload(*p.store);
  p.applier->SetAlarms(p.alarms.get());
  p.quota = std::make_unique<BackendQuota>(p.store.get(), p.cfg.quota_backend_bytes, p.clock);
  // Outermost, as etcd's capped and corrupt appliers wrap its whole chain.
  const Applier* core = p.auth_applier ? static_cast<const Applier*>(p.auth_applier.get()) : p.applier.get();
  if (p.cfg.corrupt_puts_for_test) {
    p.logger.Warn("test failpoint: this member corrupts the value of every put it applies");
    p.corrupt_failpoint = std::make_unique<CorruptPutsForTest>(core);
    core = p.corrupt_failpoint.get();
  }
  // Past the quota while applying: raise NOSPACE for this member (the
  // apply loop calls this; the raft loop exists by the time an entry is
  // applied).
  p.nospace_raise = std::make_unique<NoSpaceRaise>(p.info.member_id, p.quota->bytes(), &p.logger);
  Member::Parts* parts = &p;
  auto over_quota = [parts] { parts->nospace_raise->Raise(parts->raft.get()); };
  p.guarded_applier = std::make_unique<AlarmGuard>(core, p.alarms.get(), p.quota.get(), std::move(over_quota));
}

absl::Status CheckInitialCorruption(Member::Parts& p) {
  // As etcd: only a member that has data to compare (a restart) checks.
  if (!p.cfg.initial_corrupt_check || !p.dir->HasWal()) return absl::OkStatus();
  return CheckInitialHashKv(*p.store, *p.peers, CheckOptions(p), p.logger);
}

void StartCorruptionMonitor(Member::Parts& p) {
  if (p.cfg.corrupt_check_time <= absl::ZeroDuration()) return;
  const CorruptionCheckOptions opts = CheckOptions(p);
  p.corruption_monitor =
      std::make_unique<CorruptionMonitor>(opts, p.cfg.corrupt_check_time, p.store.get(),
                                          NewPeerHasher(p.store.get(), p.peers.get(), opts), p.raft.get(),
                                          p.clock, &p.logger);
  p.corruption_monitor->Start();
}

}  // namespace server
