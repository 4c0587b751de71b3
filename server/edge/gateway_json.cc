#include "server/edge/gateway_json.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "server/edge/json_scan.h"

namespace server {
namespace {

// What jsonpb says when the top-level value is not an object: it first
// reads the value into a Go map of the object's fields.
std::string NotAnObject(char first) {
  const char* kind = first == '[' ? "array" : first == '"' ? "string" : (first == 't' || first == 'f') ? "bool" : "number";
  return absl::StrCat("json: cannot unmarshal ", kind, " into Go value of type map[string]json.RawMessage");
}

absl::Status ParseValue(absl::string_view value, google::protobuf::Message* msg) {
  if (value == "null") return absl::OkStatus();
  if (value.front() != '{') return absl::InvalidArgumentError(NotAnObject(value.front()));
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;  // as jsonpb's decoder in the gateway
  const auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(value.data(), value.size()), msg, opts);
  if (!st.ok()) return absl::InvalidArgumentError(std::string(st.message()));
  return absl::OkStatus();
}

const char* StatusText(int http_status) {
  switch (http_status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 429: return "Too Many Requests";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
  }
}

}  // namespace

absl::Status ParseJsonRequest(absl::string_view body, google::protobuf::Message* msg) {
  size_t offset = 0;
  auto value = NextJsonValue(body, &offset);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();  // io.EOF: the empty message
  return ParseValue(**value, msg);
}

std::vector<std::unique_ptr<google::protobuf::Message>> ParseJsonRequests(
    absl::string_view body, const google::protobuf::Message& prototype, absl::Status* first_error) {
  std::vector<std::unique_ptr<google::protobuf::Message>> out;
  size_t offset = 0;
  for (;;) {
    auto value = NextJsonValue(body, &offset);
    absl::Status st = value.status();
    if (st.ok() && !value->has_value()) return out;
    std::unique_ptr<google::protobuf::Message> msg(prototype.New());
    if (st.ok()) st = ParseValue(**value, msg.get());
    if (!st.ok()) {
      if (out.empty()) *first_error = st;
      return out;
    }
    out.push_back(std::move(msg));
  }
}

std::string MessageJson(const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;  // grpc-gateway v1's OrigName
  std::string out;
  // Printing a message of a known type cannot fail; an empty object stands
  // in should it ever.
  if (!google::protobuf::util::MessageToJsonString(msg, &out, opts).ok()) out = "{}";
  return out;
}

std::string GoJsonString(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '<': case '>': case '&':
        absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        break;
      default:
        if (c < 0x20) {
          absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

int HttpStatusFromGrpcCode(int code) {
  switch (code) {
    case 0: return 200;   // OK
    case 1: return 408;   // CANCELLED
    case 2: return 500;   // UNKNOWN
    case 3: return 400;   // INVALID_ARGUMENT
    case 4: return 504;   // DEADLINE_EXCEEDED
    case 5: return 404;   // NOT_FOUND
    case 6: return 409;   // ALREADY_EXISTS
    case 7: return 403;   // PERMISSION_DENIED
    case 16: return 401;  // UNAUTHENTICATED
    case 8: return 429;   // RESOURCE_EXHAUSTED
    case 9: return 412;   // FAILED_PRECONDITION
    case 10: return 409;  // ABORTED
    case 11: return 400;  // OUT_OF_RANGE
    case 12: return 501;  // UNIMPLEMENTED
    case 13: return 500;  // INTERNAL
    case 14: return 503;  // UNAVAILABLE
    case 15: return 500;  // DATA_LOSS
    default: return 500;
  }
}

HttpResponse GatewayHead(int status) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.headers = {{"Access-Control-Allow-Headers", "accept, content-type, authorization"},
               {"Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE"},
               {"Access-Control-Allow-Origin", "*"}};
  return r;
}

HttpResponse GatewayError(int grpc_code, absl::string_view message) {
  HttpResponse r = GatewayHead(HttpStatusFromGrpcCode(grpc_code));
  const std::string m = GoJsonString(message);
  r.body = absl::StrCat(R"({"error":)", m, R"(,"message":)", m, R"(,"code":)", grpc_code, "}");
  return r;
}

std::string StreamErrorChunk(int grpc_code, absl::string_view message) {
  const int http = HttpStatusFromGrpcCode(grpc_code);
  // jsonpb leaves out the fields at their zero value.
  std::string inner;
  if (grpc_code != 0) absl::StrAppend(&inner, R"("grpc_code":)", grpc_code, ",");
  absl::StrAppend(&inner, R"("http_code":)", http, ",");
  if (!message.empty()) absl::StrAppend(&inner, R"("message":)", GoJsonString(message), ",");
  absl::StrAppend(&inner, R"("http_status":)", GoJsonString(StatusText(http)));
  return absl::StrCat(R"({"error":{)", inner, "}}");
}

}  // namespace server
