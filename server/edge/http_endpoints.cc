#include "server/edge/http_endpoints.h"

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/edge/versions.h"

namespace server {
namespace {

// etcd gives the health check's read one second; the readyz read gets the
// same bound, so that a probe is answered well within its own timeout.
constexpr auto kReadTimeout = std::chrono::seconds(1);

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

// Waits at most kReadTimeout for a read barrier; the barrier's callback
// may run later and must not touch this frame.
absl::Status LinearizableRead(Proposer& proposer) {
  auto done = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> result = done->get_future();
  proposer.ReadBarrier([done](absl::Status s) { done->set_value(std::move(s)); });
  if (result.wait_for(kReadTimeout) != std::future_status::ready) {
    return absl::DeadlineExceededError("context deadline exceeded");
  }
  return result.get();
}

// etcd's readCheck: a keys-only range of one key.
absl::Status LocalRead(const storage::MvccStore& store) {
  storage::RangeOptions opts;
  opts.limit = 1;
  return store.Read()->Range(storage::KeyRange::FromEtcd("", ""), opts).status();
}

struct Check {
  const char* name;
  absl::Status (*run)(const HealthSources&);
};

absl::Status SerializableRead(const HealthSources& s) { return LocalRead(*s.store); }
absl::Status LinearizableReadCheck(const HealthSources& s) {
  if (absl::Status b = LinearizableRead(*s.proposer); !b.ok()) return b;
  return LocalRead(*s.store);
}
absl::Status NonLearner(const HealthSources& s) {
  return s.proposer->Status().is_learner ? absl::FailedPreconditionError("not supported for learner")
                                         : absl::OkStatus();
}

// etcd's activeAlarmCheck for CORRUPT.
absl::Status DataCorruption(const HealthSources& s) {
  if (s.alarms == nullptr || !s.alarms->Active(etcdserverpb::CORRUPT)) return absl::OkStatus();
  return absl::DataLossError("alarm activated: CORRUPT");
}

// etcd 3.5's checkAlarms: the first active alarm not excluded by name.
std::optional<std::string> AlarmReason(const HealthSources& s, const HttpRequest& req) {
  if (s.alarms == nullptr) return std::nullopt;
  const auto excluded_list = req.QueryValues("exclude");
  const std::set<std::string> excluded(excluded_list.begin(), excluded_list.end());
  for (const auto& a : s.alarms->Get(etcdserverpb::NONE)) {
    const std::string name = etcdserverpb::AlarmType_Name(a.alarm());
    if (excluded.count(name) != 0) continue;
    switch (a.alarm()) {
      case etcdserverpb::NOSPACE: return std::string("ALARM NOSPACE");
      case etcdserverpb::CORRUPT: return std::string("ALARM CORRUPT");
      default: return std::string("ALARM UNKNOWN");
    }
  }
  return std::nullopt;
}

constexpr Check kLivez[] = {{"serializable_read", SerializableRead}};
constexpr Check kReadyz[] = {{"data_corruption", DataCorruption},
                             {"serializable_read", SerializableRead},
                             {"linearizable_read", LinearizableReadCheck},
                             {"non_learner", NonLearner}};

// Runs `checks` (less the excluded ones) as etcd's CheckRegistry does.
HttpResponse RunChecks(const HealthSources& s, const HttpRequest& req, const std::vector<Check>& checks) {
  if (req.method != "GET") return MethodNotAllowed();
  const auto excluded_list = req.QueryValues("exclude");
  const std::set<std::string> excluded(excluded_list.begin(), excluded_list.end());
  std::string report;
  bool ok = true;
  for (const Check& c : checks) {
    if (excluded.count(c.name) != 0) continue;
    if (absl::Status st = c.run(s); st.ok()) {
      absl::StrAppend(&report, "[+]", c.name, " ok\n");
    } else {
      ok = false;
      absl::StrAppend(&report, "[-]", c.name, " failed: ", st.message(), "\n");
    }
  }
  if (!ok) return HttpError(503, report);  // Go's http.Error adds a newline to the last line's
  HttpResponse r;
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  const bool verbose = !req.QueryValues("verbose").empty();  // ?verbose, ?verbose=1
  r.body = absl::StrCat(verbose ? report : "", "ok\n");
  return r;
}

template <size_t N>
void AddRegistry(HttpRoutes& routes, const std::string& root, const Check (&checks)[N], HealthSources s) {
  routes.Add(root, [s, all = std::vector<Check>(checks, checks + N)](const HttpRequest& req) {
    return RunChecks(s, req, all);
  });
  for (const Check& c : checks) {
    routes.Add(absl::StrCat(root, "/", c.name),
               [s, one = std::vector<Check>{c}](const HttpRequest& req) { return RunChecks(s, req, one); });
  }
}

}  // namespace

HttpResponse CheckHealth(const HealthSources& s, const HttpRequest& req) {
  if (req.method != "GET") return MethodNotAllowed();
  HttpResponse r = [&] {
    if (auto reason = AlarmReason(s, req)) return Health(false, *reason);
    if (s.proposer->Status().leader == 0) return Health(false, "RAFT NO LEADER");
    const auto serializable = req.QueryValues("serializable");
    if (!serializable.empty() && serializable.front() == "true") return Health(true, "");
    if (absl::Status st = LinearizableRead(*s.proposer); !st.ok()) {
      return Health(false, absl::StrCat("RANGE ERROR:", st.message()));
    }
    return Health(true, "");
  }();
  if (s.counters != nullptr) (r.status == 200 ? s.counters->success : s.counters->failures)++;
  return r;
}

void AddEtcdHealthEndpoints(HttpRoutes& routes, HealthSources sources) {
  routes.Add("/version", [](const HttpRequest& req) {
    if (req.method != "GET") return MethodNotAllowed();
    HttpResponse r;
    r.content_type = "application/json";
    r.body = absl::StrCat(R"({"etcdserver":")", kEtcdServerVersion, R"(","etcdcluster":")",
                          kEtcdClusterVersion, R"("})");
    return r;
  });
  routes.Add("/health", [sources](const HttpRequest& req) { return CheckHealth(sources, req); });
  AddRegistry(routes, "/livez", kLivez, sources);
  AddRegistry(routes, "/readyz", kReadyz, sources);
}

}  // namespace server
