#include "server/edge/quota_gate.h"

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

bool QuotaGate::Admit(int64_t cost, grpc::ServerUnaryReactor* reactor) {
  if (quota_ == nullptr || quota_->Available(cost)) return true;
  // The alarm's own outcome is not the caller's answer: the request was
  // refused for want of space either way.
  proposer_->Propose(NoSpaceAlarmRequest(member_id_),
                     [reactor](ProposeResult) { reactor->Finish(ToGrpcStatus(NoSpaceError())); });
  return false;
}

}  // namespace server
