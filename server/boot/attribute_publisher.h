// AttributePublisher: announces this member's name and URLs through the
// replicated log once a leader can take the proposal, retrying every half
// second until it is applied or the member stops -- as etcd publishes its
// member attributes after it starts. Owns one thread; Stop() joins it.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/replication/proposer.h"
#include "serverpb/internal.pb.h"

namespace server {

class AttributePublisher {
 public:
  // `proposer` must outlive Stop().
  AttributePublisher(Proposer* proposer, serverpb::MemberAttributes attrs);
  ~AttributePublisher() { Stop(); }
  void Stop();

 private:
  void Run();

  Proposer* proposer_;
  const serverpb::MemberAttributes attrs_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace server
