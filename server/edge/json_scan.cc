#include "server/edge/json_scan.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace server {
namespace {

// Go's scanner nests at most this deep.
constexpr size_t kMaxDepth = 10000;

bool IsSpace(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsHex(unsigned char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// One pass over one value, byte by byte, as Go's encoding/json scanner.
class Scanner {
 public:
  enum class Step { kContinue, kDone, kDoneBefore, kError };

  Step Feed(unsigned char c) {
    switch (state_) {
      case State::kBeginValue: return BeginValue(c);
      case State::kBeginStringOrEmpty:
        if (IsSpace(c)) return Step::kContinue;
        if (c == '}') {
          stack_.pop_back();
          return EndValue();
        }
        return BeginString(c);
      case State::kBeginString: return BeginString(c);
      case State::kBeginValueOrEmpty:
        if (IsSpace(c)) return Step::kContinue;
        if (c == ']') {
          stack_.pop_back();
          return EndValue();
        }
        return BeginValue(c);
      case State::kInString: return InString(c);
      case State::kInStringEsc:
        if (c == 'u') {
          state_ = State::kInStringHex;
          hex_left_ = 4;
          return Step::kContinue;
        }
        if (c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't' || c == '\\' || c == '/' || c == '"') {
          state_ = State::kInString;
          return Step::kContinue;
        }
        return Fail(c, "in string escape code");
      case State::kInStringHex:
        if (!IsHex(c)) return Fail(c, "in \\u hexadecimal character escape");
        if (--hex_left_ == 0) state_ = State::kInString;
        return Step::kContinue;
      case State::kNeg:
        if (c == '0') return To(State::kZero);
        if (IsDigit(c)) return To(State::kDigits);
        return Fail(c, "in numeric literal");
      case State::kDigits:
        if (IsDigit(c)) return Step::kContinue;
        return AfterZero(c);
      case State::kZero: return AfterZero(c);
      case State::kDot:
        if (IsDigit(c)) return To(State::kDotDigits);
        return Fail(c, "after decimal point in numeric literal");
      case State::kDotDigits:
        if (IsDigit(c)) return Step::kContinue;
        if (c == 'e' || c == 'E') return To(State::kExp);
        return EndNumber(c);
      case State::kExp:
        if (c == '+' || c == '-') return To(State::kExpSign);
        return ExpSign(c);
      case State::kExpSign: return ExpSign(c);
      case State::kExpDigits:
        if (IsDigit(c)) return Step::kContinue;
        return EndNumber(c);
      case State::kLiteral:
        if (c != *literal_left_) {
          return Fail(c, absl::StrCat("in literal ", literal_, " (expecting ", GoQuoteChar(*literal_left_), ")"));
        }
        if (*++literal_left_ == '\0') return EndValue();
        return Step::kContinue;
      case State::kEndValue: return AfterValue(c);
    }
    return Step::kError;
  }

  // True when the bytes fed so far end a whole value (a number at the end).
  bool CompleteAtEnd() const {
    return stack_.empty() && (state_ == State::kZero || state_ == State::kDigits ||
                              state_ == State::kDotDigits || state_ == State::kExpDigits);
  }
  bool started() const { return started_; }
  const std::string& error() const { return error_; }

 private:
  enum class State {
    kBeginValue, kBeginStringOrEmpty, kBeginString, kBeginValueOrEmpty, kInString, kInStringEsc,
    kInStringHex, kNeg, kZero, kDigits, kDot, kDotDigits, kExp, kExpSign, kExpDigits, kLiteral, kEndValue,
  };
  enum class Nest { kObjectKey, kObjectValue, kArray };

  Step To(State s) {
    state_ = s;
    return Step::kContinue;
  }
  Step Fail(unsigned char c, absl::string_view context) {
    error_ = absl::StrCat("invalid character ", GoQuoteChar(c), " ", context);
    return Step::kError;
  }
  Step Push(Nest n, State next) {
    if (stack_.size() >= kMaxDepth) {
      error_ = "exceeded max depth";
      return Step::kError;
    }
    stack_.push_back(n);
    return To(next);
  }
  Step BeginValue(unsigned char c) {
    if (IsSpace(c)) return Step::kContinue;
    started_ = true;
    switch (c) {
      case '{': return Push(Nest::kObjectKey, State::kBeginStringOrEmpty);
      case '[': return Push(Nest::kArray, State::kBeginValueOrEmpty);
      case '"': return To(State::kInString);
      case '-': return To(State::kNeg);
      case '0': return To(State::kZero);
      case 't': return Literal("true");
      case 'f': return Literal("false");
      case 'n': return Literal("null");
      default: break;
    }
    if (IsDigit(c)) return To(State::kDigits);
    return Fail(c, "looking for beginning of value");
  }
  Step Literal(const char* word) {
    literal_ = word;
    literal_left_ = word + 1;
    return To(State::kLiteral);
  }
  Step BeginString(unsigned char c) {
    if (IsSpace(c)) return Step::kContinue;
    if (c == '"') return To(State::kInString);
    return Fail(c, "looking for beginning of object key string");
  }
  Step InString(unsigned char c) {
    if (c == '"') return EndValue();
    if (c == '\\') return To(State::kInStringEsc);
    if (c < 0x20) return Fail(c, "in string literal");
    return Step::kContinue;
  }
  Step AfterZero(unsigned char c) {
    if (c == '.') return To(State::kDot);
    if (c == 'e' || c == 'E') return To(State::kExp);
    return EndNumber(c);
  }
  Step ExpSign(unsigned char c) {
    if (IsDigit(c)) return To(State::kExpDigits);
    return Fail(c, "in exponent of numeric literal");
  }
  // A number ends at the first byte that is not part of it, which belongs
  // to what follows.
  Step EndNumber(unsigned char c) {
    if (stack_.empty()) return Step::kDoneBefore;
    state_ = State::kEndValue;
    return AfterValue(c);
  }
  // A value just ended (its last byte was consumed).
  Step EndValue() {
    if (stack_.empty()) return Step::kDone;
    return To(State::kEndValue);
  }
  Step AfterValue(unsigned char c) {
    if (IsSpace(c)) return Step::kContinue;
    switch (stack_.back()) {
      case Nest::kObjectKey:
        if (c == ':') {
          stack_.back() = Nest::kObjectValue;
          return To(State::kBeginValue);
        }
        return Fail(c, "after object key");
      case Nest::kObjectValue:
        if (c == ',') {
          stack_.back() = Nest::kObjectKey;
          return To(State::kBeginString);
        }
        if (c == '}') {
          stack_.pop_back();
          return EndValue();
        }
        return Fail(c, "after object key:value pair");
      case Nest::kArray:
        if (c == ',') return To(State::kBeginValue);
        if (c == ']') {
          stack_.pop_back();
          return EndValue();
        }
        return Fail(c, "after array element");
    }
    return Step::kError;
  }

  State state_ = State::kBeginValue;
  std::vector<Nest> stack_;
  const char* literal_ = "";
  const char* literal_left_ = "";
  int hex_left_ = 0;
  bool started_ = false;
  std::string error_;
};

}  // namespace

std::string GoQuoteChar(unsigned char c) {
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  switch (c) {
    case '\a': return "'\\a'";
    case '\b': return "'\\b'";
    case '\f': return "'\\f'";
    case '\n': return "'\\n'";
    case '\r': return "'\\r'";
    case '\t': return "'\\t'";
    case '\v': return "'\\v'";
    case '\\': return "'\\\\'";
    default: break;
  }
  if (c < 0x20 || c == 0x7f) return absl::StrCat("'\\x", absl::Hex(c, absl::kZeroPad2), "'");
  if (c < 0x80) return std::string{'\'', static_cast<char>(c), '\''};
  // Go quotes the byte as the rune U+00XX: printable ones as UTF-8.
  if (c < 0xa0 || c == 0xad) return absl::StrCat("'\\u00", absl::Hex(c, absl::kZeroPad2), "'");
  return std::string{'\'', static_cast<char>(0xc0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3f)), '\''};
}

absl::StatusOr<std::optional<absl::string_view>> NextJsonValue(absl::string_view text, size_t* offset) {
  Scanner scanner;
  size_t begin = absl::string_view::npos;
  for (size_t i = *offset; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const Scanner::Step step = scanner.Feed(c);
    if (begin == absl::string_view::npos && scanner.started()) begin = i;
    switch (step) {
      case Scanner::Step::kContinue: continue;
      case Scanner::Step::kError: return absl::InvalidArgumentError(scanner.error());
      case Scanner::Step::kDone:
        *offset = i + 1;
        return text.substr(begin, i + 1 - begin);
      case Scanner::Step::kDoneBefore:
        *offset = i;
        return text.substr(begin, i - begin);
    }
  }
  if (!scanner.started()) {
    *offset = text.size();
    return std::nullopt;
  }
  if (scanner.CompleteAtEnd()) {
    *offset = text.size();
    return text.substr(begin);
  }
  return absl::InvalidArgumentError("unexpected EOF");
}

}  // namespace server
