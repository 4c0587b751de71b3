// GrpcMetrics: go-grpc-prometheus' server metrics, as etcd exposes them,
// for every method of the client gRPC server:
//   grpc_server_started_total, grpc_server_msg_received_total,
//   grpc_server_msg_sent_total        {grpc_type, grpc_service, grpc_method}
//   grpc_server_handled_total         {... , grpc_code} (Go's code names: OK, Unavailable, ...)
//   grpc_server_handling_seconds      histogram, only with --metrics extensive
//                                     (Prometheus' default buckets, 5 ms .. 10 s)
// and etcd's etcd_network_client_grpc_{sent,received}_bytes_total (the
// encoded size of every message, as etcd's codec counts them).
//
// Counting is a gRPC server interceptor (InterceptorFactory()), so unary and
// streaming calls of every service, and gRPC's own health service, are
// counted in one place. The cost per call: the interceptor object gRPC
// allocates, one probe for the method's counters in a table that is built
// before the server starts and never changes (gRPC tells an interceptor
// only the method's name, so that is the key: no lock, no allocation), and
// relaxed atomic adds on the method's own cache line. With --metrics
// extensive, also two clock reads. Sent bytes cost nothing extra: the
// interceptor asks gRPC to serialize the message, which it would do next
// anyway, and reads the size; received bytes are the parsed request's
// ByteSizeLong().
//
// The exception: methods whose service counts its own calls with
// CallCounts (CountInService), the message-heavy streams Watch and
// LeaseKeepAlive. With an interceptor on a call, gRPC C++ completes every
// batch twice (the interceptors' post hooks run, then the batch's tag goes
// through the completion queue once more), so each message a stream writes
// costs two trips instead of one: at 10,000 watchers that was a third of a
// member's CPU and twice its event latency (issue 18). A unary call has one
// batch each way and keeps the interceptor (3-5% of a loaded leader's
// samples in the interceptor's frames).
//
// Why not prometheus-cpp's Counter and Histogram: its Counter is a
// sequentially consistent compare-and-swap loop on a double, and its
// Histogram takes a mutex per Observe. Its exposition types and text
// serializer are used (member_metrics.cc).
//
// As go-grpc-prometheus' Register(server), every method of the services
// given before the server starts is exposed from the start, handled_total
// with all 17 codes, at 0.
// Ownership: the factory and interceptors borrow this object, which must
// outlive the gRPC server. Thread-safety: AddService/AddMethod before the
// server starts; everything else from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "base/clock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/status.h"
#include "grpcpp/support/string_ref.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/metric_family.h"

namespace server {

// go-grpc-prometheus' handling-time histogram (Prometheus' DefBuckets).
class HandlingHistogram {
 public:
  static constexpr std::array<double, 11> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10};
  void Observe(absl::Duration d);
  // One exposition sample with `labels` (cumulative buckets, sum, count).
  prometheus::ClientMetric Read(std::vector<prometheus::ClientMetric::Label> labels) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};  // last: +Inf only
  std::atomic<uint64_t> sum_nanos_{0};
};

// One method's counters. Aligned so that two methods' calls never share a
// cache line.
struct alignas(64) GrpcMethodCounters {
  static constexpr int kCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> msg_received{0};
  std::atomic<uint64_t> msg_sent{0};
  std::atomic<uint64_t> received_bytes{0};
  std::atomic<uint64_t> sent_bytes{0};
  std::array<std::atomic<uint64_t>, kCodes> handled{};
  std::unique_ptr<HandlingHistogram> handling;  // --metrics extensive only

  bool counted_by_service = false;  // no interceptor: the service keeps CallCounts

  std::string service;     // "etcdserverpb.KV"
  std::string method;      // "Range"
  const char* type = "";   // "unary", "client_stream", "server_stream", "bidi_stream"
  bool parsed_messages = true;  // false: messages are raw ByteBuffers (size unknown here)
};

// etcd_server_client_requests_total{type, client_api_version}: calls by
// the "client-api-version" metadata clientv3 sends ("unknown" without it),
// type "unary" or "stream", as etcd's v3rpc interceptors count them (every
// service of the client server). The version is the client's to choose:
// the first kMaxVersions distinct values get their own series, later ones
// count under "other", so that clients cannot grow the exposition without
// bound (etcd has no such bound). A series appears once counted, as a Go
// CounterVec's. Count: a scan of at most kMaxVersions short strings and a
// relaxed add; a lock only the first time a version is seen.
class ClientRequestCounters {
 public:
  static constexpr int kMaxVersions = 16;
  ClientRequestCounters();
  void Count(bool stream, std::string_view version);
  void Render(std::vector<prometheus::MetricFamily>& out) const;

 private:
  struct Slot {
    std::string version;  // written once, before used_ counts the slot
    std::atomic<uint64_t> unary{0};
    std::atomic<uint64_t> stream{0};
  };
  Slot* Find(std::string_view version);
  std::array<Slot, kMaxVersions + 1> slots_;  // the last one: "other"
  std::atomic<int> used_{0};
  std::mutex add_mu_;
};

class GrpcMetrics;

// What one call adds to its method's counters, as the interceptor counts
// it: started on construction; Handled once, with the status sent; a call
// destroyed without one counts as Canceled (the client went away), so that
// started equals the sum of handled once calls are over.
// Thread-safety: the counters are atomics; Handled and the destructor are
// the call's to order (a reactor's OnDone follows its Finish).
class CallCounts {
 public:
  CallCounts(GrpcMethodCounters* m, const GrpcMetrics& metrics);
  ~CallCounts();
  CallCounts(const CallCounts&) = delete;
  CallCounts& operator=(const CallCounts&) = delete;

  // etcd_server_client_requests_total, by the call's client-api-version.
  void ClientMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& md);
  // A message received (null: size unknown).
  void Received(const google::protobuf::MessageLite* msg);
  // A message of `bytes` encoded bytes handed to gRPC.
  void Sent(size_t bytes);
  void Handled(grpc::StatusCode code);

 private:
  GrpcMethodCounters* const m_;
  const base::Clock* const clock_;  // null: no timing (--metrics basic)
  ClientRequestCounters* const clients_;
  absl::Time start_;
  bool handled_ = false;
};

// A new call's counts with its client metadata counted, or null when `m`
// (a method's counters, from CountInService) or `metrics` is null: not counted.
std::unique_ptr<CallCounts> StartCallCounts(GrpcMethodCounters* m, const GrpcMetrics* metrics,
                                            const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata);

class GrpcMetrics {
 public:
  // `extensive`: --metrics extensive (the handling-time histograms);
  // `clock` times calls then (may be null otherwise).
  GrpcMetrics(bool extensive, const base::Clock* clock);
  ~GrpcMetrics();
  GrpcMetrics(const GrpcMetrics&) = delete;
  GrpcMetrics& operator=(const GrpcMetrics&) = delete;

  // Every method of `service` (generated, typed messages).
  void AddService(const google::protobuf::ServiceDescriptor& service);
  // A method known only by name ("/grpc.health.v1.Health/Check"), such as
  // those of services gRPC registers itself; its message sizes are not
  // counted.
  void AddMethod(const std::string& full_name, grpc::internal::RpcMethod::RpcType type);

  // For ServerBuilder::experimental().SetInterceptorCreators().
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

  // The method's calls are counted by its service (CallCounts), not by the
  // interceptor; returns its counters (null if unknown). Before the server
  // starts.
  GrpcMethodCounters* CountInService(const char* full_name);
  // The counters of a method ("/svc/Method"), null if unknown; for tests.
  const GrpcMethodCounters* Find(const char* full_name) const;
  // Appends the grpc_server_* families and the two byte counters.
  void Render(std::vector<prometheus::MetricFamily>& out) const;
  // Watch streams open now (started - handled of etcdserverpb.Watch/Watch):
  // etcd_debugging_mvcc_watch_stream_total.
  int64_t OpenWatchStreams() const;

  bool extensive() const { return extensive_; }
  const base::Clock* clock() const { return clock_; }
  // The counters of the call's method; null for a method no service declared.
  GrpcMethodCounters* Lookup(const char* full_name) const;
  ClientRequestCounters* client_requests() const { return &client_requests_; }

 private:
  GrpcMethodCounters* Add(const char* full_name, grpc::internal::RpcMethod::RpcType type, bool parsed);

  const bool extensive_;
  const base::Clock* const clock_;
  std::vector<std::unique_ptr<GrpcMethodCounters>> methods_;  // in registration order
  absl::flat_hash_map<std::string, GrpcMethodCounters*> by_name_;
  mutable ClientRequestCounters client_requests_;
};

// The metrics of the client gRPC server: every method of the services
// named (full names, "etcdserverpb.KV", found in the generated descriptor
// pool), and those of the health service gRPC registers itself
// (grpc::EnableDefaultHealthCheckService), as etcd's server has them.
std::unique_ptr<GrpcMetrics> NewGrpcMetrics(bool extensive, const base::Clock& clock,
                                            const std::vector<std::string>& service_names);

}  // namespace server
