// Connections and the closed-loop request driver of ketcd-bench.
//
// Contract: `Dial` opens `conns` independent HTTP/2 connections (never
// shared subchannels), spread round-robin over the endpoints; client c uses
// connection c % conns, as etcd's benchmark does. `ClosedLoop::Run` keeps
// each client's one request in flight on gRPC's callback threads (no thread
// per client), until `total` requests have ended, optionally paced to
// `rate` requests/s overall, or until `*stop` turns true: then no request
// is started and Run returns once those in flight have ended (an
// interrupted run still reports what it did). Every request ends in
// exactly one Recorder.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/recorder.h"
#include "grpcpp/grpcpp.h"

namespace ketcd::bench {

// `endpoints` are gRPC targets (see tools/endpoints.h); `creds` are used by
// every connection. With `tokens` (--user), connection i sends *(*tokens)[i]
// as its auth token (auth_token.h); Dial makes the slots.
std::vector<std::shared_ptr<grpc::Channel>> Dial(const std::vector<std::string>& endpoints, int conns,
                                                 const std::shared_ptr<grpc::ChannelCredentials>& creds,
                                                 std::vector<std::shared_ptr<std::string>>* tokens = nullptr);
// Waits until every channel is connected; false after `timeout_s`.
bool WaitConnected(const std::vector<std::shared_ptr<grpc::Channel>>& channels, double timeout_s);

// Seeded, run-independent generators: request n gets the same key and value
// in every run with the same seed, whichever client sends it.
uint64_t Mix64(uint64_t x);
std::string BinaryKey(uint64_t n, int size);
std::string SeededBytes(uint64_t seed, int size);

// The CPU time (user + system) this process has used, in seconds.
double ProcessCpuSeconds();

class ClosedLoop {
 public:
  // Ends request n: `kind` picks the recorder, `status` its outcome.
  using Done = std::function<void(int kind, const grpc::Status& status)>;
  // Starts request n for `client`; must call `done` exactly once, from any
  // thread (typically a gRPC callback).
  using Op = std::function<void(int client, uint64_t n, Done done)>;

  struct Options {
    int clients = 1;
    uint64_t total = 0;
    double rate = 0;          // requests/s overall; 0 = as fast as possible
    bool progress = false;    // a progress bar on stderr
    std::string label;
    const std::atomic<bool>* stop = nullptr;  // may be null; set from a signal handler
  };

  ClosedLoop(Options options, std::vector<Recorder*> recorders, Op op);
  // Runs to completion; returns the wall time in seconds.
  double Run();

 private:
  void Next(int client);
  void Issue(int client, uint64_t n);
  void Finished(int client, uint64_t n, Clock::time_point sent, int kind, const grpc::Status& st);
  void Progress(bool final);
  bool Stopped() const { return options_.stop != nullptr && options_.stop->load(std::memory_order_relaxed); }

  Options options_;
  std::vector<Recorder*> recorders_;
  Op op_;
  Clock::time_point t0_;

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ = 0;              // guarded by mu_
  uint64_t permits_ = 0;           // rate mode: requests allowed so far
  std::deque<int> parked_;         // rate mode: clients waiting for a permit
  std::deque<int> deferred_;       // clients whose next start is handed to Run's thread
  int running_clients_ = 0;
  std::atomic<uint64_t> ended_{0};
};

}  // namespace ketcd::bench
