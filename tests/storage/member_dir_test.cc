// MemberDir: the layout it creates and the exclusive ownership it enforces.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "base/errors.h"
#include "storage/member_dir.h"
#include "tests/common/temp_dir.h"

namespace fs = std::filesystem;
using storage::MemberDir;

TEST_CASE("MemberDir::Create lays out a new data dir", "[member_dir]") {
  ketcd_test::TempDir tmp;
  const std::string data_dir = tmp.Sub("node1");
  auto dir = MemberDir::Create(data_dir);
  REQUIRE(dir.ok());
  const MemberDir& md = **dir;
  CHECK(md.data_dir() == data_dir);
  CHECK(md.path() == data_dir + "/member");
  CHECK(md.db() == data_dir + "/member/db");
  CHECK(md.wal() == data_dir + "/member/wal");
  CHECK(md.snapshots().member_dir() == md.path());
  CHECK(fs::is_directory(md.db()));
  CHECK(fs::exists(md.lock_file()));
  // wal/ appears only with the raft log: its absence marks a new member.
  CHECK_FALSE(fs::exists(md.wal()));
  CHECK_FALSE(md.HasWal());
  struct stat st;
  REQUIRE(::stat(data_dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("MemberDir refuses a second owner until the first lets go", "[member_dir]") {
  ketcd_test::TempDir tmp;
  const std::string data_dir = tmp.Sub("node1");
  auto first = MemberDir::Create(data_dir);
  REQUIRE(first.ok());

  SECTION("in this process") {
    for (const absl::Status& second :
         {MemberDir::Create(data_dir).status(), MemberDir::Open(data_dir).status()}) {
      REQUIRE_FALSE(second.ok());
      CHECK(base::IsError(second, base::ErrorKind::kDataDirLocked));
      CHECK(absl::StrContains(second.message(), "is in use by another process"));
      CHECK(absl::StrContains(second.message(), data_dir));
    }
    first->reset();
    CHECK(MemberDir::Open(data_dir).ok());
  }
  SECTION("in another process") {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto second = MemberDir::Create(data_dir);
      ::_exit(!second.ok() && base::IsError(second.status(), base::ErrorKind::kDataDirLocked) ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

TEST_CASE("MemberDir::Open wants an existing data dir", "[member_dir]") {
  ketcd_test::TempDir tmp;
  auto missing = MemberDir::Open(tmp.Sub("nothing-here"));
  REQUIRE_FALSE(missing.ok());
  CHECK(absl::IsNotFound(missing.status()));
  CHECK_FALSE(fs::exists(tmp.Sub("nothing-here")));
}
