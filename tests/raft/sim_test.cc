// Randomized deterministic simulation of raft clusters.
//
//   raft_sim_test                      # seeds 1..1000
//   raft_sim_test --seeds 1-5000       # a range
//   raft_sim_test --seed 42 --verbose  # replay one seed
//
// Each seed builds a 3- or 5-node cluster (odd seeds 3, even seeds 5) and
// runs a chaos phase (partitions both ways, drops, duplicates, delays and
// reorders, crashes and restarts, compaction, leader transfers,
// membership churn (remove voter, add learner, promote), proposals and ReadIndex reads) with every safety
// property checked after every step (see cluster.h). Then the network
// heals and every node restarts but a random minority, and liveness is
// required: a leader
// within kLeaderBound ticks and every proposal committed within
// kCommitBound ticks. A failing seed prints the command that replays it.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/raft/cluster.h"

namespace raft::testing {
namespace {

constexpr int kChaosTicks = 300;
constexpr int kLeaderBound = 150;
constexpr int kCommitBound = 200;

struct Outcome {
  bool ok = true;
  std::string why;
  int proposals = 0;
  int committed_entries = 0;
  int reads = 0;
  int ticks_to_leader = 0;
  int ticks_to_commit_all = 0;
};

struct Chaos {
  explicit Chaos(uint64_t seed) : rng(seed * 7919 + 17) {}
  uint64_t Next(uint64_t n) { return n == 0 ? 0 : rng() % n; }
  bool Chance(int per_thousand) { return static_cast<int>(rng() % 1000) < per_thousand; }
  std::mt19937_64 rng;
};

Outcome RunSeed(uint64_t seed, bool verbose) {
  Outcome out;
  Chaos chaos(seed);
  int n = seed % 2 == 1 ? 3 : 5;
  ClusterOptions opts;
  opts.seed = seed;
  opts.max_inflight = 1 + static_cast<int>(chaos.Next(8));  // exercise flow control
  opts.max_size_per_msg = 64 + chaos.Next(256);              // a few entries per append
  // Mostly etcd's production settings; a quarter of the seeds each run
  // without pre-vote or without check-quorum (classic Raft paths).
  opts.pre_vote = chaos.Next(4) != 0;
  opts.check_quorum = chaos.Next(4) != 0;
  // Fault intensity varies by seed, from gentle to hostile.
  opts.drop_rate = 0.01 * static_cast<double>(chaos.Next(25));
  opts.dup_rate = 0.01 * static_cast<double>(chaos.Next(10));
  opts.min_delay = 1;
  opts.max_delay = 2 + static_cast<int>(chaos.Next(30));  // up to 3 ticks: reorders
  const int crash_rate = 5 + static_cast<int>(chaos.Next(40));  // per mille per tick
  std::vector<uint64_t> ids;
  for (int i = 1; i <= n; ++i) ids.push_back(i);
  if (verbose) {
    std::printf("  %d nodes, pre_vote=%d check_quorum=%d drop=%.2f dup=%.2f delay<=%d\n", n,
                opts.pre_vote, opts.check_quorum, opts.drop_rate, opts.dup_rate, opts.max_delay);
  }
  Cluster c(opts, ids);

  std::vector<std::string> values;
  int reads = 0;
  auto random_live = [&]() -> uint64_t {
    std::vector<uint64_t> live;
    for (uint64_t id : c.ids()) {
      if (c.Alive(id)) live.push_back(id);
    }
    return live.empty() ? 0 : live[chaos.Next(live.size())];
  };
  auto log = [&](const std::string& s) {
    if (verbose) std::printf("  t=%llu %s\n", static_cast<unsigned long long>(c.now()), s.c_str());
  };

  for (int tick = 0; tick < kChaosTicks && c.ok(); ++tick) {
    if (chaos.Chance(300)) {
      if (uint64_t id = random_live()) {
        std::string v = absl::StrCat("s", seed, "v", values.size());
        values.push_back(v);
        (void)c.Propose(id, v);  // may be dropped; retried after healing
      }
    }
    if (chaos.Chance(100)) {
      if (uint64_t id = random_live()) c.ReadIndex(id, absl::StrCat("r", reads++));
    }
    if (chaos.Chance(30)) {
      switch (chaos.Next(4)) {
        case 0:
          c.Heal();
          log("heal");
          break;
        case 1: {
          uint64_t id = 1 + chaos.Next(n);
          c.Isolate(id);
          log(absl::StrCat("isolate ", id));
          break;
        }
        case 2: {
          std::set<uint64_t> side;
          for (uint64_t id : c.ids()) {
            if (chaos.Chance(500)) side.insert(id);
          }
          c.Heal();
          c.Partition(side);
          log(absl::StrCat("partition, side size ", side.size()));
          break;
        }
        case 3: {
          uint64_t a = 1 + chaos.Next(n), b = 1 + chaos.Next(n);
          if (a != b) c.Block(a, b);
          log(absl::StrCat("one-way cut ", a, "->", b));
          break;
        }
      }
    }
    if (chaos.Chance(crash_rate)) {
      if (uint64_t id = random_live()) {
        c.Crash(id);
        log(absl::StrCat("crash ", id));
      }
    }
    if (chaos.Chance(60)) {
      uint64_t id = 1 + chaos.Next(n);
      if (!c.Alive(id)) {
        c.Restart(id);
        log(absl::StrCat("restart ", id));
      }
    }
    if (chaos.Chance(50)) {
      if (uint64_t id = random_live()) c.Compact(id, chaos.Next(5));
    }
    if (chaos.Chance(10)) {
      if (uint64_t lead = c.Leader()) {
        uint64_t to = 1 + chaos.Next(n);
        c.TransferLeader(lead, to);
        log(absl::StrCat("transfer ", lead, "->", to));
      }
    }
    if (opts.pre_vote && chaos.Chance(20)) {
      // Membership churn, one change at a time through the leader:
      // remove a voter, re-add it as a learner, promote it. Only with
      // pre-vote: without it, a removed node that never learned of its
      // removal keeps forcing elections (thesis §4.2.3), and the vote
      // lease cannot help while no leader exists yet, so liveness after
      // healing would have no useful bound.
      if (uint64_t lead = c.Leader()) {
        raftpb::ConfState cs = c.node(lead).ConfState();
        uint64_t id = 1 + chaos.Next(n);
        auto has = [](const auto& ids, uint64_t x) {
          return std::find(ids.begin(), ids.end(), x) != ids.end();
        };
        absl::Status s;
        if (has(cs.voters(), id)) {
          if (cs.voters_size() > 2) s = c.ProposeConfChange(lead, raftpb::CONF_CHANGE_REMOVE_NODE, id);
        } else if (has(cs.learners(), id)) {
          s = c.ProposeConfChange(lead, raftpb::CONF_CHANGE_ADD_NODE, id);
        } else {
          s = c.ProposeConfChange(lead, raftpb::CONF_CHANGE_ADD_LEARNER_NODE, id);
        }
        log(absl::StrCat("conf change on ", id, " via ", lead, " (voters ", cs.voters_size(),
                         "): ", s.ToString()));
      }
    }
    c.RunTicks(1);
  }
  if (!c.ok()) return {false, c.failure()};

  // Heal: full connectivity, every node up, no more loss.
  c.Heal();
  c.SetFaults(0, 0, 1, 10);
  for (uint64_t id : c.ids()) c.Restart(id);
  // Leave a random minority down: for every configuration any node holds,
  // the live voters must stay a majority.
  std::vector<raftpb::ConfState> confs;
  for (uint64_t id : c.ids()) confs.push_back(c.node(id).ConfState());
  std::set<uint64_t> down;
  for (int k = 0; k < n; ++k) {
    if (!chaos.Chance(300)) continue;
    uint64_t x = 1 + chaos.Next(n);
    bool majority_left = true;
    for (const auto& cs : confs) {
      int live = 0;
      for (uint64_t v : cs.voters()) live += (v != x && !down.count(v)) ? 1 : 0;
      if (live < cs.voters_size() / 2 + 1) majority_left = false;
    }
    if (majority_left && !down.count(x)) {
      down.insert(x);
      c.Crash(x);
      log(absl::StrCat("left down: ", x));
    }
  }
  log("healed");
  int t = 0;
  for (; t < kLeaderBound && c.ok(); ++t) {
    uint64_t l = c.Leader();
    if (l != 0) break;
    if (verbose && t % 5 == 0) std::printf("%s", c.Describe().c_str());
    c.RunTicks(1);
  }
  if (!c.ok()) return {false, c.failure()};
  if (verbose) std::printf("  leader after %d ticks\n", t);
  out.ticks_to_leader = t;
  if (c.Leader() == 0) {
    return {false, absl::StrCat("liveness: no leader ", kLeaderBound, " ticks after healing\n",
                                c.Describe())};
  }
  for (t = 0; t < kCommitBound && c.ok(); ++t) {
    std::vector<std::string> pending;
    for (const auto& v : values) {
      if (!c.IsCommitted(v)) pending.push_back(v);
    }
    if (pending.empty()) break;
    if (t % 10 == 0) {
      // Clients retry what has not committed (requests are idempotent by
      // value in the state machine, like the server's request ids).
      if (uint64_t l = c.Leader()) {
        for (const auto& v : pending) (void)c.Propose(l, v);
      }
    }
    c.RunTicks(1);
  }
  if (!c.ok()) return {false, c.failure()};
  out.ticks_to_commit_all = t;
  for (const auto& v : values) {
    if (!c.IsCommitted(v)) {
      return {false, absl::StrCat("liveness: ", v, " not committed ", kCommitBound,
                                  " ticks after healing")};
    }
  }
  if (verbose) {
    for (const auto& [type, count] : c.delivered) {
      std::printf("  delivered %s: %d\n", raftpb::MessageType_Name(type).c_str(), count);
    }
  }
  out.proposals = static_cast<int>(values.size());
  out.committed_entries = static_cast<int>(c.MaxCommitted());
  out.reads = static_cast<int>(c.reads_done().size());
  return out;
}

// Set while a seed runs, so that a crash inside raft (a failed invariant
// check aborts) still prints the replay command.
const char* g_argv0 = "raft_sim_test";
uint64_t g_current_seed = 0;

void PrintReplay(uint64_t seed) {
  std::fprintf(stderr, "REPLAY: %s --seed %llu --verbose\n", g_argv0,
               static_cast<unsigned long long>(seed));
}

void OnAbort(int) {
  PrintReplay(g_current_seed);
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

}  // namespace
}  // namespace raft::testing

int main(int argc, char** argv) {
  using namespace raft::testing;
  uint64_t lo = 1, hi = 1000;
  bool verbose = false;
  g_argv0 = argv[0];
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &lo)) return 2;
      hi = lo;
    } else if (a == "--seeds" && i + 1 < argc) {
      std::string r = argv[++i];
      auto dash = r.find('-');
      if (dash == std::string::npos || !absl::SimpleAtoi(r.substr(0, dash), &lo) ||
          !absl::SimpleAtoi(r.substr(dash + 1), &hi)) {
        std::fprintf(stderr, "--seeds wants A-B\n");
        return 2;
      }
    } else if (a == "--verbose") {
      verbose = true;
    } else {
      std::fprintf(stderr, "usage: %s [--seed N | --seeds A-B] [--verbose]\n", argv[0]);
      return 2;
    }
  }
  std::signal(SIGABRT, OnAbort);
  auto start = std::chrono::steady_clock::now();
  int failed = 0;
  long proposals = 0, entries = 0, reads = 0;
  int worst_leader = 0, worst_commit = 0;
  for (uint64_t seed = lo; seed <= hi; ++seed) {
    g_current_seed = seed;
    Outcome o = RunSeed(seed, verbose);
    proposals += o.proposals;
    entries += o.committed_entries;
    reads += o.reads;
    worst_leader = std::max(worst_leader, o.ticks_to_leader);
    worst_commit = std::max(worst_commit, o.ticks_to_commit_all);
    if (!o.ok) {
      ++failed;
      std::fprintf(stderr, "seed %llu FAILED: %s\n", static_cast<unsigned long long>(seed),
                   o.why.c_str());
      PrintReplay(seed);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%llu seeds, %d failed, %.1fs; %ld proposals, %ld committed entries, %ld reads; "
      "after healing: leader within %d ticks, all proposals committed within %d more\n",
      static_cast<unsigned long long>(hi - lo + 1), failed, secs, proposals, entries, reads,
      worst_leader, worst_commit);
  return failed == 0 ? 0 : 1;
}
