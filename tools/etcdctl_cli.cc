#include "tools/etcdctl_cli.h"

#include <cmath>
#include <cctype>
#include <cstdint>
#include <cstring>

namespace tools {
namespace {

// Go's unit table (time/format.go); "µs" is U+00B5 or U+03BC followed by s.
std::optional<double> UnitNanos(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m") return 60e9;
  if (unit == "h") return 3600e9;
  return std::nullopt;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<std::chrono::nanoseconds> ParseGoDuration(std::string_view text) {
  std::string_view s = text;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return std::nullopt;
  double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && IsDigit(s[i])) ++i;
    size_t int_digits = i;
    size_t frac_digits = 0;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && IsDigit(s[i])) ++i, ++frac_digits;
    }
    if (int_digits + frac_digits == 0) return std::nullopt;  // "s", ".s"
    double value = std::stod(std::string(s.substr(0, i)));
    size_t u = i;
    while (u < s.size() && s[u] != '.' && !IsDigit(s[u])) ++u;
    std::optional<double> unit = UnitNanos(s.substr(i, u - i));
    if (!unit) return std::nullopt;  // no unit ("5") or an unknown one
    total += value * *unit;
    s.remove_prefix(u);
  }
  if (total > 9.2e18) return std::nullopt;  // Go: "invalid duration" on overflow
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(total)));
}

std::vector<std::string> SplitStringSlice(const std::vector<std::string>& occurrences) {
  std::vector<std::string> out;
  for (const std::string& one : occurrences) {
    if (one.empty()) continue;  // pflag: an empty value is an empty slice
    size_t start = 0;
    while (true) {
      size_t comma = one.find(',', start);
      out.push_back(one.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

std::string GoSliceString(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? " " : "") + values[i];
  return out + "]";
}

std::string GoErrnoText(int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

}  // namespace tools
