#include "storage/member_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "storage/wal.h"
#include "storage/wal_file.h"

namespace storage {
namespace fs = std::filesystem;
namespace {

std::string MemberPath(const std::string& data_dir) {
  return (fs::path(data_dir) / "member").string();
}

}  // namespace

MemberDir::MemberDir(std::string data_dir, int lock_fd)
    : data_dir_(std::move(data_dir)), path_(MemberPath(data_dir_)), lock_fd_(lock_fd) {}

MemberDir::~MemberDir() {
  // Closing the only descriptor of the open file drops the flock.
  ::close(lock_fd_);
}

absl::StatusOr<std::unique_ptr<MemberDir>> MemberDir::Create(const std::string& data_dir) {
  const std::string db = (fs::path(MemberPath(data_dir)) / "db").string();
  std::error_code ec;
  fs::create_directories(db, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data dir ", db, ": ", ec.message()));
  }
  // Best effort, as etcd: a data dir on a filesystem without modes still works.
  fs::permissions(data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return Lock(data_dir);
}

absl::StatusOr<std::unique_ptr<MemberDir>> MemberDir::Open(const std::string& data_dir) {
  std::error_code ec;
  if (!fs::is_directory(MemberPath(data_dir), ec)) {
    return absl::NotFoundError(absl::StrCat("no member data in ", data_dir));
  }
  return Lock(data_dir);
}

absl::StatusOr<std::unique_ptr<MemberDir>> MemberDir::Lock(const std::string& data_dir) {
  const std::string lock = (fs::path(MemberPath(data_dir)) / "lock").string();
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return wal_file::ErrnoError("open", lock, errno);
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return base::MakeError(
          base::ErrorKind::kDataDirLocked, absl::StatusCode::kFailedPrecondition,
          absl::StrCat("the data dir ", data_dir, " is in use by another process (its lock is held)"));
    }
    return wal_file::ErrnoError("lock", lock, err);
  }
  return std::unique_ptr<MemberDir>(new MemberDir(data_dir, fd));
}

bool MemberDir::HasWal() const { return Wal::Exists(wal()); }

std::string MemberDir::ClientFixturesDir(const std::string& data_dir) {
  return (fs::path(data_dir) / "fixtures" / "client").string();
}

std::string MemberDir::PeerFixturesDir(const std::string& data_dir) {
  return (fs::path(data_dir) / "fixtures" / "peer").string();
}

}  // namespace storage
