// The JSON side of etcd's gateway: protobuf messages to and from JSON as
// grpc-gateway v1's default marshaler (golang/protobuf jsonpb with
// OrigName) writes and reads them — the .proto field names (`create_revision`,
// `grantedTTL`), int64/uint64 as strings, bytes in base64, enums by name,
// fields at their default value left out, unknown fields ignored on input —
// and the answers grpc-gateway builds around them: `{"error":..,"message":..,
// "code":N}` for a failed call, `{"result":{..}}` and
// `{"error":{"grpc_code":..}}` chunks for a stream. The conversion itself is
// protobuf's util::JsonStringToMessage / MessageToJsonString.
// Thread-safety: pure functions.
#pragma once

#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "server/net/http_server.h"

namespace server {

// Reads the first JSON value of `body` into `msg` (empty body or `null`:
// the empty message), as the gateway's json.Decoder + jsonpb do. The error
// carries Go's message ("unexpected EOF", "invalid character ...").
[[nodiscard]] absl::Status ParseJsonRequest(absl::string_view body, google::protobuf::Message* msg);

// Every JSON value of `body`, one request each (a watch or keep-alive
// stream's body), up to the first that does not parse: `*first_error` is
// that one's error if it was the first value (else it stays OK: the gateway
// sends the good ones and ends the stream there).
std::vector<std::unique_ptr<google::protobuf::Message>> ParseJsonRequests(
    absl::string_view body, const google::protobuf::Message& prototype, absl::Status* first_error);

// `msg` as jsonpb with OrigName writes it.
std::string MessageJson(const google::protobuf::Message& msg);

// Go's json encoding of a string, quotes included ("<" as \u003c, as Go).
std::string GoJsonString(absl::string_view s);

// grpc-gateway's HTTPStatusFromCode.
int HttpStatusFromGrpcCode(int code);

// The status, Content-Type and headers of every gateway answer (etcd adds
// its CORS headers to each, with the default --cors).
HttpResponse GatewayHead(int status);

// A failed call's whole answer: the code's HTTP status and
// {"error":m,"message":m,"code":c}.
HttpResponse GatewayError(int grpc_code, absl::string_view message);

// A stream's error chunk: {"error":{"grpc_code":..,"http_code":..,
// "message":..,"http_status":..}}.
std::string StreamErrorChunk(int grpc_code, absl::string_view message);

}  // namespace server
