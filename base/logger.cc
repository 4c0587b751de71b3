#include "base/logger.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace base {
namespace {

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kFatal: return "fatal";
  }
  return "info";
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

// A text value is quoted only when it would not read back as one token.
void AppendTextValue(std::string* out, const LogField& f) {
  const std::string& v = f.value();
  bool plain = !v.empty() && f.quoted();
  for (char c : v) plain = plain && !absl::ascii_isspace(static_cast<unsigned char>(c)) && c != '"';
  if (!f.quoted() || plain) {
    out->append(v);
  } else {
    AppendJsonString(out, v);
  }
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  if (name == "panic" || name == "fatal") return LogLevel::kFatal;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown log level \"", std::string(name), "\" (want debug, info, warn, error, panic or fatal)"));
}

LogField HexId(std::string_view key, uint64_t id) {
  return LogField(key, absl::StrFormat("%016x", id));
}

std::string Logger::Format(LogLevel level, std::string_view msg, Fields fields) const {
  std::string line;
  if (format_ == LogFormat::kJson) {
    line.append("{\"level\":");
    AppendJsonString(&line, LevelName(level));
    line.append(",\"ts\":");
    AppendJsonString(&line, absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", clock_->Now(), absl::UTCTimeZone()));
    line.append(",\"msg\":");
    AppendJsonString(&line, msg);
    for (const auto& f : fields) {
      line.push_back(',');
      AppendJsonString(&line, f.key());
      line.push_back(':');
      if (f.quoted()) {
        AppendJsonString(&line, f.value());
      } else {
        line.append(f.value());
      }
    }
    line.append("}\n");
    return line;
  }
  line.append("ketcd: ");
  if (level >= LogLevel::kWarn) absl::StrAppend(&line, LevelName(level), ": ");
  line.append(msg.data(), msg.size());
  for (const auto& f : fields) {
    absl::StrAppend(&line, " ", f.key(), "=");
    AppendTextValue(&line, f);
  }
  line.push_back('\n');
  return line;
}

void Logger::Log(LogLevel level, std::string_view msg, Fields fields) {
  if (!Enabled(level)) return;
  const std::string line = Format(level, msg, fields);
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

void Logger::Fatal(std::string_view msg, Fields fields) {
  const std::string line = Format(LogLevel::kFatal, msg, fields);
  // The lock is never released: a thread that failed on the same disk error
  // must not write after this line, which has to be the log's last word.
  mu_.lock();
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
  std::abort();
}

}  // namespace base
