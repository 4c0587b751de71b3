// LocalMember: a lone raft member (one voter, no peers) over a real WAL in its
// own temp dir, driving a given store through the production RaftMember.
// Start() returns once the member leads and has applied its own term's first
// entry, so tests can count log indexes from base_index().
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "base/logger.h"
#include "server/net/transport_security.h"
#include "server/state/applier.h"
#include "server/peer/peer_directory.h"
#include "server/peer/peer_transport.h"
#include "server/replication/raft_log.h"
#include "server/replication/raft_member.h"
#include "storage/mvcc_store.h"
#include "tests/common/temp_dir.h"

namespace ketcd_test {

// The raft log options of a lone member 1 of cluster 7 with its WAL in `wal_dir`.
inline server::RaftLogOptions LoneRaftLogOptions(const std::string& wal_dir) {
  server::RaftLogOptions lo;
  lo.wal_dir = wal_dir;
  lo.cluster_id = 7;
  lo.member_id = 1;
  serverpb::MemberAttributes self;
  self.set_member_id(1);
  self.set_name("local");
  self.add_peer_urls("http://127.0.0.1:1");
  lo.initial_members = {self};
  lo.election_tick = 5;
  lo.random_seed = 1;
  lo.wal_segment_bytes = 1 << 20;
  return lo;
}

class LocalMember {
 public:
  LocalMember(storage::MvccStore* store, const server::Applier* applier) : store_(store) {
    server::RaftLogOptions lo = LoneRaftLogOptions(dir_.Sub("wal"));
    auto log = server::OpenRaftLog(lo, *store);
    REQUIRE(log.ok());
    log_ = std::move(*log);
    auto security = server::TransportSecurity::Create(server::SecurityConfig{});
    REQUIRE(security.ok());
    security_ = std::move(*security);
    peers_ = std::make_unique<server::PeerDirectory>(security_.get());
    server::PeerTransport::Options topts{7, 1, 16};
    topts.directory = peers_.get();
    topts.clock = &clock_;
    topts.logger = &logger_;
    transport_ = std::make_unique<server::PeerTransport>(
        topts, [](std::vector<raftpb::Message>) {}, [](uint64_t) {});
    server::RaftMemberOptions opts;
    opts.id = 1;
    opts.tick = absl::Milliseconds(5);
    opts.clock = &clock_;
    opts.logger = &logger_;
    member_ = std::make_unique<server::RaftMember>(opts, std::move(log_.node), log_.cache.get(),
                                                   log_.persistence.get(), store, applier,
                                                   transport_.get());
  }
  ~LocalMember() { Stop(); }

  void Start() {
    member_->Start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      auto st = member_->Status();
      if (st.leader == 1 && st.commit_index > 0 && store_->AppliedIndex() == st.commit_index) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    REQUIRE(member_->Status().leader == 1);
    // A read barrier is answered only once the leader has committed (and
    // this member applied) the first entry of its term.
    std::promise<absl::Status> barrier;
    member_->ReadBarrier([&](absl::Status s) { barrier.set_value(s); });
    REQUIRE(barrier.get_future().get().ok());
    base_index_ = store_->AppliedIndex();
  }
  void Stop() {
    if (member_) member_->Stop();
  }
  server::ProposeResult ProposeAndWait(serverpb::InternalRequest req, absl::Duration timeout) {
    return member_->ProposeAndWait(std::move(req), timeout);
  }
  // Durable log writes (fdatasyncs) so far.
  uint64_t BatchesCommitted() const { return member_->LogWrites(); }
  // The store's applied index once the member led: log indexes of the
  // test's own proposals start right after it.
  uint64_t base_index() const { return base_index_; }
  server::RaftMember& member() { return *member_; }

 private:
  TempDir dir_;
  base::RealClock clock_;
  base::Logger logger_{&clock_};
  storage::MvccStore* store_;
  server::RaftLog log_;
  std::unique_ptr<server::TransportSecurity> security_;
  std::unique_ptr<server::PeerDirectory> peers_;
  std::unique_ptr<server::PeerTransport> transport_;
  std::unique_ptr<server::RaftMember> member_;
  uint64_t base_index_ = 0;
};

}  // namespace ketcd_test
