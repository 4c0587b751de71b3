#include "storage/rocks_logger.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "base/logger.h"

namespace storage {
namespace {

class RocksInfoLogger : public rocksdb::Logger {
 public:
  explicit RocksInfoLogger(base::Logger* logger)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), logger_(logger) {}

  // Lines without a level are informational.
  void Logv(const char* /*format*/, va_list /*ap*/) override {}

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (logger_ == nullptr || level < GetInfoLogLevel() ||
        level == rocksdb::InfoLogLevel::HEADER_LEVEL) {
      return;
    }
    char buf[1024];
    const int n = std::vsnprintf(buf, sizeof(buf), format, ap);
    if (n < 0) return;
    std::string line(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
    while (!line.empty() && line.back() == '\n') line.pop_back();
    const base::LogLevel to =
        level == rocksdb::InfoLogLevel::WARN_LEVEL ? base::LogLevel::kWarn : base::LogLevel::kError;
    logger_->Log(to, "rocksdb: " + line);
  }

 private:
  base::Logger* logger_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewRocksInfoLogger(base::Logger* logger) {
  return std::make_shared<RocksInfoLogger>(logger);
}

}  // namespace storage
