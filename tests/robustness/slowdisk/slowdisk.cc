// LD_PRELOAD shim for the robustness harness's `slow` fault (faults.py): a disk
// whose syncs are slow but succeed, which libfiu (the `disk` fault) cannot give
// since it only fails calls. fsync, fdatasync and sync_file_range (ketcd's WAL,
// RocksDB's WAL, tables, MANIFEST and directories) sleep for the configured
// delay, then call the real function (dlsym RTLD_NEXT: libc, or libfiu's
// preload when that one comes first in LD_PRELOAD, so the two chain).
//
// Control: $KETCD_SLOWDISK_CTL names a file of at least kCtlSize bytes the
// harness creates, mapped MAP_SHARED here, so a sync pays one atomic load when
// the fault is off and the harness's pwrite of the delay is seen by the next
// call (the page cache is shared with the mapping). Little-endian layout:
//   0   u32 delay in ms per sync call (0: off; clamped to kMaxDelayMs)
//   8   u64 calls seen      [fsync, fdatasync, sync_file_range]
//   32  u64 calls delayed   [fsync, fdatasync, sync_file_range]
//   56  u64 ms slept in all
// The counters live in the file, so they survive a restart of the member and
// the harness reads them with a plain read. Without the variable, or with a
// file it cannot map, the shim only forwards the calls.
//
// Process-wide state: a preload shim has no owner to inject it into. It is
// kept to the three real-function pointers and the mapping's address, written
// once under pthread_once (which orders them before every reader); the
// counters are atomic read-modify-writes on the shared mapping.
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <ctime>

namespace {

constexpr size_t kCtlSize = 64;
constexpr uint32_t kMaxDelayMs = 10000;  // a torn or stray value must not hang a member
enum Call { kFsync = 0, kFdatasync = 1, kSyncFileRange = 2 };

struct Ctl {
  uint32_t delay_ms;
  uint32_t reserved;
  uint64_t calls[3];
  uint64_t delayed[3];
  uint64_t slept_ms;
};
static_assert(sizeof(Ctl) <= kCtlSize);

using SyncFn = int (*)(int);
using RangeFn = int (*)(int, off64_t, off64_t, unsigned int);

struct Shim {
  SyncFn fsync = nullptr;
  SyncFn fdatasync = nullptr;
  RangeFn sync_file_range = nullptr;
  Ctl* ctl = nullptr;
};

Shim shim;  // see the header: written once, under init_once
pthread_once_t init_once = PTHREAD_ONCE_INIT;

void Init() {
  shim.fsync = reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, "fsync"));
  shim.fdatasync = reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, "fdatasync"));
  shim.sync_file_range = reinterpret_cast<RangeFn>(dlsym(RTLD_NEXT, "sync_file_range"));
  const char* path = getenv("KETCD_SLOWDISK_CTL");
  if (path == nullptr || *path == '\0') return;
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0 && static_cast<size_t>(st.st_size) >= kCtlSize) {
    void* p = mmap(nullptr, kCtlSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) shim.ctl = static_cast<Ctl*>(p);
  }
  close(fd);  // the mapping stays
}

// Counts the call and sleeps for the configured delay (if any); the caller then
// makes the real call, so a slow sync still syncs.
void Delay(Call which) {
  pthread_once(&init_once, Init);
  Ctl* ctl = shim.ctl;
  if (ctl == nullptr) return;
  std::atomic_ref<uint64_t>(ctl->calls[which]).fetch_add(1, std::memory_order_relaxed);
  uint32_t ms = std::atomic_ref<uint32_t>(ctl->delay_ms).load(std::memory_order_relaxed);
  if (ms == 0) return;
  if (ms > kMaxDelayMs) ms = kMaxDelayMs;
  int saved = errno;
  struct timespec left = {static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000000};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
  errno = saved;
  std::atomic_ref<uint64_t>(ctl->delayed[which]).fetch_add(1, std::memory_order_relaxed);
  std::atomic_ref<uint64_t>(ctl->slept_ms).fetch_add(ms, std::memory_order_relaxed);
}

int NoReal() {
  errno = ENOSYS;
  return -1;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int fsync(int fd) {
  Delay(kFsync);
  return shim.fsync ? shim.fsync(fd) : NoReal();
}

__attribute__((visibility("default"))) int fdatasync(int fd) {
  Delay(kFdatasync);
  return shim.fdatasync ? shim.fdatasync(fd) : NoReal();
}

__attribute__((visibility("default"))) int sync_file_range(int fd, off64_t offset, off64_t nbytes,
                                                           unsigned int flags) {
  Delay(kSyncFileRange);
  return shim.sync_file_range ? shim.sync_file_range(fd, offset, nbytes, flags) : NoReal();
}

}  // extern "C"
