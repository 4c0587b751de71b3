#include "server/replication/counting_proposer.h"

#include <utility>

#include "base/errors.h"

namespace server {

void CountingProposer::Propose(serverpb::InternalRequest req, ProposeDone done) {
  pending_.fetch_add(1, std::memory_order_relaxed);
  inner_->Propose(std::move(req), [this, done = std::move(done)](ProposeResult r) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    if (!r.ok() && base::IsError(r.status(), base::ErrorKind::kTimeout)) {
      failed_.fetch_add(1, std::memory_order_relaxed);
    }
    done(std::move(r));
  });
}

}  // namespace server
