// Fuzz target: what a member does with bytes another member sends on the
// Peer.Stream call. The input is one serialized peerpb::MessageBatch (what
// gRPC decodes off the wire); it goes through the checks PeerService's
// message reader makes (cluster id), then, as the raft loop handles its
// inbox (server/replication/raft_loop.cc), each raft message is stepped
// into a raft node — with the forwarded membership change decoded first —
// and every Ready is handled as a member handles it: persisted into the log
// storage, the committed entries decoded (InternalRequest, or ConfChange
// and its member context, server/replication/raft_apply.cc).
// Two nodes take every batch, so that both sides of the protocol see it:
// member 1 of a fresh three-member cluster as a follower, and member 1
// after it won an election as the leader. Both are built per input (memory
// only), so an input's effect never depends on the ones before it.
//
// Property: no crash (raft's own checks included) and no sanitizer report.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "peerpb/peer.pb.h"
#include "raft/rawnode.h"
#include "raft/storage.h"
#include "serverpb/internal.pb.h"
#include "storage/wal_bootstrap.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// The cluster the seeds are addressed to (tests/fuzz/make_corpus.py).
constexpr uint64_t kClusterId = 0x1000;
constexpr size_t kMaxMessages = 64;

struct Node {
  raft::MemoryStorage storage;
  std::unique_ptr<raft::RawNode> raw;
};

// A member's Ready handling, without the network: what raft sends is
// returned to the caller instead.
std::vector<raftpb::Message> Drain(Node& n) {
  std::vector<raftpb::Message> sent;
  while (n.raw->HasReady()) {
    raft::Ready rd = n.raw->GetReady();
    if (rd.snapshot) (void)n.storage.ApplySnapshot(*rd.snapshot);
    if (!rd.entries.empty()) (void)n.storage.Append(rd.entries);
    if (rd.hard_state) n.storage.SetHardState(*rd.hard_state);
    for (const auto& e : rd.committed_entries) {
      if (e.type() == raftpb::ENTRY_CONF_CHANGE) {
        raftpb::ConfChange cc;
        if (cc.ParseFromString(e.data())) (void)storage::DecodeConfChangeContext(cc.node_id(), cc.context());
      } else if (!e.data().empty()) {
        // A member stops on an entry that does not decode (the log is
        // trusted once committed); here it is only decoded.
        serverpb::InternalRequest req;
        (void)req.ParseFromString(e.data());
      }
    }
    for (auto& m : rd.messages) sent.push_back(std::move(m));
    n.raw->Advance(rd);
  }
  return sent;
}

std::unique_ptr<Node> NewNode() {
  auto n = std::make_unique<Node>();
  raft::Bootstrap b = raft::BootstrapCluster({1, 2, 3});
  (void)n->storage.Append(b.entries);
  n->storage.SetHardState(b.hard_state);
  raft::Config c;  // a member's settings (server/replication/raft_log.cc)
  c.id = 1;
  c.storage = &n->storage;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.random_seed = 1;
  auto raw = raft::RawNode::Create(c);
  FUZZ_CHECK(raw.ok(), "harness: %s", raw.status().ToString().c_str());
  n->raw = std::move(*raw);
  (void)Drain(*n);
  return n;
}

// Member 1 campaigns; member 2 grants its pre-vote and its vote.
std::unique_ptr<Node> NewLeader() {
  std::unique_ptr<Node> n = NewNode();
  (void)n->raw->Campaign();
  for (int round = 0; round < 2; ++round) {
    for (const auto& m : Drain(*n)) {
      if (m.to() != 2 || (m.type() != raftpb::MSG_PRE_VOTE && m.type() != raftpb::MSG_VOTE)) continue;
      raftpb::Message resp;
      resp.set_type(m.type() == raftpb::MSG_VOTE ? raftpb::MSG_VOTE_RESP : raftpb::MSG_PRE_VOTE_RESP);
      resp.set_from(2);
      resp.set_to(1);
      resp.set_term(m.term());
      (void)n->raw->Step(std::move(resp));
    }
  }
  (void)Drain(*n);
  FUZZ_CHECK(n->raw->raft().state() == raft::StateType::kLeader, "harness: member 1 did not win");
  return n;
}

// RaftMember::HandleInbox for one message, then its Ready and a tick.
void Deliver(Node& n, raftpb::Message m) {
  if (m.type() == raftpb::MSG_PROP && m.entries_size() == 1 &&
      m.entries(0).type() == raftpb::ENTRY_CONF_CHANGE) {
    raftpb::ConfChange forwarded;
    (void)forwarded.ParseFromString(m.entries(0).data());
  }
  (void)n.raw->Step(std::move(m));
  (void)Drain(n);
  n.raw->Tick();
  (void)Drain(n);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  peerpb::MessageBatch batch;
  if (!batch.ParseFromArray(data, static_cast<int>(size))) return 0;  // gRPC drops the call
  if (batch.cluster_id() != kClusterId) return 0;                     // refused: another cluster
  std::unique_ptr<Node> follower = NewNode();
  std::unique_ptr<Node> leader = NewLeader();
  // A bound on the work per input (the harness's, not a member's).
  const int n = std::min(batch.messages_size(), static_cast<int>(kMaxMessages));
  for (int i = 0; i < n; ++i) {
    Deliver(*follower, batch.messages(i));
    Deliver(*leader, batch.messages(i));
  }
  for (const Node* node : {follower.get(), leader.get()}) {
    const raft::Status st = node->raw->GetStatus();
    FUZZ_NOTE("%d messages: %s, term %llu, lead %llu, commit %llu", n, raft::StateName(st.soft_state.state),
              static_cast<unsigned long long>(st.hard_state.term()),
              static_cast<unsigned long long>(st.soft_state.lead),
              static_cast<unsigned long long>(st.hard_state.commit()));
  }
  return 0;
}
