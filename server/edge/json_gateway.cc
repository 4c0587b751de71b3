#include "server/edge/json_gateway.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "server/edge/gateway_calls.h"
#include "server/edge/gateway_json.h"
#include "server/edge/self_client.h"
#include "v3electionpb/v3election.pb.h"
#include "v3lockpb/v3lock.pb.h"

namespace server {
namespace {

// The google.api.http paths of etcd 3.4's rpc.proto, v3lock.proto and
// v3election.proto (all `post`, body "*"), below /v3/, and the method each
// one calls. Where two methods share a path (Hash and HashKV), the one
// etcd's gateway answers with is listed.
struct Route {
  const char* path;
  const char* method;  // the full protobuf name of the service method
};
constexpr Route kRoutes[] = {
    {"kv/range", "etcdserverpb.KV.Range"},
    {"kv/put", "etcdserverpb.KV.Put"},
    {"kv/deleterange", "etcdserverpb.KV.DeleteRange"},
    {"kv/txn", "etcdserverpb.KV.Txn"},
    {"kv/compaction", "etcdserverpb.KV.Compact"},
    {"watch", "etcdserverpb.Watch.Watch"},
    {"lease/grant", "etcdserverpb.Lease.LeaseGrant"},
    {"lease/revoke", "etcdserverpb.Lease.LeaseRevoke"},
    {"kv/lease/revoke", "etcdserverpb.Lease.LeaseRevoke"},
    {"lease/keepalive", "etcdserverpb.Lease.LeaseKeepAlive"},
    {"lease/timetolive", "etcdserverpb.Lease.LeaseTimeToLive"},
    {"kv/lease/timetolive", "etcdserverpb.Lease.LeaseTimeToLive"},
    {"lease/leases", "etcdserverpb.Lease.LeaseLeases"},
    {"kv/lease/leases", "etcdserverpb.Lease.LeaseLeases"},
    {"cluster/member/add", "etcdserverpb.Cluster.MemberAdd"},
    {"cluster/member/remove", "etcdserverpb.Cluster.MemberRemove"},
    {"cluster/member/update", "etcdserverpb.Cluster.MemberUpdate"},
    {"cluster/member/list", "etcdserverpb.Cluster.MemberList"},
    {"cluster/member/promote", "etcdserverpb.Cluster.MemberPromote"},
    {"maintenance/alarm", "etcdserverpb.Maintenance.Alarm"},
    {"maintenance/status", "etcdserverpb.Maintenance.Status"},
    {"maintenance/defragment", "etcdserverpb.Maintenance.Defragment"},
    {"maintenance/hash", "etcdserverpb.Maintenance.Hash"},
    {"maintenance/snapshot", "etcdserverpb.Maintenance.Snapshot"},
    {"maintenance/transfer-leadership", "etcdserverpb.Maintenance.MoveLeader"},
    {"auth/enable", "etcdserverpb.Auth.AuthEnable"},
    {"auth/disable", "etcdserverpb.Auth.AuthDisable"},
    {"auth/authenticate", "etcdserverpb.Auth.Authenticate"},
    {"auth/user/add", "etcdserverpb.Auth.UserAdd"},
    {"auth/user/get", "etcdserverpb.Auth.UserGet"},
    {"auth/user/list", "etcdserverpb.Auth.UserList"},
    {"auth/user/delete", "etcdserverpb.Auth.UserDelete"},
    {"auth/user/changepw", "etcdserverpb.Auth.UserChangePassword"},
    {"auth/user/grant", "etcdserverpb.Auth.UserGrantRole"},
    {"auth/user/revoke", "etcdserverpb.Auth.UserRevokeRole"},
    {"auth/role/add", "etcdserverpb.Auth.RoleAdd"},
    {"auth/role/get", "etcdserverpb.Auth.RoleGet"},
    {"auth/role/list", "etcdserverpb.Auth.RoleList"},
    {"auth/role/delete", "etcdserverpb.Auth.RoleDelete"},
    {"auth/role/grant", "etcdserverpb.Auth.RoleGrantPermission"},
    {"auth/role/revoke", "etcdserverpb.Auth.RoleRevokePermission"},
    {"lock", "v3lockpb.Lock.Lock"},
    {"lock/unlock", "v3lockpb.Lock.Unlock"},
    {"election/campaign", "v3electionpb.Election.Campaign"},
    {"election/proclaim", "v3electionpb.Election.Proclaim"},
    {"election/leader", "v3electionpb.Election.Leader"},
    {"election/observe", "v3electionpb.Election.Observe"},
    {"election/resign", "v3electionpb.Election.Resign"},
};

struct Endpoint {
  std::string grpc_method;  // "/etcdserverpb.KV/Range"
  const google::protobuf::Message* request = nullptr;
  const google::protobuf::Message* response = nullptr;
  bool client_streaming = false;
  bool server_streaming = false;
};

using Table = std::map<std::string, Endpoint, std::less<>>;

const google::protobuf::Message* Prototype(const google::protobuf::Descriptor* d) {
  return google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
}

// Every route's method from the compiled-in descriptors; a route naming a
// method ketcd's protos lack stops the member.
std::shared_ptr<const Table> BuildTable() {
  // Linked in for their descriptors.
  (void)etcdserverpb::RangeRequest::descriptor();
  (void)v3lockpb::LockRequest::descriptor();
  (void)v3electionpb::CampaignRequest::descriptor();
  auto table = std::make_shared<Table>();
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const Route& r : kRoutes) {
    const google::protobuf::MethodDescriptor* m = pool->FindMethodByName(r.method);
    // A route naming a method the protos lack is a build mistake (the unit
    // test builds this table): stop at start rather than serve 404s.
    if (m == nullptr) std::abort();
    Endpoint e;
    e.grpc_method = absl::StrCat("/", m->service()->full_name(), "/", m->name());
    e.request = Prototype(m->input_type());
    e.response = Prototype(m->output_type());
    e.client_streaming = m->client_streaming();
    e.server_streaming = m->server_streaming();
    (*table)[r.path] = std::move(e);
  }
  return table;
}

// Go's http.Error, with the CORS headers etcd adds to every answer.
HttpResponse PlainError(int status, std::string text) {
  HttpResponse r = HttpError(status, std::move(text));
  HttpResponse head = GatewayHead(status);
  r.headers.insert(r.headers.begin(), head.headers.begin(), head.headers.end());
  return r;
}

std::string Header(const HttpRequest& req, absl::string_view name) {
  for (const auto& [k, v] : req.headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

void Serve(const Table& table, SelfClient* client, const GatewayAccess& access, absl::string_view prefix,
           const HttpRequest& req, ResponseWriter& w) {
  // Before CORS and routing, as etcd's access controller: every path below
  // /v3/ (and /v3beta/, which etcd rewrites to it), known or not.
  if (req.tls && access.client_cert_auth && !req.verified_client_cn.empty() && access.auth_enabled &&
      access.auth_enabled()) {
    return w.Send(HttpError(400, kGatewayCommonNameRefusal));
  }
  if (req.method == "OPTIONS") {  // a CORS preflight
    HttpResponse r = GatewayHead(200);
    r.content_type.clear();
    return w.Send(std::move(r));
  }
  auto it = table.find(absl::string_view(req.path).substr(prefix.size()));
  if (it == table.end()) return w.Send(PlainError(404, "Not Found"));
  if (req.method != "POST") return w.Send(PlainError(405, "Method Not Allowed"));
  const Endpoint& e = it->second;
  GatewayCall call{client->channel(), e.grpc_method, e.response, Header(req, "Authorization")};
  if (!call.channel) return w.Send(GatewayError(14, "the member's own client is not connected yet"));
  if (e.client_streaming) {
    // A decoding error of the first request is a plain Go error to the
    // gateway: UNKNOWN.
    absl::Status first_error;
    auto requests = ParseJsonRequests(req.body, *e.request, &first_error);
    if (!first_error.ok()) return w.Send(GatewayError(2, first_error.message()));
    return ServeStreamingCall(call, std::move(requests), w);
  }
  std::unique_ptr<google::protobuf::Message> request(e.request->New());
  if (absl::Status s = ParseJsonRequest(req.body, request.get()); !s.ok()) {
    return w.Send(GatewayError(3, s.message()));  // INVALID_ARGUMENT
  }
  if (e.server_streaming) {
    std::vector<std::unique_ptr<google::protobuf::Message>> one;
    one.push_back(std::move(request));
    return ServeStreamingCall(call, std::move(one), w);
  }
  ServeUnaryCall(call, std::move(request), w);
}

}  // namespace

void AddJsonGateway(HttpRoutes& routes, SelfClient* client, GatewayAccess access) {
  std::shared_ptr<const Table> table = BuildTable();
  for (std::string prefix : {"/v3/", "/v3beta/"}) {
    routes.AddSubtree(prefix, [table, client, access, prefix](const HttpRequest& req, ResponseWriter& w) {
      Serve(*table, client, access, prefix, req, w);
    });
  }
}

size_t GatewayMaxBodyBytes(int64_t grpc_max_request_bytes) {
  return static_cast<size_t>(2 * std::max<int64_t>(grpc_max_request_bytes, 0));
}

HttpResponse GatewayBodyTooLarge(uint64_t body_bytes, size_t limit) {
  return GatewayError(8, absl::StrCat("grpc: received message larger than max (", body_bytes, " vs. ", limit, ")"));
}

}  // namespace server
