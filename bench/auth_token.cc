#include "bench/auth_token.h"

#include <chrono>
#include <thread>

#include "etcdserverpb/rpc.grpc.pb.h"

namespace ketcd::bench {
namespace {

namespace ex = grpc::experimental;

class AddToken final : public ex::Interceptor {
 public:
  explicit AddToken(TokenSlot slot) : slot_(std::move(slot)) {}
  void Intercept(ex::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(ex::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA) &&
        !slot_->empty()) {
      methods->GetSendInitialMetadata()->insert({"token", *slot_});
    }
    methods->Proceed();
  }

 private:
  TokenSlot slot_;
};

class AddTokenFactory final : public ex::ClientInterceptorFactoryInterface {
 public:
  explicit AddTokenFactory(TokenSlot slot) : slot_(std::move(slot)) {}
  ex::Interceptor* CreateClientInterceptor(ex::ClientRpcInfo*) override { return new AddToken(slot_); }

 private:
  TokenSlot slot_;
};

}  // namespace

std::unique_ptr<ex::ClientInterceptorFactoryInterface> TokenInterceptor(TokenSlot slot) {
  return std::make_unique<AddTokenFactory>(std::move(slot));
}

bool SplitUser(const std::string& user, std::string* name, std::string* password) {
  const size_t colon = user.find(':');
  if (colon == std::string::npos) return false;
  *name = user.substr(0, colon);
  *password = user.substr(colon + 1);
  return true;
}

bool AuthenticateAll(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                     const std::vector<TokenSlot>& slots, const std::string& name,
                     const std::string& password, std::string* error) {
  for (size_t i = 0; i < channels.size(); ++i) {
    etcdserverpb::AuthenticateRequest req;
    req.set_name(name);
    req.set_password(password);
    etcdserverpb::AuthenticateResponse resp;
    grpc::Status s;
    // "too many requests" (a member's Authenticate limit) is retried.
    for (int attempt = 0; attempt < 50; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      s = etcdserverpb::Auth::NewStub(channels[i])->Authenticate(&ctx, req, &resp);
      if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!s.ok()) {
      *error = s.error_message();
      return false;
    }
    *slots[i] = resp.token();
  }
  return true;
}

}  // namespace ketcd::bench
