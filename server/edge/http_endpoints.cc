#include "server/edge/http_endpoints.h"

#include <chrono>
#include <future>
#include <memory>

#include "absl/strings/str_cat.h"
#include "server/edge/versions.h"

namespace server {
namespace {

// etcd gives the health check's read one second.
constexpr auto kHealthReadTimeout = std::chrono::seconds(1);

HttpResponse MethodNotAllowed() {
  HttpResponse r = HttpError(405, "Method Not Allowed");
  r.headers.emplace_back("Allow", "GET");
  return r;
}

HttpResponse Health(bool ok, const std::string& reason) {
  // Go's json.Marshal of etcd's Health struct; a reason never holds
  // characters JSON would escape except quotes and backslashes.
  std::string escaped;
  for (char c : reason) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  const std::string body =
      absl::StrCat(R"({"health":")", ok ? "true" : "false", R"(","reason":")", escaped, R"("})");
  if (!ok) return HttpError(503, body);
  HttpResponse r;
  r.body = body;
  return r;
}

// Waits at most kHealthReadTimeout for a read barrier; the barrier's
// callback may run later and must not touch this frame.
absl::Status LinearizableRead(Proposer& proposer) {
  auto done = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> result = done->get_future();
  proposer.ReadBarrier([done](absl::Status s) { done->set_value(std::move(s)); });
  if (result.wait_for(kHealthReadTimeout) != std::future_status::ready) {
    return absl::DeadlineExceededError("context deadline exceeded");
  }
  return result.get();
}

}  // namespace

HttpResponse CheckHealth(Proposer& proposer, const HttpRequest& req) {
  if (req.method != "GET") return MethodNotAllowed();
  if (proposer.Status().leader == 0) return Health(false, "RAFT NO LEADER");
  const auto serializable = req.QueryValues("serializable");
  if (!serializable.empty() && serializable.front() == "true") return Health(true, "");
  if (absl::Status s = LinearizableRead(proposer); !s.ok()) {
    return Health(false, absl::StrCat("RANGE ERROR:", s.message()));
  }
  return Health(true, "");
}

void AddEtcdHttpEndpoints(HttpRoutes& routes, Proposer* proposer) {
  routes.Add("/version", [](const HttpRequest& req) {
    if (req.method != "GET") return MethodNotAllowed();
    HttpResponse r;
    r.content_type = "application/json";
    r.body = absl::StrCat(R"({"etcdserver":")", kEtcdServerVersion, R"(","etcdcluster":")",
                          kEtcdClusterVersion, R"("})");
    return r;
  });
  routes.Add("/health", [proposer](const HttpRequest& req) { return CheckHealth(*proposer, req); });
}

}  // namespace server
