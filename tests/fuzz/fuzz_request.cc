// Fuzz target: client requests through the member's validation and apply
// path. The input is a stream of length-delimited serverpb::InternalRequest
// messages (fuzz_util.h SplitDelimited): the entries of one Ready's
// committed batch. Each goes through the checks the gRPC edge makes before
// it proposes (server/edge/request_checks.cc; the backend quota; a
// read-only txn is served as a read instead), then through the member's
// applier chain — AlarmGuard(AuthApplier(KvApplier)) with the lessor, the
// alarm store and the auth store, wired as server/boot/member_wiring.cc
// and member_alarms.cc wire them — into one WriteBatch of the MVCC store
// (storage/mvcc_store.h), as RaftMember::Apply does.
//
// The store (RocksDB, in this process's scratch directory) is opened once
// and given a fixed base state: keys, a lease with a key, a compaction, a
// user and a role. The batch is then dropped instead of committed and the
// in-memory state (leases, alarms, users) reloaded from the store, so every
// input starts from the same state and a crash replays from its input alone.
// The commit itself is not fuzzed.
//
// Properties: no crash; no request is answered kInternal (the apply loop
// stops the member on kInternal: storage broke mid-request).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "server/edge/request_checks.h"
#include "server/state/alarm_guard.h"
#include "server/state/alarms.h"
#include "server/state/auth_applier.h"
#include "server/state/auth_store.h"
#include "server/state/backend_quota.h"
#include "server/state/kv_applier.h"
#include "server/state/lessor.h"
#include "storage/mvcc_store.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

constexpr size_t kMaxRequests = 16;
constexpr int kMaxTxnOps = 128;  // etcd's --max-txn-ops default
constexpr int64_t kBaseLease = 0x100;

// The member's state machine over one store (BuildStateMachine, BuildAlarms).
struct Member {
  explicit Member(const std::string& dir) {
    auto opened = storage::MvccStore::Open(dir);
    FUZZ_CHECK(opened.ok(), "harness: %s", opened.status().ToString().c_str());
    store = std::move(*opened);
    lessor = std::make_unique<server::Lessor>(store.get(), clock, server::Lessor::Options{});
    kv = std::make_unique<server::KvApplier>([this](int64_t id) { return lessor->Exists(id); });
    kv->SetLessor(lessor.get());
    auth_store = std::make_unique<server::AuthStore>(store.get(), &clock, server::AuthStore::Options{});
    auth = std::make_unique<server::AuthApplier>(kv.get(), auth_store.get());
    kv->SetAlarms(&alarms);
    quota = std::make_unique<server::BackendQuota>(store.get(), 0, clock);
    guarded = std::make_unique<server::AlarmGuard>(auth.get(), &alarms, quota.get(), [] {});
    Reload();
  }

  void Reload() {
    FUZZ_CHECK(lessor->Reload().ok(), "harness: lessor reload");
    FUZZ_CHECK(auth_store->Reload().ok(), "harness: auth reload");
    auth_store->Tokens().Clear();
    alarms.Reload(*store);
  }

  base::ManualClock clock;
  std::unique_ptr<storage::MvccStore> store;
  std::unique_ptr<server::Lessor> lessor;
  std::unique_ptr<server::KvApplier> kv;
  std::unique_ptr<server::AuthStore> auth_store;
  std::unique_ptr<server::AuthApplier> auth;
  server::AlarmStore alarms;
  std::unique_ptr<server::BackendQuota> quota;
  std::unique_ptr<server::AlarmGuard> guarded;
  uint64_t applied = 0;
};

// What the edge refuses before proposing; false = not proposed.
bool Admitted(Member& m, serverpb::InternalRequest& req, int64_t* next_lease) {
  switch (req.request_case()) {
    case serverpb::InternalRequest::kPut:
      return m.quota->Available(server::BackendQuota::Cost(req.put())) && server::CheckPut(req.put()).ok();
    case serverpb::InternalRequest::kDeleteRange:
      return server::CheckDeleteRange(req.delete_range()).ok();
    case serverpb::InternalRequest::kTxn:
      if (!m.quota->Available(server::BackendQuota::Cost(req.txn()))) return false;
      if (!server::CheckTxn(req.txn(), kMaxTxnOps).ok()) return false;
      if (server::IsTxnReadOnly(req.txn())) {
        // Served from the store, never proposed.
        (void)m.guarded->ReadTxn(*m.store, req.txn());
        return false;
      }
      return true;
    case serverpb::InternalRequest::kLeaseGrant:
      if (!m.quota->Available(server::BackendQuota::Cost(req.lease_grant()))) return false;
      // The edge picks an id for a grant without one (randomly; here in order).
      if (req.lease_grant().id() == 0) req.mutable_lease_grant()->set_id((*next_lease)++);
      return true;
    default:
      return true;
  }
}

void ApplyOrDie(Member& m, storage::WriteBatch& wb, const serverpb::InternalRequest& req) {
  auto got = m.guarded->ApplyEntry(wb, req);
  FUZZ_NOTE("request %d: %s", static_cast<int>(req.request_case()), got.status().ToString().c_str());
  FUZZ_CHECK(got.ok() || got.status().code() != absl::StatusCode::kInternal,
             "kInternal from the applier: %s", got.status().ToString().c_str());
}

// The base state every input starts from, committed once.
void Seed(Member& m) {
  std::vector<serverpb::InternalRequest> reqs(8);
  reqs[0].mutable_lease_grant()->set_id(kBaseLease);
  reqs[0].mutable_lease_grant()->set_ttl(60);
  const char* keys[] = {"a", "b", "foo/1", "foo/2", "foo/1"};
  for (int i = 0; i < 5; ++i) {
    reqs[1 + i].mutable_put()->set_key(keys[i]);
    reqs[1 + i].mutable_put()->set_value(std::string(1 + i, 'v'));
  }
  reqs[5].mutable_put()->set_lease(kBaseLease);
  reqs[6].mutable_compaction()->set_revision(3);
  reqs[7].mutable_user_add()->set_name("alice");
  reqs[7].mutable_user_add()->mutable_options()->set_no_password(true);
  serverpb::InternalRequest role;
  role.mutable_role_add()->set_name("reader");
  reqs.push_back(role);
  for (const auto& r : reqs) {
    auto wb = m.store->Write();
    auto got = m.guarded->ApplyEntry(*wb, r);
    FUZZ_CHECK(got.ok(), "harness: seeding: %s", got.status().ToString().c_str());
    FUZZ_CHECK(wb->Commit(++m.applied, /*sync=*/false).ok(), "harness: seeding commit");
  }
  m.Reload();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ketcd_fuzz::ScratchDir scratch("request");
  // Destroyed before `scratch` at exit: the store closes before its files go.
  static Member base(scratch.Sub("db"));
  static const bool seeded = (Seed(base), true);
  (void)seeded;
  Member* member = &base;
  std::vector<std::string_view> frames = ketcd_fuzz::SplitDelimited(data, size, kMaxRequests);
  if (frames.empty()) return 0;
  int64_t next_lease = 0x7000;
  bool touched = false;
  {
    auto wb = member->store->Write();
    for (std::string_view frame : frames) {
      serverpb::InternalRequest req;
      if (!req.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) continue;
      if (!Admitted(*member, req, &next_lease)) {
        FUZZ_NOTE("request %d: not proposed (refused, or a read)", static_cast<int>(req.request_case()));
        continue;
      }
      ApplyOrDie(*member, *wb, req);
      touched = true;
    }
  }  // dropped, never committed
  if (touched) member->Reload();
  return 0;
}
