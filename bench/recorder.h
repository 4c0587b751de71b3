// Recorder: what one stream of requests did — latencies overall and per
// second of the run, and failures by gRPC status code.
//
// Contract: Success()/Failure() may be called from any thread at any rate;
// the per-second series covers at most kMaxSeconds (later samples count in
// the totals only). Read the results after the run has ended.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/histogram.h"

namespace ketcd::bench {

using Clock = std::chrono::steady_clock;

class Recorder {
 public:
  static constexpr int kMaxSeconds = 4 * 3600;
  static constexpr int kCodes = 17;  // grpc::StatusCode 0..16

  explicit Recorder(std::string name) : name_(std::move(name)) {}

  // The run's time zero, for the per-second series.
  void Start(Clock::time_point t0) { t0_ = t0; }
  Clock::time_point StartTime() const { return t0_; }

  void Success(Clock::time_point sent, Clock::time_point done);
  void SuccessMicros(uint64_t micros, Clock::time_point done);
  void Failure(int code, const std::string& message);

  const std::string& name() const { return name_; }
  const LatencyHistogram& latency() const { return all_; }
  uint64_t Errors() const;

  struct CodeErrors {
    int code;
    uint64_t count;
    std::string first_message;
  };
  std::vector<CodeErrors> ErrorsByCode() const;

  struct Second {
    int second;
    uint64_t count;
    uint64_t p50_us, p99_us, max_us;
    double mean_us;
  };
  std::vector<Second> PerSecond() const;

 private:
  LatencyHistogram* SecondHistogram(int second);

  std::string name_;
  Clock::time_point t0_ = Clock::now();
  LatencyHistogram all_;
  std::array<std::atomic<LatencyHistogram*>, kMaxSeconds> seconds_{};
  std::mutex seconds_mu_;
  std::vector<std::unique_ptr<LatencyHistogram>> owned_;
  std::array<std::atomic<uint64_t>, kCodes> errors_{};
  mutable std::mutex messages_mu_;
  std::array<std::string, kCodes> first_message_;
};

std::string CodeName(int code);

}  // namespace ketcd::bench
