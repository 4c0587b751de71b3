#include "bench/recorder.h"

namespace ketcd::bench {

LatencyHistogram* Recorder::SecondHistogram(int second) {
  if (second < 0 || second >= kMaxSeconds) return nullptr;
  LatencyHistogram* h = seconds_[second].load(std::memory_order_acquire);
  if (h != nullptr) return h;
  std::lock_guard<std::mutex> lock(seconds_mu_);
  h = seconds_[second].load(std::memory_order_acquire);
  if (h == nullptr) {
    owned_.push_back(std::make_unique<LatencyHistogram>());
    h = owned_.back().get();
    seconds_[second].store(h, std::memory_order_release);
  }
  return h;
}

void Recorder::Success(Clock::time_point sent, Clock::time_point done) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(done - sent).count();
  SuccessMicros(us < 0 ? 0 : static_cast<uint64_t>(us), done);
}

void Recorder::SuccessMicros(uint64_t micros, Clock::time_point done) {
  all_.Record(micros);
  int second = static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(done - t0_).count());
  if (LatencyHistogram* h = SecondHistogram(second)) h->Record(micros);
}

void Recorder::Failure(int code, const std::string& message) {
  if (code < 0 || code >= kCodes) code = 2;  // UNKNOWN
  if (errors_[code].fetch_add(1, std::memory_order_relaxed) == 0) {
    std::lock_guard<std::mutex> lock(messages_mu_);
    if (first_message_[code].empty()) first_message_[code] = message;
  }
}

uint64_t Recorder::Errors() const {
  uint64_t n = 0;
  for (const auto& e : errors_) n += e.load(std::memory_order_relaxed);
  return n;
}

std::vector<Recorder::CodeErrors> Recorder::ErrorsByCode() const {
  std::vector<CodeErrors> out;
  std::lock_guard<std::mutex> lock(messages_mu_);
  for (int c = 0; c < kCodes; ++c) {
    uint64_t n = errors_[c].load(std::memory_order_relaxed);
    if (n != 0) out.push_back({c, n, first_message_[c]});
  }
  return out;
}

std::vector<Recorder::Second> Recorder::PerSecond() const {
  std::vector<Second> out;
  int last = -1;
  for (int s = 0; s < kMaxSeconds; ++s) {
    if (seconds_[s].load(std::memory_order_acquire) != nullptr) last = s;
  }
  for (int s = 0; s <= last; ++s) {
    const LatencyHistogram* h = seconds_[s].load(std::memory_order_acquire);
    if (h == nullptr) {
      out.push_back({s, 0, 0, 0, 0, 0.0});
      continue;
    }
    out.push_back({s, h->Count(), h->Percentile(0.5), h->Percentile(0.99), h->MaxMicros(),
                   h->MeanMicros()});
  }
  return out;
}

std::string CodeName(int code) {
  static const char* const kNames[] = {
      "OK",       "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS",    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",      "UNIMPLEMENTED",    "INTERNAL",
      "UNAVAILABLE", "DATA_LOSS",       "UNAUTHENTICATED"};
  if (code >= 0 && code < 17) return kNames[code];
  return "CODE_" + std::to_string(code);
}

}  // namespace ketcd::bench
