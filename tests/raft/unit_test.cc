// Unit tests of the raft building blocks: MemoryStorage, RaftLog,
// Progress/Inflights, the quorum arithmetic, and RawNode's Ready cycle.
#include <catch2/catch.hpp>

#include "raft/errors.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "raft/rawnode.h"
#include "raft/storage.h"

namespace raft {
namespace {

raftpb::Entry E(uint64_t index, uint64_t term, std::string data = "") {
  raftpb::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

raftpb::ConfState Voters(std::vector<uint64_t> ids) {
  raftpb::ConfState cs;
  for (uint64_t id : ids) cs.add_voters(id);
  return cs;
}

TEST_CASE("MemoryStorage: append, truncate, compact, named errors", "[raft][storage]") {
  MemoryStorage s;
  REQUIRE(s.Append({E(1, 1), E(2, 1), E(3, 2)}).ok());
  REQUIRE(*s.LastIndex() == 3);
  REQUIRE(*s.Term(3) == 2);
  REQUIRE(IsLogUnavailable(s.Term(4).status()));
  // A conflicting append replaces the suffix.
  REQUIRE(s.Append({E(3, 3), E(4, 3)}).ok());
  REQUIRE(*s.Term(3) == 3);
  REQUIRE(*s.LastIndex() == 4);
  // Size limit: at least one entry.
  auto one = s.Entries(1, 5, 1);
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  REQUIRE(s.CreateSnapshot(2, Voters({1}), "state").ok());
  REQUIRE(s.Compact(2).ok());
  REQUIRE(*s.FirstIndex() == 3);
  REQUIRE(*s.Term(2) == 1);  // the snapshot's term stays readable
  REQUIRE(IsCompacted(s.Term(1).status()));
  REQUIRE(IsCompacted(s.Entries(2, 4, kNoLimit).status()));
  REQUIRE(IsCompacted(s.Compact(2)));
  raftpb::Snapshot old;
  old.mutable_metadata()->set_index(1);
  REQUIRE(IsSnapshotOutOfDate(s.ApplySnapshot(old)));
}

TEST_CASE("RaftLog: MaybeAppend, conflicts, commit and fast back-off hints", "[raft][log]") {
  MemoryStorage s;
  REQUIRE(s.Append({E(1, 1), E(2, 1), E(3, 2)}).ok());
  RaftLog log(&s, kNoLimit);
  REQUIRE(log.LastIndex() == 3);
  REQUIRE(log.LastTerm() == 2);
  // Mismatch at the previous entry: rejected.
  REQUIRE_FALSE(log.MaybeAppend(3, 3, 0, {E(4, 3)}));
  // Match: the conflicting suffix from index 3 is replaced.
  auto r = log.MaybeAppend(2, 1, 3, {E(3, 4), E(4, 4)});
  REQUIRE(r);
  REQUIRE(r->last_new_index == 4);
  REQUIRE(r->appended_from == 3);
  REQUIRE(log.committed() == 3);
  REQUIRE(log.UnstableEntries().size() == 2);
  // Duplicate delivery changes nothing.
  r = log.MaybeAppend(2, 1, 3, {E(3, 4)});
  REQUIRE(r->appended_from == 0);
  REQUIRE(log.LastIndex() == 4);
  // Hint: last index <= 4 with term <= 2 is (2, 1).
  auto [idx, term] = log.FindConflictByTerm(4, 2);
  REQUIRE(idx == 2);
  REQUIRE(term == 1);
  REQUIRE(log.IsUpToDate(4, 4));
  REQUIRE_FALSE(log.IsUpToDate(9, 3));
  REQUIRE_FALSE(log.MaybeCommit(4, 3));  // not the current term's entry
  REQUIRE(log.MaybeCommit(4, 4));
  auto next = log.NextCommittedEntries();
  REQUIRE(next.size() == 4);
  log.AppliedTo(4);
  REQUIRE_FALSE(log.HasNextCommittedEntries());
  REQUIRE(s.Append(log.UnstableEntries()).ok());  // persisted, as Ready asks
  log.StableTo(4, 4);
  REQUIRE(log.UnstableEntries().empty());
  log.CheckInvariants();
}

TEST_CASE("Progress: probe, replicate, stale rejections, inflight window", "[raft][progress]") {
  Progress pr(2);
  pr.next = 10;
  REQUIRE_FALSE(pr.IsPaused());
  // Probe: only a rejection of next-1 counts; the hint bounds the jump.
  REQUIRE_FALSE(pr.MaybeDecrTo(5, 3));
  REQUIRE(pr.MaybeDecrTo(9, 3));
  REQUIRE(pr.next == 4);
  REQUIRE(pr.MaybeUpdate(6));
  pr.BecomeReplicate();
  REQUIRE(pr.next == 7);
  pr.inflights.Add(8);
  pr.inflights.Add(9);
  REQUIRE(pr.IsPaused());
  pr.inflights.FreeLE(8);
  REQUIRE_FALSE(pr.IsPaused());
  // Replicate: a rejection at or below match is stale.
  REQUIRE_FALSE(pr.MaybeDecrTo(6, 0));
  REQUIRE(pr.MaybeDecrTo(9, 0));
  REQUIRE(pr.next == 7);
  pr.BecomeSnapshot(20);
  REQUIRE(pr.IsPaused());
  pr.BecomeProbe();
  REQUIRE(pr.next == 21);
}

TEST_CASE("ProgressTracker: commit index and votes count voters only", "[raft][quorum]") {
  ProgressTracker t(4);
  raftpb::ConfState cs = Voters({1, 2, 3});
  cs.add_learners(4);
  t.SetConfig(cs, 1);
  t.Get(1)->match = 10;
  t.Get(2)->match = 7;
  t.Get(3)->match = 2;
  t.Get(4)->match = 100;  // a learner never counts
  REQUIRE(t.Committed() == 7);
  t.RecordVote(1, true);
  t.RecordVote(4, true);
  REQUIRE(t.TallyVotes(nullptr, nullptr) == VoteResult::kPending);
  t.RecordVote(2, false);
  t.RecordVote(3, false);
  REQUIRE(t.TallyVotes(nullptr, nullptr) == VoteResult::kLost);
  REQUIRE(t.IsQuorum({1, 3}));
  REQUIRE_FALSE(t.IsQuorum({1, 4}));
}

TEST_CASE("RawNode: Ready cycle of a bootstrapped single voter", "[raft][rawnode]") {
  MemoryStorage s;
  Bootstrap b = BootstrapCluster({1});
  REQUIRE(s.Append(b.entries).ok());
  s.SetHardState(b.hard_state);
  Config c;
  c.id = 1;
  c.storage = &s;
  auto rn = RawNode::Create(c);
  REQUIRE(rn.ok());
  RawNode& node = **rn;
  REQUIRE(node.ConfState().voters_size() == 1);
  REQUIRE(node.Campaign().ok());
  REQUIRE(node.Propose("x").ok());
  REQUIRE(node.HasReady());
  Ready rd = node.GetReady();
  REQUIRE(rd.soft_state);
  REQUIRE(rd.soft_state->state == StateType::kLeader);
  REQUIRE(rd.hard_state);
  REQUIRE(rd.must_sync);
  REQUIRE(rd.messages.empty());
  REQUIRE(rd.entries.size() == 2);  // the no-op and "x"
  // The leader's own copy counts only once persisted (after Advance).
  REQUIRE(rd.committed_entries.size() == 1);  // the bootstrap entry
  REQUIRE(s.Append(rd.entries).ok());
  s.SetHardState(*rd.hard_state);
  node.Advance(rd);
  REQUIRE(node.HasReady());
  rd = node.GetReady();
  REQUIRE(rd.messages.empty());
  REQUIRE(rd.entries.empty());
  REQUIRE(rd.committed_entries.back().data() == "x");
  REQUIRE(rd.hard_state);
  REQUIRE_FALSE(rd.must_sync);  // only the commit index moved
  s.SetHardState(*rd.hard_state);
  node.Advance(rd);
  REQUIRE_FALSE(node.HasReady());
  REQUIRE(node.GetStatus().applied == rd.committed_entries.back().index());

  // Restart from what was persisted.
  c.applied = node.GetStatus().applied;
  auto again = RawNode::Create(c);
  REQUIRE(again.ok());
  REQUIRE((*again)->raft().term() == node.raft().term());
  REQUIRE((*again)->raft().log().committed() == node.raft().log().committed());
  REQUIRE_FALSE((*again)->raft().log().HasNextCommittedEntries());
}

TEST_CASE("Config validation and local message refusal", "[raft][rawnode]") {
  MemoryStorage s;
  Config c;
  REQUIRE_FALSE(RawNode::Create(c).ok());
  c.id = 1;
  c.storage = &s;
  c.election_tick = 1;
  REQUIRE_FALSE(RawNode::Create(c).ok());
  c.election_tick = 10;
  auto rn = RawNode::Create(c);
  REQUIRE(rn.ok());
  raftpb::Message hup;
  hup.set_type(raftpb::MSG_HUP);
  REQUIRE_FALSE((*rn)->Step(hup).ok());
  // An empty member is in no configuration: it never campaigns.
  for (int i = 0; i < 100; ++i) (*rn)->Tick();
  REQUIRE((*rn)->raft().state() == StateType::kFollower);
  REQUIRE((*rn)->raft().term() == 0);
}

}  // namespace
}  // namespace raft
