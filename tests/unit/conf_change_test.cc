// Proposer::ProposeConfChange on a lone voter (RaftMember): the answer comes
// once the change is applied on this member, so the membership recorded in
// the store and raft's configuration both hold it by then; a change raft
// refuses, and a stopped member, answer with errors.
#include <chrono>
#include <future>
#include <string>

#include <catch2/catch.hpp>

#include "base/errors.h"
#include "raft/errors.h"
#include "server/state/kv_applier.h"
#include "server/state/membership.h"
#include "storage/wal_bootstrap.h"
#include "tests/unit/local_member.h"
#include "tests/unit/store_util.h"
#include "tests/common/temp_dir.h"

namespace ketcd_test {
namespace {

raftpb::ConfChange MemberChange(raftpb::ConfChangeType type, uint64_t id, const std::string& name,
                                const std::string& peer_url) {
  serverpb::MemberAttributes m;
  m.set_member_id(id);
  m.set_name(name);
  m.add_peer_urls(peer_url);
  raftpb::ConfChange cc;
  cc.set_type(type);
  cc.set_node_id(id);
  cc.set_context(storage::EncodeConfChangeContext(m));
  return cc;
}

absl::Status ProposeConfChangeAndWait(server::Proposer& proposer, raftpb::ConfChange cc) {
  auto answer = std::make_shared<std::promise<absl::Status>>();
  auto future = answer->get_future();
  proposer.ProposeConfChange(std::move(cc), [answer](absl::Status s) { answer->set_value(s); });
  REQUIRE(future.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return future.get();
}

bool Has(const google::protobuf::RepeatedField<uint64_t>& ids, uint64_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

TEST_CASE("ProposeConfChange answers once the change is applied", "[raft_member][conf_change]") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  server::KvApplier applier([](int64_t) { return false; });
  LocalMember member(store.get(), &applier);
  member.Start();
  REQUIRE(server::LoadRaftMembers(*store).count(2) == 0);
  REQUIRE_FALSE(Has(member.member().ConfState().learners(), 2));

  // Port 1 refuses connections: the learner never answers, which a lone
  // voter does not need for the change to commit.
  const absl::Status s = ProposeConfChangeAndWait(
      member.member(),
      MemberChange(raftpb::CONF_CHANGE_ADD_LEARNER_NODE, 2, "learner", "http://127.0.0.1:1"));
  REQUIRE(s.ok());
  // Both hold the change the moment the answer comes, not eventually.
  auto members = server::LoadRaftMembers(*store);
  REQUIRE(members.count(2) == 1);
  CHECK(members[2].name() == "learner");
  REQUIRE(members[2].peer_urls_size() == 1);
  CHECK(members[2].peer_urls(0) == "http://127.0.0.1:1");
  CHECK(members.count(1) == 1);
  const raftpb::ConfState cs = member.member().ConfState();
  CHECK(Has(cs.learners(), 2));
  CHECK_FALSE(Has(cs.voters(), 2));
  CHECK(Has(cs.voters(), 1));
  CHECK(store->AppliedIndex() > member.base_index());
}

TEST_CASE("ProposeConfChange reports raft's refusal", "[raft_member][conf_change]") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  server::KvApplier applier([](int64_t) { return false; });
  LocalMember member(store.get(), &applier);
  member.Start();
  const uint64_t applied = store->AppliedIndex();

  // Member 1 is the only voter: raft refuses to demote it to a learner.
  const absl::Status s = ProposeConfChangeAndWait(
      member.member(),
      MemberChange(raftpb::CONF_CHANGE_ADD_LEARNER_NODE, 1, "local", "http://127.0.0.1:1"));
  CHECK(raft::IsConfChangeRejected(s));
  CHECK(store->AppliedIndex() == applied);
  const raftpb::ConfState cs = member.member().ConfState();
  CHECK(Has(cs.voters(), 1));
  CHECK(cs.learners_size() == 0);
}

TEST_CASE("ProposeConfChange on a stopped member answers stopped", "[raft_member][conf_change]") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  server::KvApplier applier([](int64_t) { return false; });
  LocalMember member(store.get(), &applier);
  member.Start();
  member.Stop();
  const absl::Status s = ProposeConfChangeAndWait(
      member.member(),
      MemberChange(raftpb::CONF_CHANGE_ADD_LEARNER_NODE, 2, "learner", "http://127.0.0.1:1"));
  CHECK(base::IsError(s, base::ErrorKind::kStopped));
  CHECK(server::LoadRaftMembers(*store).count(2) == 0);
}

TEST_CASE("Applied conf changes record learners, URL updates and removed ids", "[raft_member][conf_change]") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("db"));
  server::KvApplier applier([](int64_t) { return false; });
  LocalMember member(store.get(), &applier);
  member.Start();
  REQUIRE(ProposeConfChangeAndWait(member.member(), MemberChange(raftpb::CONF_CHANGE_ADD_LEARNER_NODE, 2,
                                                                 "", "http://127.0.0.1:1"))
              .ok());
  auto m = server::LoadMembership(*store);
  REQUIRE(m.members.count(2) == 1);
  CHECK(m.members[2].is_learner());
  CHECK(m.Learners() == 1);
  // A peer-URL update keeps the record's other facts (a lone voter cannot
  // promote: the new voter would never answer, so the change never commits).
  REQUIRE(ProposeConfChangeAndWait(member.member(), MemberChange(raftpb::CONF_CHANGE_UPDATE_NODE, 2, "",
                                                                 "http://127.0.0.1:2"))
              .ok());
  m = server::LoadMembership(*store);
  REQUIRE(m.members[2].peer_urls_size() == 1);
  CHECK(m.members[2].peer_urls(0) == "http://127.0.0.1:2");
  CHECK(m.members[2].is_learner());  // an update keeps the flag
  REQUIRE(ProposeConfChangeAndWait(member.member(), MemberChange(raftpb::CONF_CHANGE_REMOVE_NODE, 2, "",
                                                                 "http://127.0.0.1:2"))
              .ok());
  m = server::LoadMembership(*store);
  CHECK(m.members.count(2) == 0);
  CHECK(m.removed.count(2) == 1);
  // A removed id is never accepted again.
  serverpb::MemberAttributes again;
  again.set_member_id(2);
  again.add_peer_urls("http://127.0.0.1:3");
  CHECK(base::IsError(server::CheckAddMember(m, again), base::ErrorKind::kMemberNotFound));
}

}  // namespace ketcd_test
