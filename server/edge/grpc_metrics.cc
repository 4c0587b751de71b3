#include "server/edge/grpc_metrics.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/support/byte_buffer.h"

namespace server {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::internal::RpcMethod;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Go's codes.Code.String(), which go-grpc-prometheus puts in grpc_code.
constexpr std::array<const char*, GrpcMethodCounters::kCodes> kCodeNames = {
    "OK",       "Canceled",           "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
    "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
    "OutOfRange", "Unimplemented",    "Internal", "Unavailable",    "DataLoss",         "Unauthenticated"};

const char* TypeName(RpcMethod::RpcType type) {
  switch (type) {
    case RpcMethod::NORMAL_RPC:
      return "unary";
    case RpcMethod::CLIENT_STREAMING:
      return "client_stream";
    case RpcMethod::SERVER_STREAMING:
      return "server_stream";
    case RpcMethod::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unary";
}

// One call's interceptor: counts, through CallCounts, what the call
// receives and sends, and how it ends.
class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(GrpcMethodCounters* m, const GrpcMetrics& metrics) : counts_(m, metrics) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* b) override {
    if (b->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      if (const auto* md = b->GetRecvInitialMetadata()) counts_.ClientMetadata(*md);
    }
    if (b->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Null: the client half-closed its stream, no message.
      if (const void* msg = b->GetRecvMessage()) {
        // Generated messages derive from MessageLite alone (at offset 0).
        counts_.Received(static_cast<const google::protobuf::MessageLite*>(msg));
      }
    }
    if (b->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      // Counted when handed to gRPC (a server interceptor is not told
      // whether the write then succeeds). gRPC serializes the message here
      // instead of just after.
      const grpc::ByteBuffer* buf = b->GetSerializedSendMessage();
      counts_.Sent(buf != nullptr ? buf->Length() : 0);
    }
    if (b->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      counts_.Handled(b->GetSendStatus().error_code());
    }
    b->Proceed();
  }

 private:
  CallCounts counts_;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(const GrpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    GrpcMethodCounters* m = metrics_->Lookup(info->method());
    // Not a declared method, or one its service counts itself.
    if (m == nullptr || m->counted_by_service) return nullptr;
    return new CallInterceptor(m, *metrics_);
  }

 private:
  const GrpcMetrics* metrics_;
};

std::vector<ClientMetric::Label> LabelsOf(const GrpcMethodCounters& m) {
  return {{"grpc_method", m.method}, {"grpc_service", m.service}, {"grpc_type", m.type}};
}

double Load(const std::atomic<uint64_t>& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); }

}  // namespace

CallCounts::CallCounts(GrpcMethodCounters* m, const GrpcMetrics& metrics)
    : m_(m), clock_(metrics.extensive() ? metrics.clock() : nullptr), clients_(metrics.client_requests()) {
  m_->started.fetch_add(1, std::memory_order_relaxed);
  if (clock_ != nullptr) start_ = clock_->Now();
}

CallCounts::~CallCounts() {
  if (!handled_) Handled(grpc::StatusCode::CANCELLED);
}

std::unique_ptr<CallCounts> StartCallCounts(GrpcMethodCounters* m, const GrpcMetrics* metrics,
                                            const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata) {
  if (m == nullptr || metrics == nullptr) return nullptr;
  auto counts = std::make_unique<CallCounts>(m, *metrics);
  counts->ClientMetadata(client_metadata);
  return counts;
}

void CallCounts::ClientMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
  std::string_view version = "unknown";
  if (auto it = md.find("client-api-version"); it != md.end()) {
    version = std::string_view(it->second.data(), it->second.size());
  }
  clients_->Count(std::string_view(m_->type) != "unary", version);
}

void CallCounts::Received(const google::protobuf::MessageLite* msg) {
  m_->msg_received.fetch_add(1, std::memory_order_relaxed);
  if (m_->parsed_messages && msg != nullptr) {
    m_->received_bytes.fetch_add(msg->ByteSizeLong(), std::memory_order_relaxed);
  }
}

void CallCounts::Sent(size_t bytes) {
  m_->msg_sent.fetch_add(1, std::memory_order_relaxed);
  m_->sent_bytes.fetch_add(bytes, std::memory_order_relaxed);
}

void CallCounts::Handled(grpc::StatusCode code) {
  if (handled_) return;
  handled_ = true;
  const auto i = static_cast<size_t>(code);
  m_->handled[i < m_->handled.size() ? i : static_cast<size_t>(grpc::StatusCode::UNKNOWN)].fetch_add(
      1, std::memory_order_relaxed);
  if (clock_ != nullptr && m_->handling) m_->handling->Observe(clock_->Now() - start_);
}

ClientRequestCounters::ClientRequestCounters() { slots_[kMaxVersions].version = "other"; }

ClientRequestCounters::Slot* ClientRequestCounters::Find(std::string_view version) {
  int n = used_.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    if (slots_[i].version == version) return &slots_[i];
  }
  std::lock_guard<std::mutex> lock(add_mu_);
  n = used_.load(std::memory_order_relaxed);
  for (int i = 0; i < n; ++i) {
    if (slots_[i].version == version) return &slots_[i];
  }
  if (n == kMaxVersions) return &slots_[kMaxVersions];
  slots_[n].version = std::string(version);
  used_.store(n + 1, std::memory_order_release);
  return &slots_[n];
}

void ClientRequestCounters::Count(bool stream, std::string_view version) {
  Slot* s = Find(version);
  (stream ? s->stream : s->unary).fetch_add(1, std::memory_order_relaxed);
}

void ClientRequestCounters::Render(std::vector<MetricFamily>& out) const {
  MetricFamily f{"etcd_server_client_requests_total", "The total number of client requests per client version.",
                 MetricType::Counter, {}};
  const int n = used_.load(std::memory_order_acquire);
  for (int i = 0; i <= kMaxVersions; ++i) {
    if (i >= n && i < kMaxVersions) continue;
    const Slot& s = slots_[i];
    for (const auto& [type, count] : {std::pair{"unary", &s.unary}, std::pair{"stream", &s.stream}}) {
      const uint64_t v = count->load(std::memory_order_relaxed);
      if (v == 0) continue;  // a series appears once counted
      ClientMetric c;
      c.label = {{"client_api_version", s.version}, {"type", type}};
      c.counter.value = static_cast<double>(v);
      f.metric.push_back(std::move(c));
    }
  }
  if (!f.metric.empty()) out.push_back(std::move(f));
}

void HandlingHistogram::Observe(absl::Duration d) {
  const double seconds = absl::ToDoubleSeconds(d);
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Nanoseconds(d))),
                       std::memory_order_relaxed);
}

ClientMetric HandlingHistogram::Read(std::vector<ClientMetric::Label> labels) const {
  ClientMetric m;
  m.label = std::move(labels);
  uint64_t running = 0;
  for (size_t i = 0; i <= kBounds.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    m.histogram.bucket.push_back(
        {running, i < kBounds.size() ? kBounds[i] : std::numeric_limits<double>::infinity()});
  }
  m.histogram.sample_count = running;
  m.histogram.sample_sum = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
  return m;
}

GrpcMetrics::GrpcMetrics(bool extensive, const base::Clock* clock)
    : extensive_(extensive && clock != nullptr), clock_(clock) {}

GrpcMetrics::~GrpcMetrics() = default;

GrpcMethodCounters* GrpcMetrics::Add(const char* full_name, RpcMethod::RpcType type, bool parsed) {
  if (auto it = by_name_.find(full_name); it != by_name_.end()) return it->second;
  auto m = std::make_unique<GrpcMethodCounters>();
  // "/etcdserverpb.KV/Range"
  const std::string name(full_name);
  const size_t slash = name.rfind('/');
  m->service = name.substr(name.empty() || name[0] != '/' ? 0 : 1, slash == std::string::npos ? 0 : slash - 1);
  m->method = slash == std::string::npos ? name : name.substr(slash + 1);
  m->type = TypeName(type);
  m->parsed_messages = parsed;
  if (extensive_) m->handling = std::make_unique<HandlingHistogram>();
  GrpcMethodCounters* raw = m.get();
  methods_.push_back(std::move(m));
  by_name_.emplace(name, raw);
  return raw;
}

void GrpcMetrics::AddService(const google::protobuf::ServiceDescriptor& service) {
  for (int i = 0; i < service.method_count(); ++i) {
    const google::protobuf::MethodDescriptor& method = *service.method(i);
    const RpcMethod::RpcType type =
        method.client_streaming() ? (method.server_streaming() ? RpcMethod::BIDI_STREAMING : RpcMethod::CLIENT_STREAMING)
                                  : (method.server_streaming() ? RpcMethod::SERVER_STREAMING : RpcMethod::NORMAL_RPC);
    const std::string full_name = absl::StrCat("/", service.full_name(), "/", method.name());
    Add(full_name.c_str(), type, /*parsed=*/true);
  }
}

void GrpcMetrics::AddMethod(const std::string& full_name, RpcMethod::RpcType type) {
  Add(full_name.c_str(), type, /*parsed=*/false);
}

GrpcMethodCounters* GrpcMetrics::Lookup(const char* full_name) const {
  if (full_name == nullptr) return nullptr;
  if (auto it = by_name_.find(absl::string_view(full_name)); it != by_name_.end()) return it->second;
  return nullptr;
}

GrpcMethodCounters* GrpcMetrics::CountInService(const char* full_name) {
  GrpcMethodCounters* m = Lookup(full_name);
  if (m != nullptr) m->counted_by_service = true;
  return m;
}

const GrpcMethodCounters* GrpcMetrics::Find(const char* full_name) const { return Lookup(full_name); }

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> GrpcMetrics::InterceptorFactory() {
  return std::make_unique<Factory>(this);
}

int64_t GrpcMetrics::OpenWatchStreams() const {
  const GrpcMethodCounters* w = Find("/etcdserverpb.Watch/Watch");
  if (w == nullptr) return 0;
  int64_t open = static_cast<int64_t>(w->started.load(std::memory_order_relaxed));
  for (const auto& h : w->handled) open -= static_cast<int64_t>(h.load(std::memory_order_relaxed));
  return open < 0 ? 0 : open;
}

void GrpcMetrics::Render(std::vector<MetricFamily>& out) const {
  auto family = [](const char* name, const char* help, MetricType type) {
    return MetricFamily{name, help, type, {}};
  };
  MetricFamily started = family("grpc_server_started_total", "Total number of RPCs started on the server.",
                                MetricType::Counter);
  MetricFamily handled = family("grpc_server_handled_total",
                                "Total number of RPCs completed on the server, regardless of success or failure.",
                                MetricType::Counter);
  MetricFamily received = family("grpc_server_msg_received_total",
                                 "Total number of RPC stream messages received on the server.", MetricType::Counter);
  MetricFamily sent = family("grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.",
                             MetricType::Counter);
  MetricFamily seconds = family("grpc_server_handling_seconds",
                                "Histogram of response latency (seconds) of gRPC that had been application-level "
                                "handled by the server.",
                                MetricType::Histogram);
  double bytes_in = 0, bytes_out = 0;
  auto sample = [](std::vector<ClientMetric::Label> labels, double v) {
    ClientMetric c;
    c.label = std::move(labels);
    c.counter.value = v;
    return c;
  };
  for (const auto& m : methods_) {
    started.metric.push_back(sample(LabelsOf(*m), Load(m->started)));
    received.metric.push_back(sample(LabelsOf(*m), Load(m->msg_received)));
    sent.metric.push_back(sample(LabelsOf(*m), Load(m->msg_sent)));
    for (size_t code = 0; code < m->handled.size(); ++code) {
      auto labels = LabelsOf(*m);
      labels.insert(labels.begin(), {"grpc_code", kCodeNames[code]});
      handled.metric.push_back(sample(std::move(labels), Load(m->handled[code])));
    }
    if (m->handling) seconds.metric.push_back(m->handling->Read(LabelsOf(*m)));
    bytes_in += Load(m->received_bytes);
    bytes_out += Load(m->sent_bytes);
  }
  out.push_back(std::move(handled));
  if (extensive_) out.push_back(std::move(seconds));
  out.push_back(std::move(received));
  out.push_back(std::move(sent));
  out.push_back(std::move(started));
  client_requests_.Render(out);
  out.push_back(MetricFamily{"etcd_network_client_grpc_received_bytes_total",
                             "The total number of bytes received from grpc clients.", MetricType::Counter,
                             {sample({}, bytes_in)}});
  out.push_back(MetricFamily{"etcd_network_client_grpc_sent_bytes_total",
                             "The total number of bytes sent to grpc clients.", MetricType::Counter,
                             {sample({}, bytes_out)}});
}

std::unique_ptr<GrpcMetrics> NewGrpcMetrics(bool extensive, const base::Clock& clock,
                                            const std::vector<std::string>& service_names) {
  auto metrics = std::make_unique<GrpcMetrics>(extensive, &clock);
  for (const std::string& name : service_names) {
    if (const auto* s = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name)) {
      metrics->AddService(*s);
    }
  }
  metrics->AddMethod("/grpc.health.v1.Health/Check", RpcMethod::NORMAL_RPC);
  metrics->AddMethod("/grpc.health.v1.Health/Watch", RpcMethod::SERVER_STREAMING);
  return metrics;
}

}  // namespace server
