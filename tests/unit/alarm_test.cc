// Alarms: the replicated alarm set (etcd 3.4's Alarm apply semantics), its
// persistence in the store's meta table (restarts, a raft snapshot's
// checkpoint), and the AlarmGuard's refusals while NOSPACE or CORRUPT is
// active, as etcd's applierV3Capped and applierV3Corrupt refuse.
#include <string>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "server/edge/quota_gate.h"
#include "server/state/alarm_guard.h"
#include "server/state/alarms.h"
#include "server/state/backend_quota.h"
#include "server/state/errors.h"
#include "server/state/lessor.h"
#include "storage/meta_schema.h"
#include "tests/unit/applier_fixture.h"
#include "tests/unit/stub_proposer.h"

namespace ketcd_test {
namespace {

using etcdserverpb::AlarmRequest;

serverpb::InternalRequest AlarmReq(AlarmRequest::AlarmAction action, uint64_t member,
                                   etcdserverpb::AlarmType type) {
  serverpb::InternalRequest r;
  r.mutable_alarm()->set_action(action);
  r.mutable_alarm()->set_memberid(member);
  r.mutable_alarm()->set_alarm(type);
  return r;
}

serverpb::InternalRequest Grant(int64_t id) {
  serverpb::InternalRequest r;
  r.mutable_lease_grant()->set_id(id);
  r.mutable_lease_grant()->set_ttl(60);
  return r;
}

serverpb::InternalRequest Revoke(int64_t id) {
  serverpb::InternalRequest r;
  r.mutable_lease_revoke()->set_id(id);
  return r;
}

// The fixture's store and core applier, with an alarm store and the guard
// on top, applied as the apply loop applies (one batch per entry).
class AlarmFixture : public ApplierFixture {
 public:
  AlarmFixture() {
    alarms_.Reload(*store_);
    applier_.SetAlarms(&alarms_);
  }
  absl::StatusOr<serverpb::InternalResponse> Through(const server::Applier& a,
                                                     const serverpb::InternalRequest& req) {
    auto wb = store_->Write();
    auto got = a.ApplyEntry(*wb, req);
    REQUIRE(wb->Commit(++index_, /*sync=*/false).ok());
    return got;
  }
  absl::StatusOr<serverpb::InternalResponse> Guarded(const serverpb::InternalRequest& req) {
    return Through(guard_, req);
  }
  etcdserverpb::AlarmResponse MustAlarm(AlarmRequest::AlarmAction action, uint64_t member,
                                        etcdserverpb::AlarmType type) {
    auto got = Guarded(AlarmReq(action, member, type));
    INFO(got.status().ToString());
    REQUIRE(got.ok());
    return got->alarm();
  }

  server::AlarmStore alarms_;
  server::AlarmGuard guard_{&applier_, &alarms_, nullptr, nullptr};
};

TEST_CASE_METHOD(AlarmFixture, "Alarm GET, ACTIVATE and DEACTIVATE follow etcd 3.4", "[alarm]") {
  CHECK(MustAlarm(AlarmRequest::GET, 0, etcdserverpb::NONE).alarms_size() == 0);
  auto raised = MustAlarm(AlarmRequest::ACTIVATE, 7, etcdserverpb::NOSPACE);
  REQUIRE(raised.alarms_size() == 1);
  CHECK(raised.alarms(0).memberid() == 7);
  CHECK(raised.alarms(0).alarm() == etcdserverpb::NOSPACE);
  CHECK_FALSE(raised.has_header());  // etcd's AlarmResponse has none
  // Again: the alarm already there is the answer, nothing new.
  CHECK(MustAlarm(AlarmRequest::ACTIVATE, 7, etcdserverpb::NOSPACE).alarms_size() == 1);
  MustAlarm(AlarmRequest::ACTIVATE, 9, etcdserverpb::CORRUPT);
  CHECK(MustAlarm(AlarmRequest::GET, 0, etcdserverpb::NONE).alarms_size() == 2);
  auto only = MustAlarm(AlarmRequest::GET, 0, etcdserverpb::CORRUPT);
  REQUIRE(only.alarms_size() == 1);
  CHECK(only.alarms(0).memberid() == 9);
  // Deactivating an alarm that is not there answers nothing.
  CHECK(MustAlarm(AlarmRequest::DEACTIVATE, 7, etcdserverpb::CORRUPT).alarms_size() == 0);
  auto gone = MustAlarm(AlarmRequest::DEACTIVATE, 9, etcdserverpb::CORRUPT);
  REQUIRE(gone.alarms_size() == 1);
  CHECK(gone.alarms(0).memberid() == 9);
  CHECK_FALSE(alarms_.Active(etcdserverpb::CORRUPT));
  CHECK(alarms_.Active(etcdserverpb::NOSPACE));
  // Status.errors' text, as etcd prints an AlarmMember.
  CHECK(server::AlarmText(alarms_.Get(etcdserverpb::NOSPACE).at(0)) == "memberID:7 alarm:NOSPACE ");
}

TEST_CASE_METHOD(AlarmFixture, "NOSPACE refuses what adds data; reads, deletes, compaction and revokes pass",
                 "[alarm][applier]") {
  Put("a", "1");
  Put("b", "2");
  MustAlarm(AlarmRequest::ACTIVATE, 7, etcdserverpb::NOSPACE);
  const int64_t rev = store_->Rev();
  auto put = Guarded(Wrap(MakePut("c", "3")));
  CHECK(base::IsError(put.status(), base::ErrorKind::kNoSpace));
  CHECK(put.status().code() == absl::StatusCode::kResourceExhausted);
  TxnRequest with_put;
  *with_put.add_compare() = MakeCompare("a", Compare::VALUE, Compare::EQUAL, 0, "no");
  *with_put.add_failure() = OpPut("c", "3");  // a put on either branch counts
  CHECK(base::IsError(Guarded(Wrap(with_put)).status(), base::ErrorKind::kNoSpace));
  CHECK(base::IsError(Guarded(Grant(100)).status(), base::ErrorKind::kNoSpace));
  CHECK(store_->Rev() == rev);
  CHECK_FALSE(Get("c").has_value());
  // What makes room, or reads, goes through.
  TxnRequest no_put;
  *no_put.add_success() = OpDelete("b");
  *no_put.add_success() = OpRange("a");
  auto txn = Guarded(Wrap(no_put));
  REQUIRE(txn.ok());
  CHECK(txn->txn().responses(1).response_range().count() == 1);
  REQUIRE(Guarded(Wrap(MakeDelete("a"))).ok());
  REQUIRE(Guarded(WrapCompact(store_->Rev())).ok());
  // No lessor in this fixture: the revoke reached the core (not refused).
  CHECK(absl::IsUnimplemented(Guarded(Revoke(100)).status()));
  CHECK(guard_.ReadRange(*store_, MakeRange("a")).ok());
  // Disarmed: writes are back.
  MustAlarm(AlarmRequest::DEACTIVATE, 7, etcdserverpb::NOSPACE);
  REQUIRE(Guarded(Wrap(MakePut("c", "3"))).ok());
  CHECK(Get("c")->value() == "3");
}

TEST_CASE_METHOD(AlarmFixture, "CORRUPT refuses every write; reads pass", "[alarm][applier]") {
  Put("a", "1");
  MustAlarm(AlarmRequest::ACTIVATE, 0, etcdserverpb::CORRUPT);
  const int64_t rev = store_->Rev();
  TxnRequest read_only_in_log;
  *read_only_in_log.add_success() = OpRange("a");
  const int64_t compact_rev = store_->CompactRev();
  for (const auto& req : {Wrap(MakePut("b", "2")), Wrap(MakeDelete("a")), Wrap(read_only_in_log), WrapCompact(rev),
                          Grant(100), Revoke(100)}) {
    INFO(req.ShortDebugString());
    auto got = Guarded(req);
    CHECK(base::IsError(got.status(), base::ErrorKind::kCorrupt));
    CHECK(got.status().code() == absl::StatusCode::kDataLoss);
  }
  CHECK(store_->Rev() == rev);
  CHECK(store_->CompactRev() == compact_rev);
  auto read = guard_.ReadRange(*store_, MakeRange("a"));
  REQUIRE(read.ok());
  CHECK(read->kvs(0).value() == "1");
  // CORRUPT wins over NOSPACE; disarming NOSPACE leaves CORRUPT in force.
  MustAlarm(AlarmRequest::ACTIVATE, 7, etcdserverpb::NOSPACE);
  CHECK(base::IsError(Guarded(Wrap(MakeDelete("a"))).status(), base::ErrorKind::kCorrupt));
  MustAlarm(AlarmRequest::DEACTIVATE, 7, etcdserverpb::NOSPACE);
  CHECK(base::IsError(Guarded(Wrap(MakePut("b", "2"))).status(), base::ErrorKind::kCorrupt));
  MustAlarm(AlarmRequest::DEACTIVATE, 0, etcdserverpb::CORRUPT);
  REQUIRE(Guarded(Wrap(MakePut("b", "2"))).ok());
}

// Stands for the auth applier: refuses every entry at admission.
class RefuseAllAdmit final : public server::ApplierDecorator {
 public:
  using ApplierDecorator::ApplierDecorator;
  absl::Status Admit(const storage::WriteBatch&, const serverpb::InternalRequest&) const override {
    return absl::PermissionDeniedError("etcdserver: permission denied");
  }
};

TEST_CASE_METHOD(AlarmFixture, "The alarm's refusal comes before the auth refusal, as etcd's capped applier wraps auth",
                 "[alarm][applier]") {
  RefuseAllAdmit auth(&applier_);
  server::AlarmGuard guarded_auth(&auth, &alarms_, nullptr, nullptr);
  auto through = [&](const serverpb::InternalRequest& req) { return Through(guarded_auth, req); };
  // No alarm: auth decides.
  CHECK(absl::IsPermissionDenied(through(Wrap(MakePut("a", "1"))).status()));
  MustAlarm(AlarmRequest::ACTIVATE, 7, etcdserverpb::NOSPACE);
  CHECK(base::IsError(through(Wrap(MakePut("a", "1"))).status(), base::ErrorKind::kNoSpace));
  CHECK(base::IsError(through(Grant(100)).status(), base::ErrorKind::kNoSpace));
  TxnRequest with_put;
  *with_put.add_success() = OpPut("a", "1");
  CHECK(base::IsError(through(Wrap(with_put)).status(), base::ErrorKind::kNoSpace));
  // What NOSPACE lets through is still auth's to refuse.
  CHECK(absl::IsPermissionDenied(through(Wrap(MakeDelete("a"))).status()));
  MustAlarm(AlarmRequest::ACTIVATE, 0, etcdserverpb::CORRUPT);
  for (const auto& req : {Wrap(MakePut("b", "2")), Wrap(MakeDelete("a")), Wrap(with_put), WrapCompact(1),
                          Grant(100), Revoke(100)}) {
    INFO(req.ShortDebugString());
    CHECK(base::IsError(through(req).status(), base::ErrorKind::kCorrupt));
  }
  // Kinds the alarms do not guard: auth's answer.
  CHECK(absl::IsPermissionDenied(through(AlarmReq(AlarmRequest::GET, 0, etcdserverpb::NONE)).status()));
}

TEST_CASE_METHOD(AlarmFixture, "Alarms survive a restart and travel with a snapshot's checkpoint", "[alarm]") {
  MustAlarm(AlarmRequest::ACTIVATE, 0xabc, etcdserverpb::NOSPACE);
  MustAlarm(AlarmRequest::ACTIVATE, 0x1, etcdserverpb::CORRUPT);
  MustAlarm(AlarmRequest::ACTIVATE, 0x2, etcdserverpb::CORRUPT);
  MustAlarm(AlarmRequest::DEACTIVATE, 0x2, etcdserverpb::CORRUPT);
  auto listed = [](const server::AlarmStore& a) {
    std::string out;
    for (const auto& m : a.Get(etcdserverpb::NONE)) out += server::AlarmText(m);
    return out;
  };
  const std::string want = "memberID:2748 alarm:NOSPACE memberID:1 alarm:CORRUPT ";
  CHECK(listed(alarms_) == want);
  // A raft snapshot is a checkpoint of the store: its alarms come along.
  const std::string checkpoint = dir_.Sub("checkpoint");
  REQUIRE(store_->CreateCheckpoint(checkpoint).ok());
  // Restart: the store reopened, a fresh alarm store reads them back.
  store_.reset();
  store_ = OpenStore(dir_.Sub("db"));
  server::AlarmStore reloaded;
  reloaded.Reload(*store_);
  CHECK(listed(reloaded) == want);
  auto copy = OpenStore(checkpoint);
  server::AlarmStore from_snapshot;
  from_snapshot.Reload(*copy);
  CHECK(listed(from_snapshot) == want);
  CHECK(from_snapshot.Active(etcdserverpb::CORRUPT));
  // The keys are the schema's: one per (member, type).
  CHECK(storage::AlarmMetaKey(0xabc, 1) == "alarm/0000000000000abc/1");
  auto decoded = storage::DecodeAlarmMetaKey("alarm/0000000000000abc/2");
  REQUIRE(decoded.has_value());
  CHECK(decoded->member_id == 0xabc);
  CHECK(decoded->alarm_type == 2);
  CHECK_FALSE(storage::DecodeAlarmMetaKey("alarm/xyz/1").has_value());
}

TEST_CASE_METHOD(AlarmFixture, "The quota: etcd's costs, and NOSPACE raised while applying past it",
                 "[alarm][quota]") {
  CHECK(server::BackendQuota::Cost(MakePut("key", "value")) == 256 + 8);
  TxnRequest t;
  *t.add_success() = OpPut("a", "1");
  *t.add_failure() = OpPut("bb", "22");
  *t.add_failure() = OpDelete("x");
  CHECK(server::BackendQuota::Cost(t) == 256 + 4);  // the larger branch
  CHECK(server::BackendQuota::Cost(etcdserverpb::LeaseGrantRequest()) == 64);
  base::ManualClock clock;
  const int64_t size = store_->DbSize();
  // Room for one more small put, not two.
  server::BackendQuota quota(store_.get(), size + 300, clock);
  CHECK(quota.bytes() == size + 300);
  CHECK(quota.Available(0));
  CHECK(quota.Available(server::BackendQuota::Cost(MakePut("k", "v"))));
  CHECK_FALSE(quota.Available(600));
  CHECK(server::BackendQuota(store_.get(), 0, clock).bytes() == server::BackendQuota::kDefaultBytes);
  server::BackendQuota disabled(store_.get(), -1, clock);
  CHECK(disabled.bytes() == 0);
  CHECK(disabled.Available(int64_t{1} << 40));

  int raised = 0;
  server::BackendQuota tiny(store_.get(), 1, clock);
  server::AlarmGuard watching(&applier_, &alarms_, &tiny, [&] { ++raised; });
  // As etcd's quotaApplierV3: applied (it is in the log, every member
  // applies it), yet answered NOSPACE, and the member raises the alarm.
  const int64_t rev = store_->Rev();
  CHECK(base::IsError(Through(watching, Wrap(MakePut("a", "1"))).status(), base::ErrorKind::kNoSpace));
  CHECK(raised == 1);
  REQUIRE(Get("a").has_value());
  CHECK(Get("a")->value() == "1");
  CHECK(store_->Rev() == rev + 1);
  TxnRequest txn_put;
  *txn_put.add_success() = OpPut("t", "1");
  CHECK(base::IsError(Through(watching, Wrap(txn_put)).status(), base::ErrorKind::kNoSpace));
  CHECK(Get("t").has_value());
  CHECK(raised == 2);  // no alarm applied yet: raised again (the raise dedupes in flight)
  server::Lessor lessor{store_.get(), clock, server::Lessor::Options{}};
  REQUIRE(lessor.Reload().ok());
  applier_.SetLessor(&lessor);
  CHECK(base::IsError(Through(watching, Grant(300)).status(), base::ErrorKind::kNoSpace));
  CHECK(lessor.Exists(300));  // granted all the same
  CHECK(raised == 3);
  REQUIRE(Through(watching, Wrap(MakeDelete("a"))).ok());  // adds nothing
  CHECK(raised == 3);
  // A write that fits is answered as usual.
  server::BackendQuota room(store_.get(), store_->DbSize() + 100'000, clock);
  server::AlarmGuard roomy(&applier_, &alarms_, &room, [&] { ++raised; });
  CHECK(Through(roomy, Wrap(MakePut("k", "v"))).ok());
  CHECK(raised == 3);
  REQUIRE(Through(watching, AlarmReq(AlarmRequest::ACTIVATE, 7, etcdserverpb::NOSPACE)).ok());
  CHECK(base::IsError(Through(watching, Wrap(MakePut("a", "2"))).status(), base::ErrorKind::kNoSpace));
  CHECK(raised == 3);  // refused, and the alarm is already up
  CHECK_FALSE(Get("a").has_value());  // refused: not applied (deleted above)
}

TEST_CASE_METHOD(AlarmFixture, "The quota reads the size anew when the clock steps back", "[alarm][quota]") {
  base::ManualClock clock;
  const int64_t size = store_->DbSize();
  server::BackendQuota quota(store_.get(), size + 2000, clock);
  const int64_t cost = server::BackendQuota::Cost(MakePut("k", "v"));
  REQUIRE(quota.Available(cost));  // reads the size now
  // Grow the store well past the quota; within 100 ms the old size stands.
  for (int i = 0; i < 4096 && store_->DbSize() + cost < size + 2000; ++i) {
    Put("big" + std::to_string(i), std::string(1024, 'x'));
  }
  REQUIRE(store_->DbSize() + cost >= size + 2000);
  clock.Advance(absl::Milliseconds(10));
  CHECK(quota.Available(cost));
  // Stepped back by a second: the cached size is not trusted.
  clock.Advance(absl::Seconds(-1));
  CHECK_FALSE(quota.Available(cost));
}

TEST_CASE_METHOD(AlarmFixture, "A raft snapshot's Reload replaces the alarms: one disarmed after it is gone",
                 "[alarm]") {
  MustAlarm(AlarmRequest::ACTIVATE, 0x1, etcdserverpb::NOSPACE);
  MustAlarm(AlarmRequest::ACTIVATE, 0, etcdserverpb::CORRUPT);
  // A follower's alarm store as of now; the leader then disarms NOSPACE,
  // raises another, and ships a snapshot taken after that.
  server::AlarmStore follower;
  follower.Reload(*store_);
  REQUIRE(follower.Active(etcdserverpb::NOSPACE));
  MustAlarm(AlarmRequest::DEACTIVATE, 0x1, etcdserverpb::NOSPACE);
  MustAlarm(AlarmRequest::ACTIVATE, 0x2, etcdserverpb::NOSPACE);
  MustAlarm(AlarmRequest::DEACTIVATE, 0x2, etcdserverpb::NOSPACE);
  const std::string checkpoint = dir_.Sub("after-disarm");
  REQUIRE(store_->CreateCheckpoint(checkpoint).ok());
  auto installed = OpenStore(checkpoint);
  follower.Reload(*installed);
  CHECK_FALSE(follower.Active(etcdserverpb::NOSPACE));
  CHECK(follower.Active(etcdserverpb::CORRUPT));
  std::string listed;
  for (const auto& m : follower.Get(etcdserverpb::NONE)) listed += server::AlarmText(m);
  CHECK(listed == "alarm:CORRUPT ");  // member 0 omitted, as proto3 text format prints it
  // And the guard over the reloaded set lets a put through once CORRUPT is
  // disarmed there too.
  server::AlarmGuard guard(&applier_, &follower, nullptr, nullptr);
  CHECK(base::IsError(Through(guard, Wrap(MakePut("x", "1"))).status(), base::ErrorKind::kCorrupt));
  MustAlarm(AlarmRequest::DEACTIVATE, 0, etcdserverpb::CORRUPT);
  const std::string later = dir_.Sub("after-corrupt-disarm");
  REQUIRE(store_->CreateCheckpoint(later).ok());
  follower.Reload(*OpenStore(later));
  CHECK(follower.Get(etcdserverpb::NONE).empty());
  CHECK(Through(guard, Wrap(MakePut("x", "1"))).ok());
}

// A proposer that holds every proposal until told to answer.
class HoldingProposer final : public StubProposer {
 public:
  void Propose(serverpb::InternalRequest req, server::ProposeDone done) override {
    proposed.push_back(std::move(req));
    held.push_back(std::move(done));
  }
  void AnswerAll() {
    auto dones = std::move(held);
    held.clear();
    for (auto& d : dones) d(serverpb::InternalResponse());
  }
  std::vector<serverpb::InternalRequest> proposed;
  std::vector<server::ProposeDone> held;
};

TEST_CASE("A write answered NOSPACE from the apply loop waits for the member's alarm, as etcd's waiter",
          "[alarm][quota]") {
  HoldingProposer raft;
  server::NoSpaceRaise raise(0xabc, 1024, nullptr);
  server::QuotaGate gate(nullptr, &raft, 0xabc, &raise);
  raise.Raise(nullptr);  // raft not built yet: nothing
  CHECK(raft.proposed.empty());
  // The apply loop: a write crossed the quota; twice, one raise.
  raise.Raise(&raft);
  raise.Raise(&raft);
  REQUIRE(raft.proposed.size() == 1);
  CHECK(raft.proposed[0].alarm().memberid() == 0xabc);
  CHECK(raft.proposed[0].alarm().alarm() == etcdserverpb::NOSPACE);
  CHECK(raft.proposed[0].alarm().action() == AlarmRequest::ACTIVATE);
  std::vector<std::string> answered;
  auto answer = [&](std::string name) {
    return gate.DeferNoSpace([&answered, name](server::ProposeResult r) {
      answered.push_back(name + ":" + (r.ok() ? "ok" : std::string(r.status().message())));
    });
  };
  answer("crossed")(server::NoSpaceError());
  answer("other")(absl::NotFoundError("x"));
  answer("fine")(serverpb::InternalResponse());
  CHECK(answered == std::vector<std::string>{"other:x", "fine:ok"});
  raft.AnswerAll();  // the alarm is applied
  CHECK(answered == std::vector<std::string>{"other:x", "fine:ok",
                                             "crossed:" + std::string(server::NoSpaceError().message())});
  // No raise in flight: answered at once; a new crossing raises anew.
  answer("late")(server::NoSpaceError());
  CHECK(answered.size() == 4);
  raise.Raise(&raft);
  CHECK(raft.proposed.size() == 2);
}

}  // namespace
}  // namespace ketcd_test
