// etcd's membership checks (server/state/membership.h) as pure functions:
// the errors of ValidateConfigurationChange and the started-member quorum
// of --strict-reconfig-check.
#include <catch2/catch.hpp>

#include "base/errors.h"
#include "server/state/membership.h"

namespace ketcd_test {
namespace {

serverpb::MemberAttributes Member(uint64_t id, const std::string& name, const std::string& url,
                                  bool learner = false) {
  serverpb::MemberAttributes m;
  m.set_member_id(id);
  m.set_name(name);
  m.add_peer_urls(url);
  m.set_is_learner(learner);
  return m;
}

server::Membership ThreeStarted() {
  server::Membership m;
  for (uint64_t id : {1, 2, 3}) {
    m.members[id] = Member(id, "m" + std::to_string(id), "http://127.0.0.1:" + std::to_string(2380 + id));
  }
  return m;
}

bool Is(const absl::Status& s, base::ErrorKind k) { return base::IsError(s, k); }

}  // namespace

TEST_CASE("Adding a member: id, URL, removed id and learner limits", "[membership]") {
  auto m = ThreeStarted();
  using K = base::ErrorKind;
  CHECK(server::CheckAddMember(m, Member(4, "", "http://127.0.0.1:2390")).ok());
  CHECK(Is(server::CheckAddMember(m, Member(2, "", "http://127.0.0.1:2390")), K::kMemberExists));
  CHECK(Is(server::CheckAddMember(m, Member(4, "", "http://127.0.0.1:2382")), K::kPeerUrlExists));
  m.removed.insert(9);
  CHECK(Is(server::CheckAddMember(m, Member(9, "", "http://127.0.0.1:2399")), K::kMemberNotFound));
  CHECK(server::CheckAddMember(m, Member(4, "", "http://127.0.0.1:2390", true)).ok());
  m.members[5] = Member(5, "", "http://127.0.0.1:2395", true);
  CHECK(Is(server::CheckAddMember(m, Member(4, "", "http://127.0.0.1:2390", true)), K::kTooManyLearners));
  CHECK(server::CheckAddMember(m, Member(4, "", "http://127.0.0.1:2390", true), 2).ok());
  // A voter may still be added beside the learner.
  CHECK(server::CheckAddMember(m, Member(4, "", "http://127.0.0.1:2390")).ok());
}

TEST_CASE("Remove, update and promote name etcd's errors", "[membership]") {
  auto m = ThreeStarted();
  using K = base::ErrorKind;
  CHECK(server::CheckRemoveMember(m, 2).ok());
  CHECK(Is(server::CheckRemoveMember(m, 7), K::kMemberNotFound));
  CHECK(server::CheckUpdateMember(m, 2, {"http://127.0.0.1:2382"}).ok());  // its own URL
  CHECK(Is(server::CheckUpdateMember(m, 2, {"http://127.0.0.1:2383"}), K::kPeerUrlExists));
  CHECK(Is(server::CheckUpdateMember(m, 7, {"http://127.0.0.1:2399"}), K::kMemberNotFound));
  CHECK(Is(server::CheckPromoteMember(m, 2), K::kMemberNotLearner));
  CHECK(Is(server::CheckPromoteMember(m, 7), K::kMemberNotFound));
  m.members[4] = Member(4, "", "http://127.0.0.1:2390", true);
  CHECK(server::CheckPromoteMember(m, 4).ok());
  CHECK(m.Voters() == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("Strict reconfiguration counts started members as etcd does", "[membership]") {
  using K = base::ErrorKind;
  auto m = ThreeStarted();
  CHECK(server::CheckStartedForAddVoter(m).ok());
  // Two members added but not started: 3 of 5 started is a quorum of 5...
  m.members[4] = Member(4, "", "http://127.0.0.1:2390");
  CHECK(server::CheckStartedForAddVoter(m).ok());
  // ...3 of 6 is not.
  m.members[5] = Member(5, "", "http://127.0.0.1:2391");
  CHECK(Is(server::CheckStartedForAddVoter(m), K::kMemberNotEnoughStarted));
  // Removing a started member leaves 2 started of 4: not a quorum.
  CHECK(Is(server::CheckStartedForRemoveVoter(m, 1), K::kMemberNotEnoughStarted));
  // Removing an unstarted one leaves 3 of 4 started.
  CHECK(server::CheckStartedForRemoveVoter(m, 5).ok());

  server::Membership lone;
  lone.members[1] = Member(1, "m1", "http://127.0.0.1:2381");
  CHECK(server::CheckStartedForAddVoter(lone).ok());  // etcd's exception: 1 -> 2
  lone.members[2] = Member(2, "", "http://127.0.0.1:2382");
  CHECK(Is(server::CheckStartedForAddVoter(lone), K::kMemberNotEnoughStarted));
  // Promoting a learner counts it as started.
  server::Membership two;
  two.members[1] = Member(1, "m1", "http://127.0.0.1:2381");
  two.members[2] = Member(2, "", "http://127.0.0.1:2382");
  CHECK(server::CheckStartedForPromote(two).ok());
}

}  // namespace ketcd_test
