// The store on a failing disk: a write RocksDB cannot make comes back to the
// caller as an error (the apply loop then stops the member with a fatal line
// that names it) instead of aborting inside RocksDB, and the store reopens
// with exactly what was committed before the failure.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <limits>
#include <thread>
#include <unistd.h>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "base/logger.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "storage/mvcc_store.h"
#include "tests/common/temp_dir.h"

namespace {

using ketcd_test::TempDir;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

// Fails every append and sync while *fail is set (EIO or ENOSPC), as a
// dying or full disk does; every file RocksDB writes (WAL, tables, MANIFEST,
// its info LOG if it keeps one) goes through it.
class FailingFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FailingFile(std::unique_ptr<rocksdb::FSWritableFile> f, const std::atomic<int>* fail)
      : FSWritableFileOwnerWrapper(std::move(f)), fail_(fail) {}
  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* d) override {
    if (IOStatus s = Injected(); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, o, d);
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const rocksdb::DataVerificationInfo& v,
                  IODebugContext* d) override {
    if (IOStatus s = Injected(); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Append(data, o, v, d);
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* d) override {
    if (IOStatus s = Injected(); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Sync(o, d);
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* d) override {
    if (IOStatus s = Injected(); !s.ok()) return s;
    return FSWritableFileOwnerWrapper::Fsync(o, d);
  }

 private:
  IOStatus Injected() const {
    switch (fail_->load()) {
      case ENOSPC: return IOStatus::NoSpace("injected", "No space left on device");
      case EIO: return IOStatus::IOError("injected", "Input/output error");
      default: return IOStatus::OK();
    }
  }
  const std::atomic<int>* fail_;
};

class FailingFs : public rocksdb::FileSystemWrapper {
 public:
  FailingFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FailingFs"; }
  IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& fo,
                           std::unique_ptr<rocksdb::FSWritableFile>* out,
                           IODebugContext* d) override {
    IOStatus s = FileSystemWrapper::NewWritableFile(name, fo, out, d);
    if (s.ok()) *out = std::make_unique<FailingFile>(std::move(*out), &fail);
    return s;
  }
  IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& fo,
                              std::unique_ptr<rocksdb::FSWritableFile>* out,
                              IODebugContext* d) override {
    IOStatus s = FileSystemWrapper::ReopenWritableFile(name, fo, out, d);
    if (s.ok()) *out = std::make_unique<FailingFile>(std::move(*out), &fail);
    return s;
  }
  // RocksDB's info LOG, written (as RocksDB's own file systems write it)
  // through this file system, so that it fails with the disk too.
  IOStatus NewLogger(const std::string& name, const IOOptions&,
                     std::shared_ptr<rocksdb::Logger>* out, IODebugContext*) override {
    rocksdb::Status s = rocksdb::NewEnvLogger(name, env, out);
    return s.ok() ? IOStatus::OK() : IOStatus::IOError(s.ToString());
  }
  std::atomic<int> fail{0};
  rocksdb::Env* env = nullptr;  // the Env over this file system
};

absl::Status PutAt(storage::MvccStore& store, const std::string& key, uint64_t index, bool sync) {
  auto wb = store.Write();
  auto t = wb->BeginTxn();
  if (auto s = t.Put(key, "v", 0); !s.ok()) return s.status();
  wb->EndTxn(t);
  return wb->Commit(index, sync);
}

}  // namespace

TEST_CASE("A failed store write is returned, not an abort, and nothing half-written stays",
          "[storage][io-error]") {
  const int err = GENERATE(EIO, ENOSPC);
  const bool sync = GENERATE(false, true);
  INFO("errno " << err << (sync ? ", synced write" : ", unsynced write"));
  TempDir dir;
  const std::string path = dir.Sub("db");
  auto fs = std::make_shared<FailingFs>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  fs->env = env.get();
  {
    storage::MvccStoreOptions opts;
    opts.env = env.get();
    auto store = storage::MvccStore::Open(path, opts);
    REQUIRE(store.ok());
    REQUIRE(PutAt(**store, "a", 1, sync).ok());
    fs->fail = err;
    absl::Status s = PutAt(**store, "b", 2, sync);
    CHECK_FALSE(s.ok());
    CHECK((*store)->AppliedIndex() == 1);
    fs->fail = 0;
  }
  auto store = storage::MvccStore::Open(path);
  REQUIRE(store.ok());
  CHECK((*store)->AppliedIndex() == 1);
  CHECK((*store)->Rev() == 2);
  REQUIRE(PutAt(**store, "b", 2, sync).ok());
  CHECK((*store)->Rev() == 3);
}

TEST_CASE("A failed compaction step is retried after a pause instead of spinning",
          "[storage][io-error]") {
  TempDir dir;
  auto fs = std::make_shared<FailingFs>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  fs->env = env.get();
  base::RealClock clock;
  FILE* log = std::tmpfile();
  REQUIRE(log != nullptr);
  base::Logger logger(&clock, base::LogFormat::kText, base::LogLevel::kInfo, log);
  storage::MvccStoreOptions opts;
  opts.env = env.get();
  opts.logger = &logger;
  auto store = storage::MvccStore::Open(dir.Sub("db"), opts);
  REQUIRE(store.ok());
  REQUIRE(PutAt(**store, "a", 1, false).ok());
  REQUIRE(PutAt(**store, "a", 2, false).ok());  // revision 2 is now garbage below 3
  (*store)->SetCompactionHold(0);  // the compactor waits until the disk fails
  {
    auto wb = (*store)->Write();
    REQUIRE(wb->Compact(3).ok());
    REQUIRE(wb->Commit(3, false).ok());
  }
  // The log's "compaction failed" lines so far (read without moving the
  // writer's position).
  auto failures_logged = [log] {
    std::fflush(log);
    std::string text;
    char buf[4096];
    for (off_t at = 0;;) {
      const ssize_t n = ::pread(fileno(log), buf, sizeof(buf), at);
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
      at += n;
    }
    int count = 0;
    for (size_t at = text.find("compaction failed"); at != std::string::npos;
         at = text.find("compaction failed", at + 1)) {
      ++count;
    }
    return count;
  };
  fs->fail = EIO;
  (*store)->SetCompactionHold(std::numeric_limits<int64_t>::max());
  for (int i = 0; i < 1000 && failures_logged() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a spinning retry would log thousands
  const int failures = failures_logged();
  fs->fail = 0;
  // One failed attempt, reported once (not a retry loop at full speed), and
  // the compaction not counted as done.
  CHECK(failures == 1);
  CHECK((*store)->PhysicallyCompactedRev() < 3);
  store->reset();  // closes with the compactor waiting
  std::fclose(log);  // the logger's file: not before the store is gone
  // Reopened on a working disk, the compaction is redone.
  auto again = storage::MvccStore::Open(dir.Sub("db"));
  REQUIRE(again.ok());
  (*again)->WaitCompacted(3);
  CHECK((*again)->PhysicallyCompactedRev() == 3);
}
