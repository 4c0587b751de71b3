#include "tools/snapshot_restore.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/etcd_url.h"
#include "storage/etcd_backup.h"
#include "storage/identity.h"
#include "tools/etcdctl_cli.h"
#include "tools/progress.h"

namespace tools {
namespace {

using UrlsMap = std::map<std::string, std::vector<std::string>>;  // name -> sorted URLs

using base::GoQuote;

// Go's %q of a []string: ["a" "b"].
std::string GoQuoteSlice(const std::vector<std::string>& v) {
  std::vector<std::string> quoted;
  for (const auto& s : v) quoted.push_back(GoQuote(s));
  return "[" + absl::StrJoin(quoted, " ") + "]";
}

// One peer URL checked as etcd's types.NewURLs checks it; the URL as etcd
// prints it (the text, trimmed).
absl::StatusOr<std::string> CheckUrl(const std::string& raw) {
  auto url = base::ParseEtcdUrl(raw);
  if (!url.ok()) return url.status();
  return url->text;
}

absl::StatusOr<std::vector<std::string>> CheckUrls(const std::vector<std::string>& raw) {
  if (raw.empty()) return absl::InvalidArgumentError("no valid URLs given");
  std::vector<std::string> urls;
  for (const auto& r : raw) {
    auto u = CheckUrl(r);
    if (!u.ok()) return u.status();
    urls.push_back(*u);
  }
  std::sort(urls.begin(), urls.end());
  return urls;
}

// etcd's types.NewURLsMap: "name=url,name=url", a name given twice has
// both URLs, an entry without '=' is a name with an empty URL.
absl::StatusOr<UrlsMap> ParseInitialCluster(const std::string& text) {
  std::map<std::string, std::vector<std::string>> raw;
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    raw[kv.first].push_back(kv.second);
  }
  UrlsMap out;
  for (const auto& [name, urls] : raw) {
    auto checked = CheckUrls(urls);
    if (!checked.ok()) return checked.status();
    out[name] = *checked;
  }
  return out;
}

std::string NamedUrls(const std::string& name, const std::vector<std::string>& urls) {
  std::vector<std::string> pairs;
  for (const auto& u : urls) pairs.push_back(name + "=" + u);
  std::sort(pairs.begin(), pairs.end());
  return absl::StrJoin(pairs, ",");
}

// etcd's ServerConfig.advertiseMatchesCluster, comparing URLs as text.
absl::Status AdvertiseMatchesCluster(const std::string& name, const std::vector<std::string>& cluster_urls,
                                     const std::vector<std::string>& advertised) {
  if (cluster_urls == advertised) return absl::OkStatus();
  std::string why;
  if (cluster_urls.size() != advertised.size()) {
    why = absl::StrCat("len(", GoQuoteSlice(advertised), ") != len(", GoQuoteSlice(cluster_urls), ")");
  } else {
    for (size_t i = 0; i < advertised.size(); ++i) {
      if (advertised[i] == cluster_urls[i]) continue;
      why = absl::StrCat("resolved urls: ", GoQuote(advertised[i]), " != ", GoQuote(cluster_urls[i]));
      break;
    }
  }
  const std::set<std::string> in_cluster(cluster_urls.begin(), cluster_urls.end());
  const std::set<std::string> in_advertised(advertised.begin(), advertised.end());
  const std::string ap = absl::StrJoin(advertised, ",");
  std::vector<std::string> missing;
  for (const auto& u : in_cluster) {
    if (!in_advertised.count(u)) missing.push_back(name + "=" + u);
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--initial-cluster has ", absl::StrJoin(missing, ","),
                                                   " but missing from --initial-advertise-peer-urls=", ap,
                                                   " (", why, ")"));
  }
  for (const auto& u : in_advertised) {
    if (!in_cluster.count(u)) missing.push_back(u);
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--initial-advertise-peer-urls has ",
                                                   absl::StrJoin(missing, ","), " but missing from --initial-cluster=",
                                                   NamedUrls(name, advertised)));
  }
  return absl::InvalidArgumentError(absl::StrCat("failed to resolve ", ap, " to match --initial-cluster=",
                                                 NamedUrls(name, advertised), " (", why, ")"));
}

bool HasDuplicateUrl(const UrlsMap& cluster) {
  std::set<std::string> seen;
  for (const auto& [name, urls] : cluster) {
    for (const auto& u : urls) {
      if (!seen.insert(u).second) return true;
    }
  }
  return false;
}

// etcd's URLsMap.String(): every name=url, sorted.
std::string ClusterString(const UrlsMap& cluster) {
  std::vector<std::string> pairs;
  for (const auto& [name, urls] : cluster) {
    for (const auto& u : urls) pairs.push_back(name + "=" + u);
  }
  std::sort(pairs.begin(), pairs.end());
  return absl::StrJoin(pairs, ",");
}

// A backup file that cannot be opened fails as etcdctl's os.OpenFile does.
absl::Status CheckReadable(const std::string& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("open ", file, ": ", GoErrnoText(errno)));
  ::close(fd);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<storage::RestoreTarget> PlanRestore(const RestoreOptions& o) {
  if (!o.wal_dir.empty()) {
    return absl::InvalidArgumentError("--wal-dir is not supported: ketcd keeps its WAL in --data-dir");
  }
  auto advertised = CheckUrls(absl::StrSplit(o.initial_advertise_peer_urls, ','));
  if (!advertised.ok()) return advertised.status();
  auto cluster = ParseInitialCluster(o.initial_cluster);
  if (!cluster.ok()) return cluster.status();
  auto self = cluster->find(o.name);
  if (self == cluster->end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("couldn't find local name ", GoQuote(o.name), " in the initial cluster configuration"));
  }
  if (auto s = AdvertiseMatchesCluster(o.name, self->second, *advertised); !s.ok()) return s;
  if (HasDuplicateUrl(*cluster)) {
    return absl::InvalidArgumentError(
        absl::StrCat("initial cluster ", ClusterString(*cluster), " has duplicate url"));
  }
  storage::RestoreTarget t;
  t.data_dir = o.data_dir.empty() ? o.name + ".etcd" : o.data_dir;
  for (const auto& [name, urls] : *cluster) {
    t.members.push_back(storage::FoundingMember(name, urls, o.initial_cluster_token));
  }
  // In id order, as etcd lists them: every member restored with the same
  // flags writes the same bootstrap entries, whatever the flags' order.
  std::sort(t.members.begin(), t.members.end(),
            [](const auto& a, const auto& b) { return a.member_id() < b.member_id(); });
  for (size_t i = 1; i < t.members.size(); ++i) {
    if (t.members[i].member_id() == t.members[i - 1].member_id()) {
      return absl::InvalidArgumentError(
          absl::StrCat("member exists with identical ID ", absl::Hex(t.members[i].member_id())));
    }
  }
  t.identity = storage::FoundingIdentity(t.members, o.name);
  return t;
}

absl::Status RestoreSnapshot(const std::string& file, const RestoreOptions& options, base::Logger& logger) {
  auto target = PlanRestore(options);
  if (!target.ok()) return target.status();
  if (auto s = storage::CheckRestoreTarget(target->data_dir); !s.ok()) return s;
  const std::string wal_dir = target->data_dir + "/member/wal";
  logger.Info("restoring snapshot", {{"path", file}, {"wal-dir", wal_dir}, {"data-dir", target->data_dir}});
  if (auto s = CheckReadable(file); !s.ok()) return s;
  storage::BackupReadOptions read_options;
  read_options.skip_hash_check = options.skip_hash_check;
  auto backup = storage::BackupReader::Open(file, read_options);
  if (!backup.ok()) return backup.status();

  absl::StatusOr<storage::RestoreSummary> summary;
  {
    ProgressLine progress;  // ended before the next log line
    int64_t written = 0;
    uint64_t written_bytes = 0;
    summary = storage::RestoreDataDir(**backup, *target, [&](int64_t revisions, uint64_t bytes) {
      written = revisions;
      written_bytes = bytes;
      progress.Update(bytes, std::nullopt, absl::StrCat(", ", revisions, " revisions"));
    });
    progress.Update(written_bytes, std::nullopt, absl::StrCat(", ", written, " revisions"), /*last=*/true);
  }
  if (!summary.ok()) return summary.status();
  for (const auto& m : target->members) {
    logger.Info("added member", {base::HexId("cluster-id", target->identity.cluster_id),
                                 base::HexId("local-member-id", target->identity.member_id),
                                 base::HexId("added-peer-id", m.member_id()),
                                 {"added-peer-name", m.name()},
                                 {"added-peer-peer-urls", absl::StrJoin(m.peer_urls(), ",")}});
  }
  logger.Info("restored snapshot", {{"path", file},
                                    {"wal-dir", wal_dir},
                                    {"data-dir", target->data_dir},
                                    {"revision", summary->revision},
                                    {"compact-revision", summary->compact_rev},
                                    {"key-revisions", summary->revisions},
                                    {"leases", static_cast<uint64_t>(summary->leases)},
                                    {"auth-users", static_cast<uint64_t>(summary->users)},
                                    {"auth-roles", static_cast<uint64_t>(summary->roles)},
                                    {"alarms", static_cast<uint64_t>(summary->alarms)}});
  return absl::OkStatus();
}

}  // namespace tools
