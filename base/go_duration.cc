#include "base/go_duration.h"

#include <cstdint>
#include <optional>

#include "absl/strings/str_cat.h"

namespace base {
namespace {

constexpr uint64_t kLimit = uint64_t{1} << 63;  // |math.MinInt64|

// Go's strconv-free quote() of time/format.go, enough for flag values.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::optional<uint64_t> UnitNanos(std::string_view unit) {
  if (unit == "ns") return 1;
  // "µs" as U+00B5 (micro sign) or U+03BC (Greek mu), as Go accepts both.
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1000;
  if (unit == "ms") return 1000 * 1000;
  if (unit == "s") return uint64_t{1000} * 1000 * 1000;
  if (unit == "m") return uint64_t{60} * 1000 * 1000 * 1000;
  if (unit == "h") return uint64_t{3600} * 1000 * 1000 * 1000;
  return std::nullopt;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The leading digits of `s` as a number (consumed); nullopt on overflow.
std::optional<uint64_t> LeadingInt(std::string_view& s) {
  uint64_t x = 0;
  size_t i = 0;
  for (; i < s.size() && IsDigit(s[i]); ++i) {
    if (x > kLimit / 10) return std::nullopt;
    x = x * 10 + static_cast<uint64_t>(s[i] - '0');
    if (x > kLimit) return std::nullopt;
  }
  s.remove_prefix(i);
  return x;
}

// The digits after a '.': their value and 10^count, as far as they fit
// (Go drops the digits that would overflow rather than failing).
void LeadingFraction(std::string_view& s, uint64_t& x, double& scale) {
  x = 0;
  scale = 1;
  bool overflow = false;
  size_t i = 0;
  for (; i < s.size() && IsDigit(s[i]); ++i) {
    if (overflow) continue;
    if (x > (kLimit - 1) / 10) {
      overflow = true;
      continue;
    }
    const uint64_t y = x * 10 + static_cast<uint64_t>(s[i] - '0');
    if (y > kLimit) {
      overflow = true;
      continue;
    }
    x = y;
    scale *= 10;
  }
  s.remove_prefix(i);
}

// Go's fmtFrac: the last `prec` digits of v as a fraction without trailing
// zeros (nothing when they are all zero); returns v without them.
uint64_t AppendFraction(std::string& rev_out, uint64_t v, int prec) {
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    const char digit = static_cast<char>('0' + v % 10);
    print = print || digit != '0';
    if (print) rev_out.push_back(digit);
    v /= 10;
  }
  if (print) rev_out.push_back('.');
  return v;
}

void AppendInt(std::string& rev_out, uint64_t v) {
  if (v == 0) {
    rev_out.push_back('0');
    return;
  }
  for (; v > 0; v /= 10) rev_out.push_back(static_cast<char>('0' + v % 10));
}

}  // namespace

absl::StatusOr<absl::Duration> ParseGoDuration(std::string_view text) {
  const auto invalid = [&] { return absl::InvalidArgumentError(absl::StrCat("time: invalid duration ", Quote(text))); };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return absl::ZeroDuration();
  if (s.empty()) return invalid();
  uint64_t total = 0;
  while (!s.empty()) {
    if (s[0] != '.' && !IsDigit(s[0])) return invalid();
    const size_t before = s.size();
    std::optional<uint64_t> v = LeadingInt(s);
    if (!v) return invalid();
    const bool pre = s.size() != before;
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      const size_t at = s.size();
      LeadingFraction(s, f, scale);
      post = s.size() != at;
    }
    if (!pre && !post) return invalid();
    size_t i = 0;
    while (i < s.size() && s[i] != '.' && !IsDigit(s[i])) ++i;
    if (i == 0) return absl::InvalidArgumentError(absl::StrCat("time: missing unit in duration ", Quote(text)));
    const std::string_view unit_text = s.substr(0, i);
    s.remove_prefix(i);
    std::optional<uint64_t> unit = UnitNanos(unit_text);
    if (!unit) {
      return absl::InvalidArgumentError(
          absl::StrCat("time: unknown unit ", Quote(unit_text), " in duration ", Quote(text)));
    }
    if (*v > kLimit / *unit) return invalid();
    uint64_t value = *v * *unit;
    if (f > 0) {
      value += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(*unit) / scale));
      if (value > kLimit) return invalid();
    }
    total += value;
    if (total > kLimit) return invalid();
  }
  if (negative) {
    // -2^63 fits where +2^63 does not.
    if (total == 0) return absl::ZeroDuration();
    return -absl::Nanoseconds(static_cast<int64_t>(total - 1)) - absl::Nanoseconds(1);
  }
  if (total > kLimit - 1) return invalid();
  return absl::Nanoseconds(static_cast<int64_t>(total));
}

std::string FormatGoDuration(absl::Duration d) {
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  if (ns == 0) return "0s";
  // Built backwards, as Go fills its buffer from the end.
  uint64_t u = ns < 0 ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
  std::string rev;
  if (u < 1000 * 1000 * 1000) {
    if (u < 1000) {
      rev = "sn";
    } else if (u < 1000 * 1000) {
      rev = "s\xB5\xC2";  // "µs", reversed byte by byte
      u = AppendFraction(rev, u, 3);
    } else {
      rev = "sm";
      u = AppendFraction(rev, u, 6);
    }
    AppendInt(rev, u);
  } else {
    rev = "s";
    u = AppendFraction(rev, u, 9);
    AppendInt(rev, u % 60);
    u /= 60;
    if (u > 0) {
      rev.push_back('m');
      AppendInt(rev, u % 60);
      u /= 60;
      if (u > 0) {
        rev.push_back('h');
        AppendInt(rev, u);
      }
    }
  }
  if (ns < 0) rev.push_back('-');
  return std::string(rev.rbegin(), rev.rend());
}

}  // namespace base
