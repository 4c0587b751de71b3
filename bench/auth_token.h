// --user for ketcd-bench, as etcd's benchmark does it: each connection
// authenticates once (Auth.Authenticate) and sends the token it got with
// every request on that connection, in the "token" metadata etcd reads.
// A client interceptor adds it, so the workloads need no change.
//
// Contract: `Dial` (driver.h) installs TokenInterceptors over the slots;
// `AuthenticateAll` fills the slots before any request is sent (an empty
// slot sends no token). Thread-safety: a slot is written only before the
// workloads start, then read from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "grpcpp/support/client_interceptor.h"

namespace ketcd::bench {

using TokenSlot = std::shared_ptr<std::string>;

// An interceptor factory adding *slot as "token" to every call.
std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> TokenInterceptor(TokenSlot slot);

// Splits "name:password" (the password may hold ':'); false without ':'.
bool SplitUser(const std::string& user, std::string* name, std::string* password);

// Authenticates on each channel, filling slots[i]; false with `*error`
// (the server's message) on the first refusal.
bool AuthenticateAll(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                     const std::vector<TokenSlot>& slots, const std::string& name,
                     const std::string& password, std::string* error);

}  // namespace ketcd::bench
