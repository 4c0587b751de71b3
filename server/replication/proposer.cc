#include "server/replication/proposer.h"

#include <future>
#include <memory>

#include "server/state/errors.h"

namespace server {

ProposeResult Proposer::ProposeAndWait(serverpb::InternalRequest req, absl::Duration timeout) {
  auto promise = std::make_shared<std::promise<ProposeResult>>();
  auto future = promise->get_future();
  Propose(std::move(req), [promise](ProposeResult r) { promise->set_value(std::move(r)); });
  if (future.wait_for(absl::ToChronoMilliseconds(timeout)) != std::future_status::ready) {
    // The request may still apply later; like etcd we only stop waiting.
    return TimeoutError();
  }
  return future.get();
}

}  // namespace server
