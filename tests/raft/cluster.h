// A deterministic in-process raft cluster for tests: N RawNodes, each with
// a MemoryStorage standing in for its disk and a list of applied entries
// standing in for its (durable) state machine, joined by a simulated
// network driven by one seeded RNG. The network can partition (both ways
// or one way), drop, delay, reorder and duplicate messages; nodes can
// crash (losing everything not persisted from a Ready) and restart.
//
// Safety is checked incrementally after every step, against global
// ledgers:
//   - election safety: at most one leader per term;
//   - log matching: an (index, term) pair names one entry, with one
//     predecessor term, on every node, ever;
//   - leader completeness: a new leader holds every entry committed so far;
//   - state machine safety: every applied entry (and snapshot) agrees with
//     the committed ledger, so applied sequences are prefixes of each other;
//   - ReadIndex: a read's index is at least every index committed anywhere
//     before the read was issued.
// The first violation is recorded in failure() and the cluster stops.
//
// Thread-safety: none. Test-only.
#ifndef KETCD_TESTS_RAFT_CLUSTER_H_
#define KETCD_TESTS_RAFT_CLUSTER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "raft/rawnode.h"
#include "raft/storage.h"

namespace raft::testing {

struct ClusterOptions {
  uint64_t seed = 1;
  int election_tick = 10;
  int heartbeat_tick = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  int max_inflight = 256;
  uint64_t max_size_per_msg = 1 << 20;
  // Network, in time units; a tick is kUnitsPerTick units.
  int min_delay = 1;
  int max_delay = 1;
  double drop_rate = 0;
  double dup_rate = 0;
};

inline constexpr int kUnitsPerTick = 10;

struct AppliedEntry {
  uint64_t index;
  uint64_t term;
  std::string data;
};

class Cluster {
 public:
  // voters and learners form the initial configuration (bootstrapped in
  // every founding member's log).
  Cluster(const ClusterOptions& opts, std::vector<uint64_t> voters,
          std::vector<uint64_t> learners = {});

  // ---- time ----
  // Advances one time unit: delivers due messages; every kUnitsPerTick
  // units, ticks every live node.
  void StepUnit();
  void RunTicks(int ticks);
  // Delivers messages (advancing time, without ticking) until none are in
  // flight or max_units pass.
  void Settle(int max_units = 10000);
  void Tick(uint64_t id);

  // ---- network ----
  void Block(uint64_t from, uint64_t to) { blocked_.insert({from, to}); }
  void Unblock(uint64_t from, uint64_t to) { blocked_.erase({from, to}); }
  void Isolate(uint64_t id);
  void Partition(const std::set<uint64_t>& side);  // side vs. everyone else
  void Heal() { blocked_.clear(); }
  bool Blocked(uint64_t from, uint64_t to) const { return blocked_.count({from, to}) > 0; }
  // Drops every message in flight.
  void DropInFlight();
  void SetFaults(double drop, double dup, int min_delay, int max_delay);
  // Optional filter: return false to drop a message at delivery.
  std::function<bool(const raftpb::Message&)> filter;

  // ---- nodes ----
  void Crash(uint64_t id);
  void Restart(uint64_t id);
  // A new, empty member process (not yet in the configuration).
  void AddEmptyNode(uint64_t id);
  bool Alive(uint64_t id) const;
  RawNode& node(uint64_t id);
  const std::vector<uint64_t>& ids() const { return ids_; }
  MemoryStorage& storage(uint64_t id);
  const std::vector<AppliedEntry>& applied(uint64_t id) const;

  // ---- requests ----
  absl::Status Propose(uint64_t id, const std::string& data);
  absl::Status ProposeConfChange(uint64_t id, raftpb::ConfChangeType type, uint64_t node);
  absl::Status Campaign(uint64_t id);
  void TransferLeader(uint64_t id, uint64_t to);
  // Issues a read; its answer is checked when it arrives.
  void ReadIndex(uint64_t id, const std::string& ctx);
  // Snapshots node id at its applied index and drops the log before
  // applied - keep.
  void Compact(uint64_t id, uint64_t keep);
  // Processes Ready of a node now (tests that step by hand).
  void HandleReady(uint64_t id);

  // ---- observation ----
  // The leader with the highest term among live nodes, or 0.
  uint64_t Leader() const;
  uint64_t CommitIndex(uint64_t id) const;
  bool IsCommitted(const std::string& data) const { return committed_values_.count(data) > 0; }
  uint64_t MaxCommitted() const { return ledger_.empty() ? 0 : ledger_.rbegin()->first; }
  // Answers received: ctx -> read index.
  const std::map<std::string, uint64_t>& reads_done() const { return reads_done_; }
  size_t InFlight() const { return net_.size(); }
  uint64_t now() const { return now_; }
  // Messages delivered so far, by type.
  std::map<raftpb::MessageType, int> delivered;

  // One line per node: role, term, log position, configuration.
  std::string Describe() const;
  const std::string& failure() const { return failure_; }
  bool ok() const { return failure_.empty(); }
  // Every check also runs each node's CheckInvariants.
  void CheckAll();

 private:
  struct NodeState {
    MemoryStorage storage;  // the disk: survives crashes
    std::unique_ptr<RawNode> rn;  // nullptr while crashed
    std::vector<AppliedEntry> applied;  // the state machine: durable
    uint64_t checked_commit = 0;
    uint64_t restarts = 0;
    bool was_leader = false;
    uint64_t leader_term = 0;
  };
  struct InFlightMsg {
    uint64_t at;
    uint64_t seq;
    raftpb::Message m;
    bool operator>(const InFlightMsg& o) const {
      return at != o.at ? at > o.at : seq > o.seq;
    }
  };

  Config NodeConfig(uint64_t id) const;
  void Send(raftpb::Message m);
  void DeliverDue();
  void Deliver(raftpb::Message m);
  void Fail(const std::string& why);
  void CheckEntryIdentity(uint64_t id, const raftpb::Entry& e);
  void CheckCommitted(uint64_t id, uint64_t index, uint64_t term, const std::string& data);
  void CheckLeaders();
  void CheckCommitProgress(uint64_t id);
  void Apply(uint64_t id, const raftpb::Entry& e);
  void InstallSnapshot(uint64_t id, const raftpb::Snapshot& s);

  ClusterOptions opts_;
  std::mt19937_64 rng_;
  std::vector<uint64_t> ids_;
  std::map<uint64_t, NodeState> nodes_;
  std::set<std::pair<uint64_t, uint64_t>> blocked_;
  std::priority_queue<InFlightMsg, std::vector<InFlightMsg>, std::greater<>> net_;
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  std::string failure_;

  // Global ledgers.
  std::map<uint64_t, uint64_t> leader_of_term_;
  struct Identity {
    uint64_t prev_term;
    raftpb::EntryType type;
    std::string data;
  };
  std::map<std::pair<uint64_t, uint64_t>, Identity> identities_;  // (index, term)
  struct Committed {
    uint64_t term;
    std::string data;
  };
  std::map<uint64_t, Committed> ledger_;  // index -> committed entry
  std::set<std::string> committed_values_;
  std::map<std::string, uint64_t> reads_pending_;  // ctx -> min acceptable index
  std::map<std::string, uint64_t> reads_done_;
};

}  // namespace raft::testing

#endif  // KETCD_TESTS_RAFT_CLUSTER_H_
