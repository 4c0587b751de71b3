// SingleMemberLog: the Proposer of a one-member cluster, with group commit.
//
// One loop thread drains every pending proposal into ONE storage::WriteBatch:
// each proposal becomes the next log index and is applied in order, and the
// batch (effects + applied index) is written with one fdatasync before any
// of its proposals is answered. Proposals that arrive during that sync form
// the next batch, so N concurrent writers share one fdatasync. The applied
// index stored with the effects makes the store its own log: an entry is
// durable exactly when it is applied, and nothing needs replay on restart.
// A failed write to the store aborts the process (the write may or may not
// be on disk, so no answer would be honest).
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "server/applier.h"
#include "server/proposer.h"
#include "storage/mvcc_store.h"

namespace server {

class SingleMemberLog : public Proposer {
 public:
  // `store` and `applier` must outlive this object. `on_applied` (optional)
  // runs on the loop thread after each durable batch.
  SingleMemberLog(storage::MvccStore* store, const Applier* applier);
  ~SingleMemberLog() override;

  void Start();
  // Fails pending proposals with "server stopped" and joins the loop.
  void Stop();

  void Propose(serverpb::InternalRequest req, ProposeDone done) override;
  uint64_t Term() const override { return 1; }

  // Batches committed so far (each one fdatasync); for tests and stats.
  uint64_t BatchesCommitted() const;

 private:
  struct Pending {
    serverpb::InternalRequest req;
    ProposeDone done;
  };
  void Loop();

  storage::MvccStore* store_;
  const Applier* applier_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;  // guarded by mu_
  bool stopping_ = false;        // guarded by mu_
  uint64_t batches_ = 0;         // guarded by mu_
  std::thread loop_;
};

}  // namespace server
