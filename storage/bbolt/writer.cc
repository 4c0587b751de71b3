#include "storage/bbolt/writer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/bbolt/format.h"

namespace storage::bbolt {
namespace {

// One element of a node being built: a leaf's key/value (flags) or a
// branch's key and child page.
struct Item {
  std::string key;
  std::string value;
  uint32_t flags = 0;
  uint64_t pgid = 0;
};

size_t ItemSize(const Item& item) { return kElementSize + item.key.size() + item.value.size(); }

// A node as bbolt serializes it: header (id 0, no overflow: the caller
// patches both), the elements, then each element's key and value.
std::string EncodeNode(bool leaf, const std::vector<Item>& items) {
  size_t size = kPageHeaderSize;
  for (const Item& item : items) size += ItemSize(item);
  std::string node(size, '\0');
  EncodePageHeader(PageHeader{0, leaf ? kLeafPage : kBranchPage,
                              static_cast<uint16_t>(items.size()), 0},
                   node.data());
  size_t data = kPageHeaderSize + kElementSize * items.size();
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& item = items[i];
    char* elem = node.data() + kPageHeaderSize + kElementSize * i;
    uint32_t pos = static_cast<uint32_t>(data - (kPageHeaderSize + kElementSize * i));
    if (leaf) {
      PutU32(elem, item.flags);
      PutU32(elem + 4, pos);
      PutU32(elem + 8, static_cast<uint32_t>(item.key.size()));
      PutU32(elem + 12, static_cast<uint32_t>(item.value.size()));
    } else {
      PutU32(elem, pos);
      PutU32(elem + 4, static_cast<uint32_t>(item.key.size()));
      PutU64(elem + 8, item.pgid);
    }
    node.replace(data, item.key.size(), item.key);
    data += item.key.size();
    node.replace(data, item.value.size(), item.value);
    data += item.value.size();
  }
  return node;
}

std::string BucketHeader(uint64_t root) {
  std::string header(kBucketHeaderSize, '\0');
  PutU64(header.data(), root);  // the sequence (second u64) stays 0
  return header;
}

}  // namespace

struct Writer::Bucket {
  std::string name;  // its key in the parent bucket
  std::string last_key;
  bool any_key = false;
  std::vector<Item> leaf;  // the leaf being filled
  size_t leaf_bytes = kPageHeaderSize;
  bool spilled = false;     // a page of this bucket has been written
  bool has_nested = false;  // holds a nested bucket (never inline then)
  // levels[i]: the branch node being filled one level above levels[i-1]
  // (levels[0] holds the leaves' first keys); flushed[i]: a node of level i
  // has been written already.
  std::vector<std::vector<Item>> levels;
  std::vector<size_t> level_bytes;
  std::vector<bool> flushed;
};

Writer::Writer(PageSink* sink) : sink_(sink) { open_.push_back(std::make_unique<Bucket>()); }

Writer::~Writer() = default;

absl::Status Writer::Fail(absl::Status s) {
  if (status_.ok()) status_ = s;
  return s;
}

absl::StatusOr<uint64_t> Writer::WritePage(std::string node) {
  size_t pages = (node.size() + kPageSize - 1) / kPageSize;
  node.resize(pages * kPageSize, '\0');
  uint64_t pgid = next_pgid_;
  PageHeader h = DecodePageHeader(node.data());
  h.id = pgid;
  h.overflow = static_cast<uint32_t>(pages - 1);
  EncodePageHeader(h, node.data());
  if (absl::Status s = sink_->Append(pgid, node); !s.ok()) return Fail(s);
  next_pgid_ += pages;
  return pgid;
}

absl::Status Writer::CheckKey(Bucket* b, std::string_view key) {
  if (key.empty()) return Fail(absl::InvalidArgumentError("bbolt writer: empty key"));
  if (key.size() > kMaxKeySize) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("bbolt writer: key of ", key.size(), " bytes (limit ", kMaxKeySize, ")")));
  }
  if (b->any_key && key <= std::string_view(b->last_key)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "bbolt writer: key out of order in bucket '", Printable(b->name), "': '", Printable(key),
        "' after '", Printable(b->last_key), "'")));
  }
  b->last_key.assign(key);
  b->any_key = true;
  return absl::OkStatus();
}

absl::Status Writer::AddLeafItem(Bucket* b, std::string_view key, std::string_view value,
                                 uint32_t flags) {
  Item item{std::string(key), std::string(value), flags, 0};
  size_t size = ItemSize(item);
  bool full = b->leaf_bytes + size > kPageSize || b->leaf.size() >= kMaxElementsPerPage;
  if (!b->leaf.empty() && full) {
    if (absl::Status s = FlushLeaf(b); !s.ok()) return s;
  }
  b->leaf.push_back(std::move(item));
  b->leaf_bytes += size;
  return absl::OkStatus();
}

absl::Status Writer::FlushLeaf(Bucket* b) {
  absl::StatusOr<uint64_t> pgid = WritePage(EncodeNode(/*leaf=*/true, b->leaf));
  if (!pgid.ok()) return pgid.status();
  b->spilled = true;
  std::string first = b->leaf.empty() ? std::string() : std::move(b->leaf.front().key);
  b->leaf.clear();
  b->leaf_bytes = kPageHeaderSize;
  return AddBranch(b, 0, std::move(first), *pgid);
}

absl::Status Writer::AddBranch(Bucket* b, size_t level, std::string key, uint64_t pgid) {
  if (b->levels.size() <= level) {
    b->levels.resize(level + 1);
    b->level_bytes.resize(level + 1, kPageHeaderSize);
    b->flushed.resize(level + 1, false);
  }
  Item item{std::move(key), std::string(), 0, pgid};
  size_t size = ItemSize(item);
  // A branch node keeps at least two children (bbolt's minimum), even if
  // two long keys then make it span overflow pages.
  size_t count = b->levels[level].size();
  bool full = b->level_bytes[level] + size > kPageSize || count >= kMaxElementsPerPage;
  if (count >= 2 && full) {
    if (absl::Status s = FlushBranch(b, level); !s.ok()) return s;
  }
  b->levels[level].push_back(std::move(item));
  b->level_bytes[level] += size;
  return absl::OkStatus();
}

absl::Status Writer::FlushBranch(Bucket* b, size_t level) {
  absl::StatusOr<uint64_t> pgid = WritePage(EncodeNode(/*leaf=*/false, b->levels[level]));
  if (!pgid.ok()) return pgid.status();
  std::string first = std::move(b->levels[level].front().key);
  b->levels[level].clear();
  b->level_bytes[level] = kPageHeaderSize;
  b->flushed[level] = true;
  return AddBranch(b, level + 1, std::move(first), *pgid);
}

absl::StatusOr<uint64_t> Writer::FinishTree(Bucket* b) {
  // The leaf is empty only for a bucket without keys: it still needs its
  // one (empty) leaf page.
  if (!b->leaf.empty() || b->levels.empty()) {
    if (absl::Status s = FlushLeaf(b); !s.ok()) return s;
  }
  // Close each level bottom-up; the first level whose only node holds a
  // single child names the root.
  for (size_t level = 0;; ++level) {
    if (!b->flushed[level] && b->levels[level].size() == 1) return b->levels[level][0].pgid;
    if (absl::Status s = FlushBranch(b, level); !s.ok()) return s;
  }
}

absl::Status Writer::BeginBucket(std::string_view name) {
  if (!status_.ok()) return status_;
  if (finished_) return Fail(absl::FailedPreconditionError("bbolt writer: already finished"));
  Bucket* parent = open_.back().get();
  if (absl::Status s = CheckKey(parent, name); !s.ok()) return s;
  parent->has_nested = true;
  auto child = std::make_unique<Bucket>();
  child->name.assign(name);
  open_.push_back(std::move(child));
  return absl::OkStatus();
}

absl::Status Writer::Put(std::string_view key, std::string_view value) {
  if (!status_.ok()) return status_;
  if (finished_) return Fail(absl::FailedPreconditionError("bbolt writer: already finished"));
  Bucket* b = open_.back().get();
  if (open_.size() == 1) {
    return Fail(absl::InvalidArgumentError("bbolt writer: Put outside any bucket"));
  }
  if (absl::Status s = CheckKey(b, key); !s.ok()) return s;
  if (value.size() > kMaxValueSize) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("bbolt writer: value of ", value.size(), " bytes")));
  }
  return AddLeafItem(b, key, value, 0);
}

absl::Status Writer::EndBucket() {
  if (!status_.ok()) return status_;
  if (open_.size() < 2) return Fail(absl::FailedPreconditionError("bbolt writer: no open bucket"));
  std::unique_ptr<Bucket> b = std::move(open_.back());
  open_.pop_back();
  std::string value;
  if (!b->spilled && !b->has_nested && b->leaf_bytes <= kMaxInlineBucketSize) {
    value = BucketHeader(0) + EncodeNode(/*leaf=*/true, b->leaf);
  } else {
    absl::StatusOr<uint64_t> root = FinishTree(b.get());
    if (!root.ok()) return root.status();
    value = BucketHeader(*root);
  }
  return AddLeafItem(open_.back().get(), b->name, value, kBucketLeafFlag);
}

absl::StatusOr<std::string> Writer::Finish() {
  if (!status_.ok()) return status_;
  if (finished_ || open_.size() != 1) {
    return Fail(absl::FailedPreconditionError(
        "bbolt writer: Finish with a bucket still open (or twice)"));
  }
  finished_ = true;
  absl::StatusOr<uint64_t> root = FinishTree(open_.front().get());
  if (!root.ok()) return root.status();
  std::string freelist(kPageHeaderSize, '\0');
  EncodePageHeader(PageHeader{0, kFreelistPage, 0, 0}, freelist.data());
  absl::StatusOr<uint64_t> freelist_pgid = WritePage(std::move(freelist));
  if (!freelist_pgid.ok()) return freelist_pgid.status();
  Meta m;
  m.root = *root;
  m.freelist = *freelist_pgid;
  m.pgid = next_pgid_;
  m.txid = 2;
  std::string metas = MetaPage(m, 0, kPageSize);
  m.txid = 1;
  metas += MetaPage(m, 1, kPageSize);
  return metas;
}

}  // namespace storage::bbolt
