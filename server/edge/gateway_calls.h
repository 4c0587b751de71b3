// The gateway's calls: one HTTP request becomes one call on the member's
// in-process gRPC channel (SelfClient's), to the same services a gRPC
// client reaches, with the request's token as `token` metadata. The HTTP
// connection's thread waits for the call, and cancels it when the HTTP
// client goes away. A unary call is answered whole; a streaming one (watch,
// keep-alive, snapshot, observe) in chunks, one `{"result":..}` line per
// response as grpc-gateway writes them, flushed as each arrives.
// Thread-safety: each function serves one request on the calling thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "server/net/http_server.h"

namespace server {

struct GatewayCall {
  std::shared_ptr<grpc::Channel> channel;
  std::string method;  // "/etcdserverpb.KV/Range"
  const google::protobuf::Message* response_prototype = nullptr;
  std::string token;  // the Authorization header, empty: none
};

void ServeUnaryCall(const GatewayCall& call, std::unique_ptr<google::protobuf::Message> request,
                    ResponseWriter& w);

// Sends `requests` in order and then half-closes; writes every response.
void ServeStreamingCall(const GatewayCall& call,
                        std::vector<std::unique_ptr<google::protobuf::Message>> requests, ResponseWriter& w);

}  // namespace server
