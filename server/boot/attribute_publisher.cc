#include "server/boot/attribute_publisher.h"

#include <chrono>

namespace server {

AttributePublisher::AttributePublisher(Proposer* proposer, serverpb::MemberAttributes attrs)
    : proposer_(proposer), attrs_(std::move(attrs)) {
  thread_ = std::thread([this] { Run(); });
}

void AttributePublisher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AttributePublisher::Run() {
  while (true) {
    serverpb::InternalRequest req;
    *req.mutable_member_attributes() = attrs_;
    auto r = proposer_->ProposeAndWait(req, absl::Seconds(5));
    std::unique_lock<std::mutex> lock(mu_);
    if (r.ok() || stopped_) return;
    cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopped_; });
    if (stopped_) return;
  }
}

}  // namespace server
