// MemberDir: the layout of a member's data dir, and its exclusive owner.
//
//   <data-dir>/              mode 0700
//     member/
//       lock                 flock'ed by the MemberDir that owns the dir
//       wal/                 the raft log (storage/wal.h)
//       db/                  the store (storage/mvcc_store.h)
//       snap.*/, db.old/     snapshot staging (storage/snapshot_install.h)
//     fixtures/              mode 0700, as etcd names it
//       client/, peer/       cert.pem and key.pem (0600) made by --auto-tls and
//                            --peer-auto-tls (server/net/self_signed.h)
//
// This is the one place the layout is spelled: the server, tests and tools
// get every path from a MemberDir. Holding one means owning the data dir:
// a second MemberDir on the same data dir, from this process or another,
// is refused with base::ErrorKind::kDataDirLocked until the first is
// destroyed (or its process dies: the lock is an flock on an open file,
// which the kernel drops with the process).
// Ownership: owns the lock file's descriptor. Thread-safety: the accessors
// are const and thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/snapshot_install.h"

namespace storage {

class MemberDir {
 public:
  // Creates <data-dir>/member and its db/ when missing (a new member),
  // restricts <data-dir> to its owner (0700, as etcd), and takes the lock.
  // Does not create wal/: its absence is how a new member is told apart.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MemberDir>> Create(const std::string& data_dir);
  // Takes the lock of an existing data dir; NotFound if <data-dir>/member
  // does not exist. Creates nothing but the lock file.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MemberDir>> Open(const std::string& data_dir);

  ~MemberDir();
  MemberDir(const MemberDir&) = delete;
  MemberDir& operator=(const MemberDir&) = delete;

  const std::string& data_dir() const { return data_dir_; }
  // <data-dir>/member
  const std::string& path() const { return path_; }
  std::string wal() const { return path_ + "/wal"; }
  std::string db() const { return path_ + "/db"; }
  std::string lock_file() const { return path_ + "/lock"; }
  SnapshotDirs snapshots() const { return SnapshotDirs(path_); }
  // True once the raft log has been created (the member has started before).
  bool HasWal() const;

  // <data-dir>/fixtures/client and <data-dir>/fixtures/peer: where the
  // self-signed pairs of --auto-tls and --peer-auto-tls live. Static: the
  // member makes them with its credentials, before it takes the data dir.
  static std::string ClientFixturesDir(const std::string& data_dir);
  static std::string PeerFixturesDir(const std::string& data_dir);

 private:
  MemberDir(std::string data_dir, int lock_fd);
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MemberDir>> Lock(const std::string& data_dir);

  const std::string data_dir_;
  const std::string path_;
  const int lock_fd_;
};

}  // namespace storage
