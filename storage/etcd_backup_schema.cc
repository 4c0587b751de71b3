#include "storage/etcd_backup_schema.h"

#include "absl/strings/str_cat.h"

namespace storage::etcd_schema {
namespace {

void AppendU64BigEndian(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint64_t ReadU64BigEndian(std::string_view s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

// ---- JSON writing, as Go's encoding/json (HTML-safe) writes a string.

// The length of the valid UTF-8 sequence at s[i], 0 if it is not one
// (Go's utf8.DecodeRuneInString: no overlong forms, surrogates or > U+10FFFF).
size_t Utf8Length(std::string_view s, size_t i) {
  auto c = [&](size_t k) -> unsigned { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0; };
  auto cont = [&](size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return c(k) >= lo && c(k) <= hi && k < s.size();
  };
  unsigned b = c(i);
  if (b >= 0xC2 && b <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    unsigned lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    unsigned lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if (b == '"' || b == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(b));
      } else if (b == '\n' || b == '\r' || b == '\t') {
        out->append(b == '\n' ? "\\n" : b == '\r' ? "\\r" : "\\t");
      } else if (b < 0x20 || b == '<' || b == '>' || b == '&') {
        out->append("\\u00");
        out->push_back(kHex[b >> 4]);
        out->push_back(kHex[b & 0xF]);
      } else {
        out->push_back(static_cast<char>(b));
      }
      ++i;
      continue;
    }
    size_t n = Utf8Length(s, i);
    if (n == 0) {
      out->append("\\ufffd");
      ++i;
    } else if (s.substr(i, n) == "\xE2\x80\xA8" || s.substr(i, n) == "\xE2\x80\xA9") {
      out->append(s[i + 2] == '\xA8' ? "\\u2028" : "\\u2029");
      i += n;
    } else {
      out->append(s.substr(i, n));
      i += n;
    }
  }
  out->push_back('"');
}

void AppendJsonStrings(std::string* out, const std::vector<std::string>& list) {
  out->push_back('[');
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(out, list[i]);
  }
  out->push_back(']');
}

// ---- JSON reading: just enough for a member object.

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class JsonCursor {
 public:
  explicit JsonCursor(std::string_view s) : s_(s) {}

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("member JSON: ", std::string(what), " at byte ", i_));
  }
  void Space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool Eat(char c) {
    Space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool EatWord(std::string_view w) {
    Space();
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool AtEnd() {
    Space();
    return i_ == s_.size();
  }

  absl::StatusOr<uint32_t> Hex4() {
    if (i_ + 4 > s_.size()) return Error("short \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) return Error("bad \\u escape");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    return v;
  }

  absl::Status Escape(std::string* out) {
    if (i_ >= s_.size()) return Error("unterminated string");
    char c = s_[i_++];
    static constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
    if (size_t k = kFrom.find(c); k != std::string_view::npos) {
      out->push_back(kTo[k]);
      return absl::OkStatus();
    }
    if (c != 'u') return Error("bad escape");
    absl::StatusOr<uint32_t> cp = Hex4();
    if (!cp.ok()) return cp.status();
    if (*cp >= 0xD800 && *cp < 0xDC00 && s_.substr(i_, 2) == "\\u") {
      i_ += 2;
      absl::StatusOr<uint32_t> low = Hex4();
      if (!low.ok()) return low.status();
      if (*low < 0xDC00 || *low > 0xDFFF) return Error("bad surrogate pair");
      *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
    } else if (*cp >= 0xD800 && *cp < 0xE000) {
      *cp = 0xFFFD;
    }
    AppendUtf8(out, *cp);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String() {
    if (!Eat('"')) return Error("expected a string");
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        out.push_back(c);
      } else if (absl::Status s = Escape(&out); !s.ok()) {
        return s;
      }
    }
    if (!Eat('"')) return Error("unterminated string");
    return out;
  }

  absl::StatusOr<uint64_t> Uint() {
    Space();
    size_t start = i_;
    uint64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      uint64_t d = static_cast<uint64_t>(s_[i_++] - '0');
      if (v > (UINT64_MAX - d) / 10) return Error("number out of range");
      v = v * 10 + d;
    }
    if (i_ == start) return Error("expected an unsigned number");
    return v;
  }

  // null (Go's nil slice) or an array of strings.
  absl::StatusOr<std::vector<std::string>> Strings() {
    std::vector<std::string> out;
    if (EatWord("null")) return out;
    if (!Eat('[')) return Error("expected an array");
    if (Eat(']')) return out;
    do {
      absl::StatusOr<std::string> s = String();
      if (!s.ok()) return s.status();
      out.push_back(std::move(*s));
    } while (Eat(','));
    if (!Eat(']')) return Error("expected ']'");
    return out;
  }

  absl::StatusOr<bool> Bool() {
    if (EatWord("true")) return true;
    if (EatWord("false")) return false;
    return Error("expected true or false");
  }

  // Any JSON value (a field this reader does not know).
  absl::Status Skip(int depth = 0) {
    if (depth > 32) return Error("nested too deeply");
    Space();
    if (i_ >= s_.size()) return Error("unexpected end");
    char c = s_[i_];
    if (c == '"') return String().status();
    if (c == '[' || c == '{') {
      ++i_;
      char close = c == '[' ? ']' : '}';
      if (Eat(close)) return absl::OkStatus();
      do {
        if (c == '{') {
          if (absl::Status s = String().status(); !s.ok()) return s;
          if (!Eat(':')) return Error("expected ':'");
        }
        if (absl::Status s = Skip(depth + 1); !s.ok()) return s;
      } while (Eat(','));
      return Eat(close) ? absl::OkStatus() : Error("unterminated array or object");
    }
    size_t start = i_;
    while (i_ < s_.size() && std::string_view("+-.0123456789eEtruefalsn").find(s_[i_]) !=
                                 std::string_view::npos) {
      ++i_;
    }
    return i_ > start ? absl::OkStatus() : Error("unexpected character");
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

absl::Status ReadMemberField(JsonCursor* in, const std::string& name, BackupMember* m) {
  absl::Status s;
  if (name == "id") {
    absl::StatusOr<uint64_t> v = in->Uint();
    if (v.ok()) m->id = *v;
    s = v.status();
  } else if (name == "peerURLs" || name == "clientURLs") {
    absl::StatusOr<std::vector<std::string>> v = in->Strings();
    if (v.ok()) (name == "peerURLs" ? m->peer_urls : m->client_urls) = std::move(*v);
    s = v.status();
  } else if (name == "isLearner") {
    absl::StatusOr<bool> v = in->Bool();
    if (v.ok()) m->is_learner = *v;
    s = v.status();
  } else if (name == "name") {
    absl::StatusOr<std::string> v = in->String();
    if (v.ok()) m->name = std::move(*v);
    s = v.status();
  } else {
    s = in->Skip();
  }
  return s;
}

}  // namespace

std::string EncodeRevisionKey(Revision rev, bool tombstone) {
  std::string key;
  key.reserve(kRevisionKeySize + 1);
  AppendU64BigEndian(&key, static_cast<uint64_t>(rev.main));
  key.push_back('_');
  AppendU64BigEndian(&key, static_cast<uint64_t>(rev.sub));
  if (tombstone) key.push_back('t');
  return key;
}

std::optional<RevisionKey> DecodeRevisionKey(std::string_view key) {
  bool tombstone = key.size() == kRevisionKeySize + 1 && key.back() == 't';
  if ((key.size() != kRevisionKeySize && !tombstone) || key[8] != '_') return std::nullopt;
  Revision rev{static_cast<int64_t>(ReadU64BigEndian(key)),
               static_cast<int64_t>(ReadU64BigEndian(key.substr(9)))};
  return RevisionKey{rev, tombstone};
}

std::string EncodeU64BigEndian(uint64_t v) {
  std::string out;
  AppendU64BigEndian(&out, v);
  return out;
}

std::optional<uint64_t> DecodeU64BigEndian(std::string_view s) {
  if (s.size() != 8) return std::nullopt;
  return ReadU64BigEndian(s);
}

std::string EncodeMemberJson(const BackupMember& m) {
  std::string out = absl::StrCat("{\"id\":", m.id, ",\"peerURLs\":");
  if (m.peer_urls.empty()) {
    out += "null";
  } else {
    AppendJsonStrings(&out, m.peer_urls);
  }
  if (m.is_learner) out += ",\"isLearner\":true";
  if (!m.name.empty()) {
    out += ",\"name\":";
    AppendJsonString(&out, m.name);
  }
  if (!m.client_urls.empty()) {
    out += ",\"clientURLs\":";
    AppendJsonStrings(&out, m.client_urls);
  }
  out += "}";
  return out;
}

absl::StatusOr<BackupMember> DecodeMemberJson(std::string_view json) {
  JsonCursor in(json);
  BackupMember m;
  if (!in.Eat('{')) return in.Error("expected an object");
  if (!in.Eat('}')) {
    do {
      absl::StatusOr<std::string> name = in.String();
      if (!name.ok()) return name.status();
      if (!in.Eat(':')) return in.Error("expected ':'");
      if (absl::Status s = ReadMemberField(&in, *name, &m); !s.ok()) return s;
    } while (in.Eat(','));
    if (!in.Eat('}')) return in.Error("expected '}'");
  }
  if (!in.AtEnd()) return in.Error("trailing bytes");
  return m;
}

}  // namespace storage::etcd_schema
