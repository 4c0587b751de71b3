#include "server/edge/member_changes.h"

#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"
#include "grpcpp/grpcpp.h"
#include "peerpb/peer.grpc.pb.h"
#include "server/peer/wire_errors.h"
#include "server/state/errors.h"
#include "storage/identity.h"
#include "storage/wal_bootstrap.h"

namespace server {

bool MemberChanges::ConnectedFullySince(absl::Time since, const std::vector<uint64_t>& voters) const {
  for (uint64_t id : voters) {
    if (id == opts_.self_id) continue;
    auto t = health_->ActiveSince(id);
    if (!t || *t > since) return false;
  }
  return true;
}

size_t MemberChanges::NumConnectedSince(absl::Time since, const std::vector<uint64_t>& voters) const {
  size_t n = 0;
  for (uint64_t id : voters) {
    if (id == opts_.self_id) {
      ++n;
      continue;
    }
    auto t = health_->ActiveSince(id);
    if (t && *t <= since) ++n;
  }
  return n;
}

void MemberChanges::Propose(raftpb::ConfChangeType type, const serverpb::MemberAttributes& m, Done done) {
  raftpb::ConfChange cc;
  cc.set_type(type);
  cc.set_node_id(m.member_id());
  cc.set_context(storage::EncodeConfChangeContext(m));
  proposer_->ProposeConfChange(std::move(cc), [done = std::move(done)](absl::Status s) {
    // Raft refused the change (another one is pending, or the leader has
    // not committed in its term yet): etcd's leader drops such a proposal
    // and the client times out; ketcd answers at once with the same error.
    if (raft::IsConfChangeRejected(s)) return done(TimeoutError());
    done(std::move(s));
  });
}

void MemberChanges::Add(const std::vector<std::string>& peer_urls, bool is_learner, AddDone done) {
  serverpb::MemberAttributes m;
  // etcd's NewMember with an empty cluster name and the current time.
  const int64_t now_unix = absl::ToUnixSeconds(clock_->Now());
  m.set_member_id(storage::ComputeMemberId(peer_urls, absl::StrCat(now_unix)));
  for (const auto& u : peer_urls) m.add_peer_urls(u);
  m.set_is_learner(is_learner);
  const Membership current = LoadMembership(*store_);
  if (opts_.strict_reconfig_check) {
    if (!is_learner) {
      if (auto s = CheckStartedForAddVoter(current); !s.ok()) return done(s);
    }
    if (!ConnectedFullySince(clock_->Now() - opts_.health_interval, current.Voters())) {
      return done(UnhealthyError());
    }
  }
  if (auto s = CheckAddMember(current, m, opts_.max_learners); !s.ok()) return done(s);
  Propose(is_learner ? raftpb::CONF_CHANGE_ADD_LEARNER_NODE : raftpb::CONF_CHANGE_ADD_NODE, m,
          [m, done = std::move(done)](absl::Status s) {
            if (!s.ok()) return done(s);
            done(m);
          });
}

void MemberChanges::Remove(uint64_t id, Done done) {
  const Membership current = LoadMembership(*store_);
  if (auto s = CheckRemoveMember(current, id); !s.ok()) return done(s);
  if (opts_.strict_reconfig_check && !current.IsLearner(id)) {
    if (auto s = CheckStartedForRemoveVoter(current, id); !s.ok()) return done(s);
    // An unreachable member is not part of the active quorum: it may go.
    const bool reachable = id == opts_.self_id || health_->ActiveSince(id).has_value();
    if (reachable) {
      const std::vector<uint64_t> voters = current.Voters();
      const size_t active = NumConnectedSince(clock_->Now() - opts_.health_interval, voters);
      if (active < 1 + 1 + (voters.size() - 1) / 2) return done(UnhealthyError());
    }
  }
  serverpb::MemberAttributes m;
  m.set_member_id(id);
  Propose(raftpb::CONF_CHANGE_REMOVE_NODE, m, std::move(done));
}

void MemberChanges::Update(uint64_t id, const std::vector<std::string>& peer_urls, Done done) {
  const Membership current = LoadMembership(*store_);
  if (auto s = CheckUpdateMember(current, id, peer_urls); !s.ok()) return done(s);
  serverpb::MemberAttributes m;
  m.set_member_id(id);
  for (const auto& u : peer_urls) m.add_peer_urls(u);
  Propose(raftpb::CONF_CHANGE_UPDATE_NODE, m, std::move(done));
}

void MemberChanges::Promote(uint64_t id, Done done) {
  PromoteOnLeader(id, [this, id, done = std::move(done)](absl::Status s) {
    if (base::IsError(s, base::ErrorKind::kNotLeader)) return ForwardPromote(id, done);
    done(std::move(s));
  });
}

void MemberChanges::PromoteOnLeader(uint64_t id, Done done) {
  proposer_->CheckLearnerReady(id, [this, id, done = std::move(done)](absl::Status ready) {
    if (!ready.ok()) return done(ready);
    const Membership current = LoadMembership(*store_);
    if (auto s = CheckPromoteMember(current, id); !s.ok()) return done(s);
    if (opts_.strict_reconfig_check) {
      if (auto s = CheckStartedForPromote(current); !s.ok()) return done(s);
    }
    serverpb::MemberAttributes m = current.members.at(id);
    m.set_is_learner(false);
    Propose(raftpb::CONF_CHANGE_ADD_NODE, m, done);
  });
}

void MemberChanges::ForwardPromote(uint64_t id, Done done) {
  const uint64_t leader = proposer_->Status().leader;
  if (leader == 0 || leader == opts_.self_id) return done(NoLeaderError());
  auto channel = peers_->Channel(leader);
  if (!channel.ok()) return done(NoLeaderError());
  struct Call {
    grpc::ClientContext ctx;
    peerpb::PromoteForward req;
    peerpb::PromoteAck ack;
    std::unique_ptr<peerpb::Peer::Stub> stub;
  };
  auto call = std::make_shared<Call>();
  call->ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(opts_.forward_timeout));
  call->req.set_cluster_id(opts_.cluster_id);
  call->req.set_member_id(id);
  call->stub = peerpb::Peer::NewStub(*channel);
  call->stub->async()->PromoteMember(&call->ctx, &call->req, &call->ack,
                                     [call, done = std::move(done)](grpc::Status s) {
                                       if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
                                         return done(TimeoutError());
                                       }
                                       done(FromPeerWire(s, call->ctx));
                                     });
}

}  // namespace server
