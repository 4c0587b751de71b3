#include "storage/backup_source.h"

#include <map>
#include <memory>

#include <openssl/evp.h>

#include "serverpb/internal.pb.h"
#include "storage/auth_records.h"
#include "storage/meta_schema.h"

namespace storage {

absl::StatusOr<BackupFacts> BackupFactsFromView(const ReadView& view,
                                                const BackupSourceOptions& options) {
  BackupFacts facts;
  facts.consistent_index = view.AppliedIndex();
  facts.compact_rev = std::max<int64_t>(view.compact_rev(), 0);
  facts.cluster_version = options.cluster_version;
  for (const auto& [name, value] : view.ListMeta(kLeaseMetaPrefix)) {
    serverpb::LeaseRecord rec;
    if (!rec.ParseFromString(value)) return absl::DataLossError("backup: undecodable " + name);
    facts.leases.push_back({rec.id(), rec.ttl(), rec.remaining_ttl()});
  }
  std::map<uint64_t, BackupMember> members;
  for (const char* prefix : {kRaftMemberMetaPrefix, kMemberMetaPrefix}) {
    const bool published = std::string_view(prefix) == kMemberMetaPrefix;
    for (const auto& [name, value] : view.ListMeta(prefix)) {
      serverpb::MemberAttributes attrs;
      if (!attrs.ParseFromString(value)) return absl::DataLossError("backup: undecodable " + name);
      // A published member the raft configuration no longer holds is gone.
      if (published && !members.contains(attrs.member_id())) continue;
      BackupMember& m = members[attrs.member_id()];
      m.id = attrs.member_id();
      if (published) {
        m.name = attrs.name();
        m.client_urls.assign(attrs.client_urls().begin(), attrs.client_urls().end());
      } else {
        m.peer_urls.assign(attrs.peer_urls().begin(), attrs.peer_urls().end());
      }
    }
  }
  for (auto& [id, m] : members) facts.members.push_back(std::move(m));
  auto auth = ReadAuthRecords([&view](std::string_view prefix) { return view.ListMeta(prefix); });
  if (!auth.ok()) return auth.status();
  facts.auth = std::move(*auth);
  for (const auto& [name, value] : view.ListMeta(kAlarmMetaPrefix)) {
    std::optional<AlarmKey> key = DecodeAlarmMetaKey(name);
    if (!key) return absl::DataLossError("backup: undecodable " + name);
    etcdserverpb::AlarmMember& alarm = facts.alarms.emplace_back();
    alarm.set_memberid(key->member_id);
    alarm.set_alarm(static_cast<etcdserverpb::AlarmType>(key->alarm_type));
  }
  return facts;
}

RevisionSource RevisionSourceFromView(const ReadView& view) {
  return [&view](const RevisionVisitor& visit) {
    BackupRevision r;
    return view.ForEachKeptRevision(
        [&](Revision rev, bool tombstone, const mvccpb::KeyValue& kv) {
          r.rev = rev;
          r.tombstone = tombstone;
          r.kv = kv;
          return visit(r);
        });
  };
}

namespace {

// Cuts the bytes it is given into chunks for `emit` and hashes them.
class ChunkSink : public bbolt::PageSink {
 public:
  ChunkSink(uint64_t total, size_t chunk_size, const BackupChunkFn& emit)
      : total_(total), chunk_size_(chunk_size), emit_(emit), sha_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (sha_ == nullptr || EVP_DigestInit_ex(sha_.get(), EVP_sha256(), nullptr) != 1) sha_.reset();
    buf_.reserve(chunk_size_);
  }
  absl::Status Append(uint64_t, std::string_view pages) override { return Add(pages); }

  absl::Status Add(std::string_view bytes) {
    if (sha_ == nullptr) return absl::InternalError("backup: SHA-256 unavailable");
    while (!bytes.empty()) {
      const size_t n = std::min(bytes.size(), chunk_size_ - buf_.size());
      buf_.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
      if (buf_.size() == chunk_size_) {
        if (absl::Status s = Flush(); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }
  // Sends what is buffered, checks the size, then sends the hash.
  absl::Status Finish() {
    if (!buf_.empty()) {
      if (absl::Status s = Flush(); !s.ok()) return s;
    }
    if (sent_ != total_) return absl::InternalError("backup: the encoder's two runs differ in size");
    std::string digest(EVP_MAX_MD_SIZE, '\0');
    unsigned int size = 0;
    EVP_DigestFinal_ex(sha_.get(), reinterpret_cast<unsigned char*>(digest.data()), &size);
    digest.resize(size);
    return emit_(digest, 0);
  }

 private:
  absl::Status Flush() {
    sent_ += buf_.size();
    if (sent_ > total_) return absl::InternalError("backup: the encoder's two runs differ in size");
    EVP_DigestUpdate(sha_.get(), buf_.data(), buf_.size());
    absl::Status s = emit_(buf_, total_ - sent_);
    buf_.clear();
    return s;
  }
  const uint64_t total_;
  const size_t chunk_size_;
  const BackupChunkFn& emit_;
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> sha_;
  std::string buf_;
  uint64_t sent_ = 0;
};

}  // namespace

absl::Status StreamBackup(const ReadView& view, const BackupSourceOptions& options,
                          const BackupChunkFn& emit, size_t chunk_size) {
  absl::StatusOr<BackupFacts> facts = BackupFactsFromView(view, options);
  if (!facts.ok()) return facts.status();
  const RevisionSource revisions = RevisionSourceFromView(view);
  bbolt::CountingSink counting;
  absl::StatusOr<EncodedBackup> dry = EncodeBackup(*facts, revisions, &counting);
  if (!dry.ok()) return dry.status();
  ChunkSink sink(dry->size, chunk_size, emit);
  if (absl::Status s = sink.Add(dry->meta_pages); !s.ok()) return s;
  absl::StatusOr<EncodedBackup> real = EncodeBackup(*facts, revisions, &sink);
  if (!real.ok()) return real.status();
  if (real->meta_pages != dry->meta_pages) {
    return absl::InternalError("backup: the encoder's two runs differ");
  }
  return sink.Finish();
}

}  // namespace storage
