#include "server/edge/quota_gate.h"

#include <memory>
#include <utility>

#include "base/errors.h"
#include "server/edge/grpc_errors.h"
#include "server/state/errors.h"

namespace server {

serverpb::InternalRequest NoSpaceAlarmRequest(uint64_t member_id) {
  serverpb::InternalRequest ir;
  auto* a = ir.mutable_alarm();
  a->set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  a->set_memberid(member_id);
  a->set_alarm(etcdserverpb::NOSPACE);
  return ir;
}

void NoSpaceRaise::Raise(Proposer* proposer) {
  if (proposer == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (raising_) return;
    raising_ = true;
  }
  if (logger_ != nullptr) {
    logger_->Warn("message exceeded backend quota; raising alarm", {{"quota-size-bytes", quota_bytes_}});
  }
  // Proposed without the lock: `done` may run at once (stopped, no leader).
  proposer->Propose(NoSpaceAlarmRequest(member_id_), [this](ProposeResult) { Done(); });
}

void NoSpaceRaise::Done() {
  std::vector<std::function<void()>> after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    raising_ = false;
    after.swap(after_);
  }
  for (auto& then : after) then();
}

void NoSpaceRaise::AfterRaise(std::function<void()> then) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (raising_) {
      after_.push_back(std::move(then));
      return;
    }
  }
  then();
}

bool QuotaGate::Admit(int64_t cost, grpc::ServerUnaryReactor* reactor) {
  if (quota_ == nullptr || quota_->Available(cost)) return true;
  // The alarm's own outcome is not the caller's answer: the request was
  // refused for want of space either way.
  proposer_->Propose(NoSpaceAlarmRequest(member_id_),
                     [reactor](ProposeResult) { reactor->Finish(ToGrpcStatus(NoSpaceError())); });
  return false;
}

ProposeDone QuotaGate::DeferNoSpace(ProposeDone done) const {
  if (raise_ == nullptr) return done;
  return [raise = raise_, done = std::move(done)](ProposeResult r) mutable {
    if (r.ok() || !base::IsError(r.status(), base::ErrorKind::kNoSpace)) return done(std::move(r));
    // The raise this write's apply started is in flight, or done already.
    auto shared = std::make_shared<std::pair<ProposeDone, ProposeResult>>(std::move(done), std::move(r));
    raise->AfterRaise([shared] { shared->first(std::move(shared->second)); });
  };
}

std::function<ProposeDone(ProposeDone)> QuotaGate::Filter(const QuotaGate* gate) {
  if (gate == nullptr) return {};
  return [gate](ProposeDone done) { return gate->DeferNoSpace(std::move(done)); };
}

}  // namespace server
