// Focused scenarios, each a short story on a deterministic cluster (no
// random faults unless a test asks): Figure 8, pre-vote, check-quorum,
// learners, leader transfer, snapshots, removal of the leader, ReadIndex,
// flow control and fast back-off. The cluster checks every safety property
// after every step; each test also asserts cluster.ok().
#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"
#include "tests/raft/cluster.h"

namespace raft::testing {
namespace {

ClusterOptions Quiet(bool pre_vote = true, bool check_quorum = true) {
  ClusterOptions o;
  o.pre_vote = pre_vote;
  o.check_quorum = check_quorum;
  return o;
}

// Campaigns (without ticking anyone) until id leads.
void Elect(Cluster& c, uint64_t id) {
  for (int i = 0; i < 5 && c.ok(); ++i) {
    REQUIRE(c.Campaign(id).ok());
    c.Settle();
    if (c.node(id).raft().state() == StateType::kLeader) return;
  }
  FAIL("node " << id << " could not be elected");
}

uint64_t TermAt(Cluster& c, uint64_t id, uint64_t index) {
  auto t = c.node(id).raft().log().Term(index);
  return t.ok() ? *t : 0;
}

TEST_CASE("a lone voter leads on its first timeout and commits without messages", "[raft]") {
  Cluster c(Quiet(), {1});
  for (int i = 0; i < 20 && c.node(1).raft().state() != StateType::kLeader; ++i) c.Tick(1);
  REQUIRE(c.node(1).raft().state() == StateType::kLeader);
  REQUIRE(c.Propose(1, "a").ok());
  REQUIRE(c.IsCommitted("a"));
  REQUIRE(c.InFlight() == 0);
  REQUIRE(c.applied(1).back().data == "a");
  c.ReadIndex(1, "read");
  REQUIRE(c.reads_done().count("read") == 1);
  REQUIRE(c.ok());
}

TEST_CASE("proposals: forwarded by followers, an error without a leader", "[raft]") {
  Cluster c(Quiet(), {1, 2, 3});
  absl::Status s = c.Propose(2, "early");
  REQUIRE(IsProposalDropped(s));
  REQUIRE(IsProposalDropped(c.node(2).ReadIndex("early read")));
  Elect(c, 1);
  REQUIRE(c.Propose(2, "forwarded").ok());
  c.Settle();
  REQUIRE(c.IsCommitted("forwarded"));
  for (uint64_t id : {1, 2, 3}) REQUIRE(c.applied(id).back().data == "forwarded");
  REQUIRE(c.ok());
}

// Figure 8 of the Raft paper: an entry from an earlier term that is stored
// on a majority may still be overwritten, so a leader must not commit it by
// counting replicas; it commits only entries of its own term.
TEST_CASE("Figure 8: a leader never commits an older-term entry by counting replicas",
          "[raft][figure8]") {
  ClusterOptions o = Quiet(/*pre_vote=*/false, /*check_quorum=*/false);
  o.max_size_per_msg = 1;  // one entry per MsgApp, to control replication
  Cluster c(o, {1, 2, 3, 4, 5});
  Elect(c, 1);
  const uint64_t x_index = c.node(1).raft().log().LastIndex() + 1;

  // (a) S1 (term 2) stores x only on itself and S2.
  for (uint64_t id : {3, 4, 5}) c.Isolate(id);
  REQUIRE(c.Propose(1, "x").ok());
  c.Settle();
  const uint64_t t_x = TermAt(c, 1, x_index);
  REQUIRE(TermAt(c, 2, x_index) == t_x);
  REQUIRE_FALSE(c.IsCommitted("x"));

  // (b) S1 crashes; S5 wins with S3 and S4 and stores an entry of its term
  // at x's index on itself only.
  c.Crash(1);
  c.Heal();
  c.filter = [](const raftpb::Message& m) { return !(m.from() == 5 && m.type() == raftpb::MSG_APP); };
  Elect(c, 5);
  const uint64_t t5 = c.node(5).raft().term();
  REQUIRE(TermAt(c, 5, x_index) == t5);
  c.Crash(5);

  // (c) S1 restarts, wins, and copies x (alone) to S3 and S4: S1 now
  // knows x is on a majority (S1, S3, S4; S2 too), but its own no-op
  // reaches nobody.
  c.filter = [&](const raftpb::Message& m) {
    if (m.from() != 1 || m.type() != raftpb::MSG_APP) return true;
    if (m.to() == 2) return false;
    bool has_x = TermAt(c, m.to(), x_index) == t_x;
    for (const auto& e : m.entries()) {
      if (e.index() > x_index && has_x) return false;
    }
    return true;
  };
  c.Restart(1);
  Elect(c, 1);
  c.Settle();
  REQUIRE(TermAt(c, 3, x_index) == t_x);
  REQUIRE(TermAt(c, 4, x_index) == t_x);
  REQUIRE(c.node(1).raft().tracker().Get(3)->match == x_index);
  REQUIRE(c.node(1).raft().tracker().Get(4)->match == x_index);
  REQUIRE(c.node(1).raft().log().committed() < x_index);  // the point of Figure 8
  REQUIRE_FALSE(c.IsCommitted("x"));

  SECTION("(d) S5 can still be elected and overwrite x everywhere") {
    c.Crash(1);
    c.filter = nullptr;
    c.Restart(5);
    Elect(c, 5);
    c.Settle();
    for (uint64_t id : {2, 3, 4, 5}) REQUIRE(TermAt(c, id, x_index) == t5);
    REQUIRE_FALSE(c.IsCommitted("x"));
  }
  SECTION("(e) once S1 replicates an entry of its own term, x commits with it") {
    c.filter = nullptr;
    c.RunTicks(3);
    REQUIRE(c.IsCommitted("x"));
    REQUIRE(c.node(1).raft().log().committed() > x_index);
  }
  REQUIRE(c.ok());
}

TEST_CASE("pre-vote: a rejoining partitioned node does not disrupt the leader", "[raft][prevote]") {
  SECTION("with pre-vote the term and the leader survive") {
    Cluster c(Quiet(/*pre_vote=*/true), {1, 2, 3});
    Elect(c, 1);
    uint64_t term = c.node(1).raft().term();
    c.Isolate(3);
    c.RunTicks(100);  // node 3 times out again and again
    REQUIRE(c.node(3).raft().term() == term);
    c.Heal();
    c.RunTicks(30);
    REQUIRE(c.Leader() == 1);
    REQUIRE(c.node(1).raft().term() == term);
    REQUIRE(c.ok());
  }
  SECTION("without pre-vote (and check-quorum) the rejoining node forces an election") {
    Cluster c(Quiet(/*pre_vote=*/false, /*check_quorum=*/false), {1, 2, 3});
    Elect(c, 1);
    uint64_t term = c.node(1).raft().term();
    c.Isolate(3);
    c.RunTicks(100);
    REQUIRE(c.node(3).raft().term() > term + 2);
    c.Heal();
    c.RunTicks(30);
    REQUIRE(c.node(1).raft().term() > term);
    REQUIRE(c.ok());
  }
}

TEST_CASE("vote lease: a live leader's followers ignore a disruptive candidate", "[raft][lease]") {
  Cluster c(Quiet(/*pre_vote=*/false, /*check_quorum=*/true), {1, 2, 3});
  Elect(c, 1);
  uint64_t term = c.node(1).raft().term();
  c.Block(1, 3);  // 3 stops hearing the leader; 2 still hears it
  c.RunTicks(40);
  REQUIRE(c.node(3).raft().term() > term);  // 3 keeps campaigning...
  REQUIRE(c.Leader() == 1);                 // ...but 2 ignores it in its lease
  REQUIRE(c.node(2).raft().term() == term);
  REQUIRE(c.ok());
}

TEST_CASE("check-quorum: a leader cut off from a quorum steps down", "[raft][checkquorum]") {
  Cluster c(Quiet(), {1, 2, 3});
  Elect(c, 1);
  c.Isolate(1);
  c.RunTicks(2 * 10 + 1);
  REQUIRE(c.node(1).raft().state() != StateType::kLeader);
  c.RunTicks(30);
  uint64_t l = c.Leader();
  REQUIRE((l == 2 || l == 3));
  REQUIRE(c.ok());
}

TEST_CASE("learners replicate but never vote, campaign or count for commit", "[raft][learner]") {
  Cluster c(Quiet(), {1, 2, 3}, {4});
  Elect(c, 1);
  REQUIRE(c.Propose(1, "a").ok());
  c.Settle();
  REQUIRE(c.applied(4).back().data == "a");  // replicated to the learner

  // Only the leader and the learner are connected: nothing commits.
  c.Isolate(2);
  c.Isolate(3);
  c.Unblock(1, 4);
  c.Unblock(4, 1);
  REQUIRE(c.Propose(1, "b").ok());
  c.Settle();
  REQUIRE_FALSE(c.IsCommitted("b"));

  // Node 2 with only the learner to talk to never wins; the learner never
  // campaigns.
  c.Heal();
  c.Crash(1);
  c.Crash(3);
  uint64_t learner_term = c.node(4).raft().term();
  c.RunTicks(100);
  REQUIRE(c.node(2).raft().state() != StateType::kLeader);
  REQUIRE(c.node(4).raft().state() == StateType::kFollower);
  REQUIRE_FALSE(c.node(4).raft().Promotable());
  REQUIRE(c.node(4).raft().term() >= learner_term);
  REQUIRE(c.ok());

  SECTION("a promoted learner votes") {
    c.Restart(1);
    c.Restart(3);
    c.RunTicks(40);
    uint64_t l = c.Leader();
    REQUIRE(l != 0);
    c.RunTicks(5);
    REQUIRE(c.ProposeConfChange(l, raftpb::CONF_CHANGE_ADD_NODE, 4).ok());
    c.RunTicks(5);
    REQUIRE(c.node(4).raft().Promotable());
    c.Crash(l == 3 ? 1 : 3);  // leave two of four... plus the new voter
    c.RunTicks(40);
    REQUIRE(c.Leader() != 0);
    REQUIRE(c.ok());
  }
}

TEST_CASE("leader transfer: the target catches up, then campaigns at once", "[raft][transfer]") {
  Cluster c(Quiet(), {1, 2, 3});
  Elect(c, 1);
  uint64_t term = c.node(1).raft().term();
  c.Isolate(3);
  for (int i = 0; i < 10; ++i) REQUIRE(c.Propose(1, absl::StrCat("v", i)).ok());
  c.Settle();
  c.Heal();
  c.TransferLeader(1, 3);
  // During the transfer the old leader refuses proposals.
  REQUIRE(IsProposalDropped(c.Propose(1, "during")));
  c.Settle();  // no ticks: the transfer needs no election timeout
  REQUIRE(c.Leader() == 3);
  REQUIRE(c.node(3).raft().term() == term + 1);
  REQUIRE(c.Propose(3, "after").ok());
  c.Settle();
  c.RunTicks(2);
  REQUIRE(c.IsCommitted("v9"));
  REQUIRE(c.IsCommitted("after"));
  REQUIRE(c.ok());
}

TEST_CASE("snapshot: a follower behind the compacted log installs one", "[raft][snapshot]") {
  Cluster c(Quiet(), {1, 2, 3});
  Elect(c, 1);
  c.Crash(3);
  for (int i = 0; i < 50; ++i) REQUIRE(c.Propose(1, absl::StrCat("v", i)).ok());
  c.Settle();
  c.RunTicks(2);
  for (uint64_t id : {1, 2}) c.Compact(id, 0);
  REQUIRE(*c.storage(1).FirstIndex() > 10);
  c.Restart(3);
  c.RunTicks(5);
  REQUIRE(c.delivered[raftpb::MSG_SNAP] >= 1);
  REQUIRE(c.applied(3).size() == c.applied(1).size());
  REQUIRE(c.applied(3).back().data == "v49");
  REQUIRE(c.node(3).ConfState().voters_size() == 3);
  REQUIRE(c.Propose(1, "after").ok());
  c.RunTicks(2);
  REQUIRE(c.applied(3).back().data == "after");
  REQUIRE(c.ok());
}

TEST_CASE("membership: removing the leader hands over and it steps down", "[raft][membership]") {
  Cluster c(Quiet(), {1, 2, 3});
  Elect(c, 1);
  c.RunTicks(2);
  REQUIRE(c.ProposeConfChange(1, raftpb::CONF_CHANGE_REMOVE_NODE, 1).ok());
  c.Settle();
  c.RunTicks(3);
  REQUIRE(c.node(1).raft().state() != StateType::kLeader);
  uint64_t l = c.Leader();
  REQUIRE((l == 2 || l == 3));
  REQUIRE(c.Propose(l, "two-node").ok());
  c.RunTicks(2);
  REQUIRE(c.IsCommitted("two-node"));
  c.RunTicks(50);  // the removed node never campaigns again
  REQUIRE(c.Leader() == l);
  REQUIRE_FALSE(c.node(1).raft().Promotable());
  REQUIRE(c.ok());
}

TEST_CASE("membership: one change at a time, add learner then promote", "[raft][membership]") {
  Cluster c(Quiet(), {1, 2, 3});
  Elect(c, 1);
  c.RunTicks(1);
  c.AddEmptyNode(4);
  REQUIRE(c.ProposeConfChange(1, raftpb::CONF_CHANGE_ADD_LEARNER_NODE, 4).ok());
  // The change is in effect on append; a second one must wait for commit.
  REQUIRE(IsConfChangeRejected(c.ProposeConfChange(1, raftpb::CONF_CHANGE_ADD_NODE, 4)));
  c.RunTicks(3);
  REQUIRE(c.node(4).ConfState().learners_size() == 1);
  REQUIRE(c.ProposeConfChange(1, raftpb::CONF_CHANGE_ADD_NODE, 4).ok());
  c.RunTicks(3);
  REQUIRE(c.node(1).ConfState().voters_size() == 4);
  REQUIRE(c.node(4).raft().Promotable());
  REQUIRE(IsConfChangeRejected(c.ProposeConfChange(1, raftpb::CONF_CHANGE_ADD_NODE, 4)));
  REQUIRE(c.ok());
}

TEST_CASE("ReadIndex waits for the leader's first commit in its term", "[raft][readindex]") {
  Cluster c(Quiet(), {1, 2, 3});
  Elect(c, 1);
  uint64_t noop_index = c.node(1).raft().log().LastIndex();
  REQUIRE(c.node(1).raft().log().committed() == noop_index);
  // A new leader in a later term whose no-op cannot commit yet.
  c.filter = [](const raftpb::Message& m) {
    return !(m.from() == 2 && m.type() == raftpb::MSG_APP);
  };
  c.TransferLeader(1, 2);
  c.Settle();
  REQUIRE(c.Leader() == 2);
  uint64_t new_noop = c.node(2).raft().log().LastIndex();
  REQUIRE(c.node(2).raft().log().committed() < new_noop);
  c.RunTicks(1);  // heartbeats tell 3 who leads (appends are still lost)
  REQUIRE(c.node(3).raft().lead() == 2);
  REQUIRE(c.node(2).raft().log().committed() < new_noop);
  c.ReadIndex(2, "early");
  c.ReadIndex(3, "forwarded");
  c.Settle();
  REQUIRE(c.reads_done().empty());  // not before the first commit
  c.filter = nullptr;
  c.RunTicks(2);
  REQUIRE(c.reads_done().count("early") == 1);
  REQUIRE(c.reads_done().count("forwarded") == 1);
  REQUIRE(c.reads_done().at("early") >= new_noop);
  REQUIRE(c.ok());
}

TEST_CASE("ReadIndex: concurrent reads share one heartbeat round", "[raft][readindex]") {
  Cluster c(Quiet(), {1, 2, 3});
  Elect(c, 1);
  c.RunTicks(1);
  int before = c.delivered[raftpb::MSG_HEARTBEAT];
  for (int i = 0; i < 10; ++i) c.ReadIndex(1, absl::StrCat("r", i));
  c.Settle();
  REQUIRE(c.reads_done().size() == 10);
  // Round one covers r0, round two covers r1..r9: two heartbeats each.
  REQUIRE(c.delivered[raftpb::MSG_HEARTBEAT] - before <= 4);
  REQUIRE(c.ok());
}

TEST_CASE("flow control: at most max_inflight appends to an unresponsive follower",
          "[raft][flow]") {
  ClusterOptions o = Quiet();
  o.max_inflight = 3;
  Cluster c(o, {1, 2, 3});
  Elect(c, 1);
  c.Propose(1, "warm").IgnoreError();
  c.Settle();
  int sent_to_3 = 0;
  c.filter = [&](const raftpb::Message& m) {
    if (m.to() == 3 && m.type() == raftpb::MSG_APP) {
      ++sent_to_3;
      return false;  // lost: the follower never acks
    }
    return true;
  };
  for (int i = 0; i < 20; ++i) REQUIRE(c.Propose(1, absl::StrCat("v", i)).ok());
  c.Settle();
  REQUIRE(sent_to_3 == 3);
  REQUIRE(c.IsCommitted("v19"));  // 1 and 2 are a quorum
  REQUIRE(c.ok());
}

TEST_CASE("fast back-off: a long conflicting suffix is skipped a term at a time", "[raft][backoff]") {
  Cluster c(Quiet(), {1, 2, 3});
  Elect(c, 1);
  c.Isolate(1);
  for (int i = 0; i < 100; ++i) REQUIRE(c.Propose(1, absl::StrCat("lost", i)).ok());
  c.Settle();
  c.RunTicks(40);  // 2 or 3 take over; 1 steps down (check-quorum)
  uint64_t l = c.Leader();
  REQUIRE((l == 2 || l == 3));
  for (int i = 0; i < 5; ++i) REQUIRE(c.Propose(l, absl::StrCat("kept", i)).ok());
  c.Settle();
  int rejections = 0;
  c.filter = [&](const raftpb::Message& m) {
    if (m.from() == 1 && m.type() == raftpb::MSG_APP_RESP && m.reject()) ++rejections;
    return true;
  };
  c.Heal();
  c.RunTicks(10);
  REQUIRE(c.applied(1).back().data == c.applied(l).back().data);
  REQUIRE(rejections <= 3);  // one entry at a time would need ~100
  REQUIRE_FALSE(c.IsCommitted("lost0"));
  REQUIRE(c.ok());
}

}  // namespace
}  // namespace raft::testing

namespace raft::testing {
namespace {

TEST_CASE("commit news: followers do not answer an append that only spreads the commit",
          "[raft][replication]") {
  Cluster c(Quiet(), {1, 2, 3});
  Elect(c, 1);
  REQUIRE(c.Propose(1, "warm").ok());
  c.Settle();
  int commit_only = 0, not_needed = 0, answers = 0;
  c.filter = [&](const raftpb::Message& m) {
    if (m.type() == raftpb::MSG_APP && m.entries_size() == 0) {
      ++commit_only;
      not_needed += m.answer_not_needed();
    }
    if (m.type() == raftpb::MSG_APP_RESP) ++answers;
    return true;
  };
  for (int i = 0; i < 10; ++i) {
    REQUIRE(c.Propose(1, absl::StrCat("v", i)).ok());
    c.Settle();
  }
  // Per write: each follower answers the append with the entry, and is
  // then told the new commit without answering.
  CHECK(commit_only == 20);
  CHECK(not_needed == 20);
  CHECK(answers == 20);
  for (uint64_t id : {2, 3}) {
    CHECK(c.CommitIndex(id) == c.CommitIndex(1));
    CHECK(c.applied(id).back().data == "v9");
  }
  REQUIRE(c.ok());
}

TEST_CASE("commit news: a lost answer is repaired by the next heartbeat round", "[raft][replication]") {
  Cluster c(Quiet(), {1, 2, 3});
  Elect(c, 1);
  REQUIRE(c.Propose(1, "warm").ok());
  c.Settle();
  bool dropped = false;
  c.filter = [&](const raftpb::Message& m) {
    if (!dropped && m.from() == 3 && m.type() == raftpb::MSG_APP_RESP) {
      dropped = true;  // lost with no stream error: the leader is not told
      return false;
    }
    return true;
  };
  REQUIRE(c.Propose(1, "v").ok());
  c.Settle();
  REQUIRE(dropped);
  const uint64_t last = c.node(1).raft().log().LastIndex();
  const Progress* pr3 = c.node(1).raft().tracker().Get(3);
  REQUIRE(pr3->match < last);  // the commit news to 3 was not answered
  c.RunTicks(2);
  CHECK(pr3->match == last);
  CHECK(c.CommitIndex(3) == last);
  REQUIRE(c.ok());
}

}  // namespace
}  // namespace raft::testing
