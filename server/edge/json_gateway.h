// etcd's JSON gateway on the client ports, as etcd 3.4 serves it with
// grpc-gateway v1: `POST /v3/<path>` with a JSON request body for each call
// of etcd's API that rpc.proto (and v3lock/v3election) map to HTTP —
// /v3/kv/range|put|deleterange|txn|compaction, /v3/watch, /v3/lease/...
// (with the /v3/kv/lease/... aliases), /v3/cluster/member/..., /v3/maintenance/...,
// /v3/auth/..., /v3/lock, /v3/election/... — answered with the response in
// JSON (gateway_json.h). `/v3beta/...` is the same path (etcd 3.4 rewrites
// it); `/v3alpha/` is gone in 3.4 and gets Go's 404, as there.
//
// One code path: each request becomes a call on the member's in-process
// gRPC channel (SelfClient's) to the very services gRPC clients reach
// (gateway_calls.h); nothing here knows what a call means. The
// `Authorization` header is the call's auth token.
//
// With --client-cert-auth and auth enabled, a request over TLS whose
// verified client certificate has a common name is refused with 400 and
// etcd 3.4's text (embed/serve.go): the gateway would call as itself, not
// as that certificate's user, so etcd refuses rather than ignore the CN.
//
// What etcd's gateway answers beyond the calls: an unknown path under /v3/
// gets 404 "Not Found", another method than POST on a known one 405
// "Method Not Allowed" (both Go's http.Error text), OPTIONS 200 (CORS).
// Ownership: borrows `client`, which must be connected before the first
// request and outlive the routes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "server/net/http_server.h"

namespace server {

class SelfClient;

struct GatewayAccess {
  bool client_cert_auth = false;      // --client-cert-auth
  std::function<bool()> auth_enabled;  // null: never
};

void AddJsonGateway(HttpRoutes& routes, SelfClient* client, GatewayAccess access = {});

// The 400 etcd answers instead of serving a gateway request that carries a
// certificate's common name while auth is on (see above).
inline constexpr char kGatewayCommonNameRefusal[] =
    "CommonName of client sending a request against gateway will be ignored and not used as expected";

// The largest JSON body a client port reads with the gateway on, for a
// gRPC limit of `grpc_max_request_bytes` (--max-request-bytes plus etcd's
// 512 KiB slack): twice it, so that any request the gRPC server takes
// still fits as JSON (bytes grow by a third in base64; names and quoting
// add the rest). A larger body is refused before it is read whole.
size_t GatewayMaxBodyBytes(int64_t grpc_max_request_bytes);

// The answer to such a body: the refusal a client of etcd's gateway gets
// for a request over the gRPC limit (RESOURCE_EXHAUSTED, 429), naming the
// body's size and the gateway's limit.
HttpResponse GatewayBodyTooLarge(uint64_t body_bytes, size_t limit);

}  // namespace server
