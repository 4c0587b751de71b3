#include "storage/bbolt/reader.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace storage::bbolt {
namespace {

// Deeper than any real tree (bbolt's trees of a few TiB are < 10 levels):
// a bound on recursion for a corrupt file.
constexpr int kMaxDepth = 64;

absl::Status Corrupt(std::string_view where, std::string_view why) {
  return absl::DataLossError(absl::StrCat("bbolt: ", std::string(where), ": ", std::string(why)));
}

std::string PageName(uint64_t pgid) { return absl::StrCat("page ", pgid); }

std::string_view PageType(uint16_t flags) {
  switch (flags) {
    case kBranchPage: return "branch";
    case kLeafPage: return "leaf";
    case kMetaPage: return "meta";
    case kFreelistPage: return "freelist";
    default: return "unknown";
  }
}

// One element of a branch or leaf page, pointing into the page's bytes.
struct Element {
  uint32_t flags = 0;
  std::string_view key;
  std::string_view value;
  uint64_t pgid = 0;
};

absl::Status ParseElements(std::string_view page, bool leaf, std::string_view where,
                           std::vector<Element>* out) {
  out->clear();
  if (page.size() < kPageHeaderSize) return Corrupt(where, "shorter than a page header");
  PageHeader h = DecodePageHeader(page.data());
  if (kPageHeaderSize + uint64_t{h.count} * kElementSize > page.size()) {
    return Corrupt(where, absl::StrCat(h.count, " elements do not fit in ", page.size(), " bytes"));
  }
  out->reserve(h.count);
  for (size_t i = 0; i < h.count; ++i) {
    uint64_t at = kPageHeaderSize + i * kElementSize;
    const char* e = page.data() + at;
    Element el;
    uint64_t pos, ksize, vsize = 0;
    if (leaf) {
      el.flags = GetU32(e);
      pos = GetU32(e + 4);
      ksize = GetU32(e + 8);
      vsize = GetU32(e + 12);
    } else {
      pos = GetU32(e);
      ksize = GetU32(e + 4);
      el.pgid = GetU64(e + 8);
    }
    if (at + pos + ksize + vsize > page.size()) {
      return Corrupt(where, absl::StrCat("element ", i, " reaches past the page's end"));
    }
    if (ksize == 0) return Corrupt(where, absl::StrCat("element ", i, " has an empty key"));
    if ((el.flags & ~kBucketLeafFlag) != 0) {
      return Corrupt(where, absl::StrCat("element ", i, " has unknown flags ", el.flags));
    }
    el.key = page.substr(at + pos, ksize);
    el.value = page.substr(at + pos + ksize, vsize);
    out->push_back(el);
  }
  return absl::OkStatus();
}

// Keys of one bucket must come in strictly increasing order.
struct KeyOrder {
  std::string last;
  bool any = false;
  absl::Status Next(std::string_view key, std::string_view where) {
    if (any && key <= std::string_view(last)) {
      return Corrupt(where, absl::StrCat("key '", Printable(key), "' out of order after '",
                                         Printable(last), "'"));
    }
    last.assign(key);
    any = true;
    return absl::OkStatus();
  }
};

}  // namespace

struct Reader::BucketRef {
  uint64_t root = 0;        // 0: inline
  std::string inline_page;  // the inline leaf page when root == 0
};

struct Reader::Walk {
  std::vector<bool> reachable;  // by page id, below the high-water mark
  std::vector<bool> free;       // Check() only: the freelist's pages
  KeyOrder order;               // of the bucket being walked

  absl::Status Mark(uint64_t pgid, uint64_t span) {
    for (uint64_t id = pgid; id < pgid + span; ++id) {
      if (reachable[id]) return Corrupt(PageName(id), "referenced more than once");
      if (!free.empty() && free[id]) return Corrupt(PageName(id), "reachable but free");
      reachable[id] = true;
    }
    return absl::OkStatus();
  }
};

namespace {

absl::StatusOr<Reader::BucketRef> ParseBucketValue(std::string_view value, std::string_view where) {
  if (value.size() < kBucketHeaderSize) {
    return Corrupt(where, absl::StrCat("bucket value of ", value.size(), " bytes"));
  }
  Reader::BucketRef ref;
  ref.root = GetU64(value.data());
  if (ref.root == 0) {
    ref.inline_page.assign(value.substr(kBucketHeaderSize));
    if (ref.inline_page.size() < kPageHeaderSize) return Corrupt(where, "inline bucket too short");
    if (DecodePageHeader(ref.inline_page.data()).flags != kLeafPage) {
      return Corrupt(where, "inline bucket is not a leaf page");
    }
  }
  return ref;
}

// A candidate meta page: valid and within the file's length.
absl::StatusOr<Meta> ReadMeta(const File& file, uint64_t offset, uint64_t length,
                              std::string_view which) {
  if (offset + kPageHeaderSize + kMetaSize > length) {
    return Corrupt(which, absl::StrCat("truncated file (", length, " bytes)"));
  }
  std::string buf;
  if (absl::Status s = file.ReadAt(offset + kPageHeaderSize, kMetaSize, &buf); !s.ok()) return s;
  Meta m = DecodeMeta(buf.data());
  if (absl::Status s = ValidateMeta(m, which); !s.ok()) return s;
  if (m.pgid > length / m.page_size) {
    return Corrupt(which, absl::StrCat("truncated file: ", m.pgid, " pages of ", m.page_size,
                                       " bytes need ", m.pgid * m.page_size, " bytes, the file has ",
                                       length));
  }
  return m;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Reader>> Reader::Open(const std::string& path,
                                                     std::optional<uint64_t> length) {
  absl::StatusOr<File> file = File::OpenForRead(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<uint64_t> size = file->Size();
  if (!size.ok()) return size.status();
  uint64_t len = length.value_or(*size);
  if (len > *size) {
    return Corrupt(path, absl::StrCat("truncated file: ", *size, " bytes, expected ", len));
  }
  absl::StatusOr<Meta> m0 = ReadMeta(*file, 0, len, "meta page 0");
  // bbolt finds meta page 1 one page after meta page 0; without a valid
  // page 0, at the default page size.
  uint32_t page_size = m0.ok() ? m0->page_size : kPageSize;
  absl::StatusOr<Meta> m1 = ReadMeta(*file, page_size, len, "meta page 1");
  if (!m0.ok() && !m1.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": no valid meta page: ", m0.status().message(),
                                            "; ", m1.status().message()));
  }
  const Meta& m = !m1.ok() || (m0.ok() && m0->txid >= m1->txid) ? *m0 : *m1;
  return std::unique_ptr<Reader>(new Reader(std::move(*file), len, m));
}

absl::Status Reader::ReadPage(uint64_t pgid, uint16_t want_flags, std::string* page) const {
  const uint64_t ps = meta_.page_size;
  if (pgid < 2 || pgid >= meta_.pgid) {
    return Corrupt(PageName(pgid), absl::StrCat("out of range [2, ", meta_.pgid, ")"));
  }
  if (absl::Status s = file_.ReadAt(pgid * ps, ps, page); !s.ok()) return s;
  PageHeader h = DecodePageHeader(page->data());
  if (h.id != pgid) return Corrupt(PageName(pgid), absl::StrCat("header names page ", h.id));
  if ((h.flags & want_flags) == 0 || (h.flags & ~want_flags) != 0) {
    return Corrupt(PageName(pgid), absl::StrCat("unexpected page type ", std::string(PageType(h.flags)), " (",
                                                h.flags, ")"));
  }
  if (h.overflow >= meta_.pgid - pgid) {
    return Corrupt(PageName(pgid), absl::StrCat(h.overflow, " overflow pages pass the high-water mark ",
                                                meta_.pgid));
  }
  if (h.overflow > 0) {
    std::string rest;
    absl::Status s = file_.ReadAt((pgid + 1) * ps, h.overflow * ps, &rest);
    if (!s.ok()) return s;
    page->append(rest);
  }
  return absl::OkStatus();
}

absl::Status Reader::WalkPage(uint64_t pgid, int depth, const KeyRange& range, Walk* walk,
                              const Visitor& visit) const {
  if (depth > kMaxDepth) return Corrupt(PageName(pgid), "tree deeper than 64 levels");
  std::string page;
  if (absl::Status s = ReadPage(pgid, kBranchPage | kLeafPage, &page); !s.ok()) return s;
  PageHeader h = DecodePageHeader(page.data());
  if (absl::Status s = walk->Mark(pgid, uint64_t{h.overflow} + 1); !s.ok()) return s;
  bool leaf = h.flags == kLeafPage;
  std::string where = PageName(pgid);
  std::vector<Element> elems;
  if (absl::Status s = ParseElements(page, leaf, where, &elems); !s.ok()) return s;
  for (size_t i = 0; i < elems.size(); ++i) {
    const Element& e = elems[i];
    // Every key under a branch element lies between its key and the next
    // one's: what lets a lookup descend to it.
    if (e.key < range.low || (range.high && e.key >= *range.high)) {
      return Corrupt(where, absl::StrCat("key '", Printable(e.key),
                                         "' outside the range its parent branch gives"));
    }
    if (leaf) {
      if (absl::Status s = walk->order.Next(e.key, where); !s.ok()) return s;
      if (absl::Status s = visit(e.key, e.value, (e.flags & kBucketLeafFlag) != 0); !s.ok()) {
        return s;
      }
      continue;
    }
    if (i > 0 && e.key <= elems[i - 1].key) return Corrupt(where, "branch keys out of order");
    KeyRange child{e.key, i + 1 < elems.size() ? std::optional(elems[i + 1].key) : range.high};
    if (absl::Status s = WalkPage(e.pgid, depth + 1, child, walk, visit); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Reader::WalkBucket(const BucketRef& ref, Walk* walk, const Visitor& visit) const {
  walk->order = KeyOrder();
  if (ref.root != 0) return WalkPage(ref.root, 0, KeyRange{}, walk, visit);
  std::vector<Element> elems;
  absl::Status s = ParseElements(ref.inline_page, /*leaf=*/true, "inline bucket", &elems);
  for (size_t i = 0; s.ok() && i < elems.size(); ++i) {
    s = walk->order.Next(elems[i].key, "inline bucket");
    if (s.ok()) s = visit(elems[i].key, elems[i].value, (elems[i].flags & kBucketLeafFlag) != 0);
  }
  return s;
}

absl::StatusOr<std::optional<Reader::BucketRef>> Reader::Child(const BucketRef& parent,
                                                               std::string_view name) const {
  std::string page = parent.inline_page;
  uint64_t pgid = parent.root;
  std::vector<Element> elems;
  for (int depth = 0; depth <= kMaxDepth; ++depth) {
    if (pgid != 0) {
      if (absl::Status s = ReadPage(pgid, kBranchPage | kLeafPage, &page); !s.ok()) return s;
    }
    std::string where = pgid != 0 ? PageName(pgid) : std::string("inline bucket");
    bool leaf = DecodePageHeader(page.data()).flags == kLeafPage;
    if (absl::Status s = ParseElements(page, leaf, where, &elems); !s.ok()) return s;
    if (elems.empty()) return std::nullopt;
    if (leaf) {
      for (const Element& e : elems) {
        if (e.key != name) continue;
        if ((e.flags & kBucketLeafFlag) == 0) return std::nullopt;
        absl::StatusOr<BucketRef> ref = ParseBucketValue(e.value, where);
        if (!ref.ok()) return ref.status();
        return std::optional<BucketRef>(std::move(*ref));
      }
      return std::nullopt;
    }
    // The child to descend into: the last one whose first key is <= name.
    size_t idx = 0;
    while (idx + 1 < elems.size() && elems[idx + 1].key <= name) ++idx;
    pgid = elems[idx].pgid;
  }
  return Corrupt(PageName(pgid), "tree deeper than 64 levels");
}

absl::StatusOr<Reader::BucketRef> Reader::FindBucket(const std::vector<std::string>& path) const {
  BucketRef ref;
  ref.root = meta_.root;
  for (const std::string& name : path) {
    absl::StatusOr<std::optional<BucketRef>> child = Child(ref, name);
    if (!child.ok()) return child.status();
    if (!child->has_value()) {
      return absl::NotFoundError(absl::StrCat("bbolt: bucket '", Printable(name), "' not found"));
    }
    ref = std::move(**child);
  }
  return ref;
}

absl::Status Reader::ForEach(const std::vector<std::string>& path, const Visitor& visit) const {
  absl::StatusOr<BucketRef> ref = FindBucket(path);
  if (!ref.ok()) return ref.status();
  Walk walk;
  walk.reachable.assign(meta_.pgid, false);
  return WalkBucket(*ref, &walk, visit);
}

absl::StatusOr<bool> Reader::HasBucket(const std::vector<std::string>& path) const {
  absl::StatusOr<BucketRef> ref = FindBucket(path);
  if (absl::IsNotFound(ref.status())) return false;
  if (!ref.ok()) return ref.status();
  return true;
}

absl::Status Reader::ReadFreelist(Walk* walk) const {
  walk->free.assign(meta_.pgid, false);
  if (meta_.freelist == kNoFreelist) return absl::OkStatus();
  std::string page;
  if (absl::Status s = ReadPage(meta_.freelist, kFreelistPage, &page); !s.ok()) return s;
  PageHeader h = DecodePageHeader(page.data());
  std::string where = absl::StrCat("freelist ", PageName(meta_.freelist));
  uint64_t first = 0, count = h.count;
  if (h.count == 0xFFFF) {  // the real count is the first id slot
    if (page.size() < kPageHeaderSize + 8) return Corrupt(where, "missing its count");
    count = GetU64(page.data() + kPageHeaderSize);
    first = 1;
  }
  if (count > (page.size() - kPageHeaderSize) / 8 - first) {
    return Corrupt(where, absl::StrCat(count, " ids do not fit in the page"));
  }
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t id = GetU64(page.data() + kPageHeaderSize + 8 * (first + i));
    if (id < 2 || id >= meta_.pgid) {
      return Corrupt(where, absl::StrCat("free page ", id, " out of range [2, ", meta_.pgid, ")"));
    }
    if (walk->free[id]) return Corrupt(where, absl::StrCat("page ", id, " freed twice"));
    walk->free[id] = true;
  }
  return walk->Mark(meta_.freelist, uint64_t{h.overflow} + 1);
}

absl::Status Reader::CheckBucket(const BucketRef& ref, int depth, Walk* walk) const {
  if (depth > kMaxDepth) return Corrupt("bucket", "nested deeper than 64 levels");
  return WalkBucket(ref, walk, [&](std::string_view key, std::string_view value, bool is_bucket) {
    if (!is_bucket) return absl::OkStatus();
    absl::StatusOr<BucketRef> child = ParseBucketValue(value, Printable(key));
    if (!child.ok()) return child.status();
    KeyOrder saved = std::move(walk->order);
    absl::Status s = CheckBucket(*child, depth + 1, walk);
    walk->order = std::move(saved);
    return s;
  });
}

absl::Status Reader::Check() const {
  Walk walk;
  walk.reachable.assign(meta_.pgid, false);
  walk.reachable[0] = walk.reachable[1] = true;
  if (absl::Status s = ReadFreelist(&walk); !s.ok()) return s;
  BucketRef root;
  root.root = meta_.root;
  if (absl::Status s = CheckBucket(root, 0, &walk); !s.ok()) return s;
  // Without a stored freelist (etcd runs bbolt with NoFreelistSync), bbolt
  // takes every unreachable page as free.
  for (uint64_t id = 0; id < meta_.pgid && meta_.freelist != kNoFreelist; ++id) {
    if (!walk.reachable[id] && !walk.free[id]) {
      return Corrupt(PageName(id), "neither reachable nor free");
    }
  }
  return absl::OkStatus();
}

}  // namespace storage::bbolt
