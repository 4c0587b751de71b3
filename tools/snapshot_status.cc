#include "tools/snapshot_status.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/etcdctl_cli.h"

namespace tools {
namespace {

// etcdctl's makeDBStatusTable: the header and the one row.
std::vector<std::string> Header() { return {"hash", "revision", "total keys", "total size"}; }

std::vector<std::string> Row(const storage::BackupStatus& st) {
  return {absl::StrFormat("%x", st.hash), absl::StrCat(st.revision), absl::StrCat(st.total_keys),
          HumanizeBytes(static_cast<uint64_t>(st.total_size))};
}

std::string Upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

// tablewriter's Pad: centred, the odd space on the right.
std::string Centre(const std::string& s, size_t width) {
  size_t gap = width > s.size() ? width - s.size() : 0;
  return std::string(gap / 2, ' ') + s + std::string(gap - gap / 2, ' ');
}

std::string PadLeft(const std::string& s, size_t width) {
  return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
}

// tablewriter.Render with a header, one row, borders and ALIGN_RIGHT. The
// cells are ASCII and shorter than its 30-column wrap width.
std::string Table(const std::vector<std::string>& header, const std::vector<std::string>& row) {
  std::vector<size_t> width;
  for (size_t i = 0; i < header.size(); ++i) width.push_back(std::max(header[i].size(), row[i].size()));
  std::string line = "+";
  for (size_t w : width) line += std::string(w + 2, '-') + "+";
  line += "\n";
  std::string out = line + "|";
  for (size_t i = 0; i < header.size(); ++i) out += " " + Centre(Upper(header[i]), width[i]) + " |";
  out += "\n" + line + "|";
  for (size_t i = 0; i < row.size(); ++i) out += " " + PadLeft(row[i], width[i]) + " |";
  return out + "\n" + line;
}

}  // namespace

std::string HumanizeBytes(uint64_t bytes) {
  if (bytes < 10) return absl::StrCat(bytes, " B");
  static const char* const kSizes[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  // floor(log1000(bytes)), exactly (go-humanize uses math.Log; they agree
  // except at exact powers of 1000 that Go's log may round down).
  int e = 0;
  for (uint64_t p = 1000; e < 6 && bytes >= p; p *= 1000) {
    ++e;
    if (p > UINT64_MAX / 1000) break;
  }
  double val = std::floor(static_cast<double>(bytes) / std::pow(1000.0, e) * 10 + 0.5) / 10;
  return val < 10 ? absl::StrFormat("%.1f %s", val, kSizes[e]) : absl::StrFormat("%.0f %s", val, kSizes[e]);
}

bool FormatSnapshotStatus(const storage::BackupStatus& st, std::string_view format, std::string* out,
                          FormatError* error) {
  if (format == "simple") {
    std::vector<std::string> row = Row(st);
    *out = absl::StrCat(row[0], ", ", row[1], ", ", row[2], ", ", row[3], "\n");
  } else if (format == "table") {
    *out = Table(Header(), Row(st));
  } else if (format == "json") {
    *out = absl::StrFormat("{\"hash\":%u,\"revision\":%d,\"totalKey\":%d,\"totalSize\":%d}\n", st.hash,
                           st.revision, st.total_keys, st.total_size);
  } else if (format == "fields") {
    *out = absl::StrFormat("\"Hash\" : %u\n\"Revision\" : %d\n\"Keys\" : %d\n\"Size\" : %d\n", st.hash,
                           st.revision, st.total_keys, st.total_size);
  } else if (format == "protobuf") {
    *error = {kExitBadFeature, "protobuf not supported as output format"};
    return false;
  } else {
    *error = {kExitBadFeature, "unsupported output format"};
    return false;
  }
  return true;
}

absl::StatusOr<storage::BackupStatus> SnapshotStatus(const std::string& path, bool skip_hash_check) {
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) {  // etcdctl's os.Stat error first
    return absl::NotFoundError(absl::StrCat("stat ", path, ": ", GoErrnoText(errno)));
  }
  storage::BackupReadOptions options;
  options.skip_hash_check = skip_hash_check;
  absl::StatusOr<std::unique_ptr<storage::BackupReader>> reader = storage::BackupReader::Open(path, options);
  if (!reader.ok()) return reader.status();
  return (*reader)->Status();
}

}  // namespace tools
