// AutoCompactor (server/replication/auto_compactor.h) on a real lone raft
// member and store, its schedule driven by a ManualClock through RunDue():
// the revisions etcd 3.4's periodic and revision compactors compact to,
// the pause while this member does not lead, a revision compacted already
// (not fatal), a failed proposal (retried), and the log lines.
#include <cstdio>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "base/clock.h"
#include "base/go_duration.h"
#include "base/logger.h"
#include "server/replication/auto_compactor.h"
#include "server/state/errors.h"
#include "server/state/kv_applier.h"
#include "tests/common/temp_dir.h"
#include "tests/unit/local_member.h"
#include "tests/unit/store_util.h"

namespace {

using ketcd_test::LocalMember;
using ketcd_test::OpenStore;
using ketcd_test::TempDir;
using server::AutoCompactor;

// Log lines kept in memory, to be read back.
class LogCapture {
 public:
  LogCapture() : file_(open_memstream(&buf_, &size_)) {}
  ~LogCapture() {
    std::fclose(file_);
    std::free(buf_);
  }
  FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(buf_, size_);
  }
  int Count(const std::string& needle) {
    const std::string t = text();
    int n = 0;
    for (size_t at = t.find(needle); at != std::string::npos; at = t.find(needle, at + 1)) ++n;
    return n;
  }

 private:
  char* buf_ = nullptr;
  size_t size_ = 0;
  FILE* file_;
};

// A lone member over a store, a manual clock, and a compactor on them.
struct Rig {
  TempDir dir;
  std::unique_ptr<storage::MvccStore> store = OpenStore(dir.Sub("db"));
  server::KvApplier applier{[](int64_t) { return false; }};
  std::unique_ptr<LocalMember> member;
  base::ManualClock clock;
  LogCapture log;
  base::Logger logger{&clock, base::LogFormat::kText, base::LogLevel::kInfo, log.file()};
  bool leading = true;
  std::unique_ptr<AutoCompactor> compactor;

  Rig() {
    member = std::make_unique<LocalMember>(store.get(), &applier);
    member->Start();
  }
  ~Rig() {
    compactor.reset();
    member.reset();
  }
  void Make(AutoCompactor::Options opts) {
    AutoCompactor::Sources src;
    src.proposer = &member->member();
    src.current_revision = [s = store.get()] { return s->Rev(); };
    src.leading = [this] { return leading; };
    src.clock = &clock;
    src.logger = &logger;
    compactor = std::make_unique<AutoCompactor>(opts, std::move(src));
  }
  int64_t Put(const std::string& key) {
    serverpb::InternalRequest req;
    req.mutable_put()->set_key(key);
    req.mutable_put()->set_value("v");
    auto r = member->ProposeAndWait(std::move(req), absl::Seconds(10));
    REQUIRE(r.ok());
    return store->Rev();
  }
  void CompactByHand(int64_t rev) {
    serverpb::InternalRequest req;
    req.mutable_compaction()->set_revision(rev);
    REQUIRE(member->ProposeAndWait(std::move(req), absl::Seconds(10)).ok());
  }
  // Moves the clock by `d` and runs the round then due, if any.
  void Round(absl::Duration d) {
    clock.Advance(d);
    compactor->RunDue();
  }
};

AutoCompactor::Options Periodic(absl::Duration period) {
  AutoCompactor::Options o;
  o.mode = AutoCompactor::Mode::kPeriodic;
  o.period = period;
  return o;
}

AutoCompactor::Options Revision(int64_t retention) {
  AutoCompactor::Options o;
  o.mode = AutoCompactor::Mode::kRevision;
  o.retention = retention;
  return o;
}

}  // namespace

TEST_CASE("auto-compaction, periodic 1h: every 6 minutes a revision noted, compacts to the one noted an hour ago",
          "[auto_compactor]") {
  Rig rig;
  const int64_t r0 = rig.Put("k");
  rig.Make(Periodic(absl::Hours(1)));
  REQUIRE(rig.compactor->NextRound() == rig.clock.Now() + absl::Minutes(6));
  rig.Round(absl::Minutes(5));  // not due yet
  REQUIRE(rig.compactor->NextRound() == rig.clock.Now() + absl::Minutes(1));
  // rev[i]: the revision the round at 6*i minutes noted (0: at the start).
  std::vector<int64_t> rev = {r0};
  rev.push_back(rig.Put("k"));
  rig.Round(absl::Minutes(1));
  for (int i = 2; i < 10; ++i) {
    rev.push_back(rig.Put("k"));
    rig.Round(absl::Minutes(6));
  }
  // 54 minutes: no compaction yet.
  CHECK(rig.store->CompactRev() <= 0);
  CHECK(rig.log.Count("compaction") == 0);
  rev.push_back(rig.Put("k"));
  rig.Round(absl::Minutes(6));  // 60 minutes: the revision noted at 0
  CHECK(rig.store->CompactRev() == r0);
  CHECK(rig.log.Count(absl::StrCat("starting auto periodic compaction revision=", r0, " compact-period=1h0m0s")) == 1);
  CHECK(rig.log.Count(absl::StrCat("completed auto periodic compaction revision=", r0,
                                   " compact-period=1h0m0s took=1h0m0s")) == 1);
  // Then once an hour, to the oldest of the 11 revisions kept: the one
  // noted 66 minutes before (etcd notes a round's revision before waiting).
  for (int i = 11; i < 20; ++i) {
    rev.push_back(rig.Put("k"));
    rig.Round(absl::Minutes(6));
    CHECK(rig.store->CompactRev() == r0);
  }
  rev.push_back(rig.Put("k"));
  rig.Round(absl::Minutes(6));  // 120 minutes
  CHECK(rig.store->CompactRev() == rev[9]);
  CHECK(rig.log.Count("completed auto periodic compaction") == 2);
}

TEST_CASE("auto-compaction, periodic 30m: rounds every 3 minutes", "[auto_compactor]") {
  Rig rig;
  const int64_t r0 = rig.Put("k");
  rig.Make(Periodic(absl::Minutes(30)));
  for (int i = 1; i < 10; ++i) {
    rig.Put("k");
    rig.Round(absl::Minutes(3));
  }
  CHECK(rig.store->CompactRev() <= 0);
  rig.Round(absl::Minutes(3));
  CHECK(rig.store->CompactRev() == r0);
}

TEST_CASE("auto-compaction, periodic 24h: rounds every 6 minutes, after the first day once an hour",
          "[auto_compactor]") {
  Rig rig;
  const int64_t r0 = rig.Put("k");
  rig.Make(Periodic(absl::Hours(24)));
  std::vector<int64_t> rev = {r0};
  int compactions = 0;
  int64_t last = rig.store->CompactRev();
  for (int i = 1; i <= 250; ++i) {
    rev.push_back(rig.Put("k"));
    rig.Round(absl::Minutes(6));
    if (rig.store->CompactRev() != last) {
      last = rig.store->CompactRev();
      ++compactions;
      // The first at 24h (round 240) to the revision of 0; the next at 25h
      // (round 250) to the oldest of 241 kept: noted at round 9.
      if (compactions == 1) {
        CHECK(i == 240);
        CHECK(last == r0);
      } else {
        CHECK(i == 250);
        CHECK(last == rev[9]);
      }
    }
  }
  CHECK(compactions == 2);
}

TEST_CASE("auto-compaction, periodic: paused while not leading, still noting revisions; resumes when leading",
          "[auto_compactor]") {
  Rig rig;
  const int64_t r0 = rig.Put("k");
  rig.Make(Periodic(absl::Hours(1)));
  std::vector<int64_t> rev = {r0};
  rig.leading = false;
  for (int i = 1; i <= 12; ++i) {
    rev.push_back(rig.Put("k"));
    rig.Round(absl::Minutes(6));
  }
  CHECK(rig.store->CompactRev() <= 0);
  CHECK(rig.log.Count("compaction") == 0);
  // Leading again (at 78 minutes): the next round compacts at once, to the
  // oldest revision noted meanwhile (11 kept: the one of round 2).
  rig.leading = true;
  rig.Put("k");
  rig.Round(absl::Minutes(6));
  CHECK(rig.store->CompactRev() == rev[2]);
}

TEST_CASE("auto-compaction, revision: every 5 minutes to the current revision minus the retention",
          "[auto_compactor]") {
  Rig rig;
  rig.Make(Revision(10));
  // Fewer revisions than the retention: nothing to compact.
  rig.Put("k");
  rig.Round(absl::Minutes(5));
  CHECK(rig.store->CompactRev() <= 0);
  CHECK(rig.log.Count("compaction") == 0);
  int64_t head = 0;
  for (int i = 0; i < 25; ++i) head = rig.Put("k");
  rig.Round(absl::Minutes(4));  // not due
  CHECK(rig.store->CompactRev() <= 0);
  rig.Round(absl::Minutes(1));
  CHECK(rig.store->CompactRev() == head - 10);
  CHECK(rig.log.Count(absl::StrCat("starting auto revision compaction revision=", head - 10,
                                   " revision-compaction-retention=10")) == 1);
  CHECK(rig.log.Count(absl::StrCat("completed auto revision compaction revision=", head - 10,
                                   " revision-compaction-retention=10 took=")) == 1);
  // No write since: the same revision is not compacted again.
  rig.Round(absl::Minutes(5));
  CHECK(rig.log.Count("starting auto revision compaction") == 1);
  for (int i = 0; i < 5; ++i) head = rig.Put("k");
  rig.Round(absl::Minutes(5));
  CHECK(rig.store->CompactRev() == head - 10);
  CHECK(rig.log.Count("completed auto revision compaction") == 2);
}

TEST_CASE("auto-compaction, revision: paused while not leading", "[auto_compactor]") {
  Rig rig;
  AutoCompactor::Options o = Revision(5);
  o.revision_interval = absl::Seconds(1);
  rig.Make(o);
  int64_t head = 0;
  for (int i = 0; i < 20; ++i) head = rig.Put("k");
  rig.leading = false;
  rig.Round(absl::Seconds(1));
  rig.Round(absl::Seconds(1));
  CHECK(rig.store->CompactRev() <= 0);
  rig.leading = true;
  rig.Round(absl::Seconds(1));
  CHECK(rig.store->CompactRev() == head - 5);
}

TEST_CASE("auto-compaction: a revision compacted already counts as done", "[auto_compactor]") {
  Rig rig;
  rig.Make(Revision(10));
  int64_t head = 0;
  for (int i = 0; i < 30; ++i) head = rig.Put("k");
  rig.CompactByHand(head - 3);
  rig.Round(absl::Minutes(5));
  // etcd's ErrCompacted: logged as completed, and that revision not tried again.
  CHECK(rig.store->CompactRev() == head - 3);
  CHECK(rig.log.Count(absl::StrCat("completed auto revision compaction revision=", head - 10)) == 1);
  CHECK(rig.log.Count("failed") == 0);
  rig.Round(absl::Minutes(5));
  CHECK(rig.log.Count("starting auto revision compaction") == 1);

  Rig periodic;
  const int64_t r0 = periodic.Put("k");
  periodic.Make(Periodic(absl::Minutes(10)));
  periodic.CompactByHand(periodic.Put("k"));
  for (int i = 0; i < 10; ++i) periodic.Round(absl::Minutes(1));
  CHECK(periodic.log.Count(absl::StrCat("completed auto periodic compaction revision=", r0)) == 1);
  // A success: the next attempt waits a whole period again.
  for (int i = 0; i < 9; ++i) periodic.Round(absl::Minutes(1));
  CHECK(periodic.log.Count("starting auto periodic compaction") == 1);
}

TEST_CASE("auto-compaction: a compaction that fails is tried again at the next round", "[auto_compactor]") {
  Rig rig;
  const int64_t r0 = rig.Put("k");
  rig.Make(Periodic(absl::Minutes(10)));
  for (int i = 0; i < 9; ++i) rig.Round(absl::Minutes(1));
  // The member stops: the proposal is refused, nothing is compacted.
  rig.member->Stop();
  rig.Round(absl::Minutes(1));
  CHECK(rig.log.Count(absl::StrCat("starting auto periodic compaction revision=", r0)) == 1);
  CHECK(rig.log.Count("completed") == 0);
  // Not a success: the very next round tries again (etcd's retry interval).
  rig.Round(absl::Minutes(1));
  CHECK(rig.log.Count("starting auto periodic compaction") == 2);
  CHECK(rig.store->CompactRev() <= 0);
}

// The member's proposer, but a compaction fails with etcd's "request timed
// out" while `fail` is set (a failure other than the member stopping).
class FailingCompactions final : public server::ForwardingProposer {
 public:
  explicit FailingCompactions(server::Proposer* inner) : ForwardingProposer(inner) {}
  void Propose(serverpb::InternalRequest req, server::ProposeDone done) override {
    if (fail && req.has_compaction()) return done(server::TimeoutError());
    inner_->Propose(std::move(req), std::move(done));
  }
  bool fail = true;
};

// The rig's store, clock and logger, always leading, proposing through `proposer`.
static AutoCompactor::Sources LeadingSources(Rig& rig, server::Proposer* proposer) {
  AutoCompactor::Sources src;
  src.proposer = proposer;
  src.current_revision = [s = rig.store.get()] { return s->Rev(); };
  src.leading = [] { return true; };
  src.clock = &rig.clock;
  src.logger = &rig.logger;
  return src;
}

TEST_CASE("auto-compaction: a failed compaction is logged with etcd's fields and retried", "[auto_compactor]") {
  const std::string error = absl::StrCat("error=\"", server::TimeoutError().message(), "\"");
  {
    Rig rig;
    FailingCompactions proposer(&rig.member->member());
    const int64_t r0 = rig.Put("k");
    AutoCompactor::Sources src = LeadingSources(rig, &proposer);
    rig.compactor = std::make_unique<AutoCompactor>(Periodic(absl::Minutes(10)), std::move(src));
    for (int i = 0; i < 10; ++i) rig.Round(absl::Minutes(1));
    INFO(rig.log.text());
    CHECK(rig.log.Count(absl::StrCat("failed auto periodic compaction revision=", r0,
                                     " compact-period=10m0s retry-interval=1m0s ", error)) == 1);
    CHECK(rig.store->CompactRev() <= 0);
    proposer.fail = false;
    rig.Round(absl::Minutes(1));
    CHECK(rig.log.Count(absl::StrCat("completed auto periodic compaction revision=", r0)) == 1);
    CHECK(rig.store->CompactRev() == r0);
  }
  {
    Rig rig;
    FailingCompactions proposer(&rig.member->member());
    int64_t head = 0;
    for (int i = 0; i < 20; ++i) head = rig.Put("k");
    AutoCompactor::Sources src = LeadingSources(rig, &proposer);
    rig.compactor = std::make_unique<AutoCompactor>(Revision(10), std::move(src));
    rig.Round(absl::Minutes(5));
    INFO(rig.log.text());
    CHECK(rig.log.Count(absl::StrCat("failed auto revision compaction revision=", head - 10,
                                     " revision-compaction-retention=10 retry-interval=5m0s ", error)) == 1);
    proposer.fail = false;
    rig.Round(absl::Minutes(5));  // the same revision is tried again
    CHECK(rig.log.Count(absl::StrCat("completed auto revision compaction revision=", head - 10)) == 1);
    CHECK(rig.store->CompactRev() == head - 10);
  }
}

TEST_CASE("Go durations: parsed and printed as Go's time package does", "[auto_compactor][config]") {
  const std::pair<const char*, int64_t> good[] = {
      {"0", 0},         {"1h", 3600000000000},   {"30m", 1800000000000}, {"1.5s", 1500000000},
      {"-1h", -3600000000000}, {"+5s", 5000000000}, {"1h30m", 5400000000000}, {"100ms", 100000000},
      {"1us", 1000},    {"1\xC2\xB5s", 1000},    {".5s", 500000000},     {"1.s", 1000000000},
      {"0s", 0},        {"2562047h", 2562047LL * 3600000000000LL},
  };
  for (const auto& [text, ns] : good) {
    INFO(text);
    auto d = base::ParseGoDuration(text);
    REQUIRE(d.ok());
    CHECK(absl::ToInt64Nanoseconds(*d) == ns);
  }
  const std::pair<const char*, const char*> bad[] = {
      {"", "time: invalid duration \"\""},
      {"abc", "time: invalid duration \"abc\""},
      {"1.5", "time: missing unit in duration \"1.5\""},
      {"-1", "time: missing unit in duration \"-1\""},
      {"1x", "time: unknown unit \"x\" in duration \"1x\""},
      {".s", "time: invalid duration \".s\""},
      {"-", "time: invalid duration \"-\""},
      {"99999999999999999999", "time: invalid duration \"99999999999999999999\""},
      {"2562048h", "time: invalid duration \"2562048h\""},
  };
  for (const auto& [text, msg] : bad) {
    INFO(text);
    auto d = base::ParseGoDuration(text);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message() == msg);
  }
  const std::pair<int64_t, const char*> printed[] = {
      {0, "0s"},          {3600000000000, "1h0m0s"}, {150000000000, "2m30s"}, {1500000000, "1.5s"},
      {100000000, "100ms"}, {1500, "1.5\xC2\xB5s"},  {7, "7ns"},              {-1000000000, "-1s"},
      {90061000000000, "25h1m1s"},
  };
  for (const auto& [ns, text] : printed) {
    CHECK(base::FormatGoDuration(absl::Nanoseconds(ns)) == text);
  }
}
