// Logger: leveled, structured log lines, written whole (one write per line,
// so lines of concurrent threads never interleave).
//
// Two formats, chosen at start:
//  - kText (the default today): "ketcd: <message> key=value ..." on one
//    line, as ketcd has always printed;
//  - kJson: one JSON object per line with zap's production keys, as etcd
//    3.5 prints with --logger zap:
//    {"level":"info","ts":"2026-12-04T17:00:00.000000Z","msg":"...","key":"value"}
// Lines below the minimum level (--log-level: debug, info, warn, error,
// panic, fatal) are dropped before they are formatted.
//
// A Logger is created by the composition root and passed down; no component
// reaches for a global one. Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/clock.h"

namespace base {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kFatal = 4 };
enum class LogFormat { kText, kJson };

// etcd's --log-level names ("panic" counts as fatal).
[[nodiscard]] absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name);

// One key=value of a log line. Numbers stay numbers in JSON.
class LogField {
 public:
  LogField(std::string_view key, std::string_view value) : key_(key), value_(value), quoted_(true) {}
  LogField(std::string_view key, const char* value) : LogField(key, std::string_view(value)) {}
  LogField(std::string_view key, const std::string& value) : LogField(key, std::string_view(value)) {}
  LogField(std::string_view key, const absl::Status& s)
      : LogField(key, std::string_view(s.ToString())) {}
  LogField(std::string_view key, bool value) : key_(key), value_(value ? "true" : "false"), quoted_(false) {}
  LogField(std::string_view key, int64_t value) : key_(key), value_(std::to_string(value)), quoted_(false) {}
  LogField(std::string_view key, uint64_t value) : key_(key), value_(std::to_string(value)), quoted_(false) {}
  LogField(std::string_view key, int value) : LogField(key, static_cast<int64_t>(value)) {}
  LogField(std::string_view key, double value) : key_(key), value_(std::to_string(value)), quoted_(false) {}

  const std::string& key() const { return key_; }
  const std::string& value() const { return value_; }
  bool quoted() const { return quoted_; }

 private:
  std::string key_;
  std::string value_;
  bool quoted_;
};

// A member id as etcd logs it: 16 hex digits.
LogField HexId(std::string_view key, uint64_t id);

class Logger {
 public:
  using Fields = std::initializer_list<LogField>;

  // Writes to `out` (not owned; stderr in the server). `clock` stamps JSON
  // lines and must outlive the logger.
  Logger(const Clock* clock, LogFormat format = LogFormat::kText, LogLevel min = LogLevel::kInfo,
         FILE* out = stderr)
      : clock_(clock), format_(format), min_(min), out_(out) {}

  bool Enabled(LogLevel level) const { return level >= min_; }
  void Log(LogLevel level, std::string_view msg, Fields fields = {});
  void Debug(std::string_view msg, Fields fields = {}) { Log(LogLevel::kDebug, msg, fields); }
  void Info(std::string_view msg, Fields fields = {}) { Log(LogLevel::kInfo, msg, fields); }
  void Warn(std::string_view msg, Fields fields = {}) { Log(LogLevel::kWarn, msg, fields); }
  void Error(std::string_view msg, Fields fields = {}) { Log(LogLevel::kError, msg, fields); }
  // For broken invariants (a failed fsync, a corrupt applied state): logs
  // and aborts, so the process stops loudly and never serves past it. Its
  // line is the last this logger writes: other threads' lines wait forever.
  [[noreturn]] void Fatal(std::string_view msg, Fields fields = {});

  // Formats one line without writing it (tests, and the writer itself).
  std::string Format(LogLevel level, std::string_view msg, Fields fields) const;

 private:
  const Clock* clock_;
  const LogFormat format_;
  const LogLevel min_;
  FILE* out_;
  std::mutex mu_;  // one line at a time
};

}  // namespace base
