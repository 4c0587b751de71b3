#include "server/replication/auto_compactor.h"

#include <algorithm>
#include <string>
#include <utility>

#include "base/errors.h"
#include "base/go_duration.h"

namespace server {
namespace {

// etcd's periodic compactor looks ten times per period, and never waits
// longer than an hour before compacting again (v3compactor/periodic.go).
constexpr int64_t kRoundsPerPeriod = 10;
constexpr absl::Duration kMaxCompactInterval = absl::Hours(1);

// The real-time nap between looks at the clock: a ManualClock moved by a
// test is noticed within this, a RealClock's deadline is met exactly.
constexpr absl::Duration kMaxNap = absl::Seconds(1);

absl::Duration PeriodicRoundInterval(absl::Duration period) {
  // Integer nanoseconds as Go divides a time.Duration; never zero (Go would
  // divide by it below 10ns, which the configuration refuses).
  const int64_t ns = absl::ToInt64Nanoseconds(std::min(period, kMaxCompactInterval)) / kRoundsPerPeriod;
  return absl::Nanoseconds(std::max<int64_t>(ns, 1));
}

size_t PeriodicSamples(absl::Duration period, absl::Duration round) {
  // etcd keeps period/round + 1 revisions: the oldest is the one noted a
  // whole period ago.
  return static_cast<size_t>(absl::ToInt64Nanoseconds(period) / absl::ToInt64Nanoseconds(round)) + 1;
}

}  // namespace

AutoCompactor::AutoCompactor(Options opts, Sources src)
    : opts_(std::move(opts)),
      src_(std::move(src)),
      round_interval_(opts_.mode == Mode::kPeriodic ? PeriodicRoundInterval(opts_.period)
                                                    : opts_.revision_interval),
      kept_samples_(opts_.mode == Mode::kPeriodic ? PeriodicSamples(opts_.period, round_interval_) : 0) {
  const absl::Time now = src_.clock->Now();
  last_success_ = now;
  wait_before_compacting_ = opts_.period;
  if (opts_.mode == Mode::kPeriodic) samples_.push_back(src_.current_revision());
  next_round_ = now + round_interval_;
}

AutoCompactor::~AutoCompactor() { Stop(); }

void AutoCompactor::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void AutoCompactor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Time AutoCompactor::NextRound() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_round_;
}

void AutoCompactor::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      const absl::Duration nap = std::clamp(next_round_ - src_.clock->Now(), absl::ZeroDuration(), kMaxNap);
      cv_.wait_for(lock, absl::ToChronoNanoseconds(nap), [&] { return stopping_; });
      if (stopping_) return;
    }
    RunDue();
  }
}

void AutoCompactor::RunDue() {
  const absl::Time now = src_.clock->Now();
  if (now < NextRound()) return;
  if (opts_.mode == Mode::kPeriodic) {
    PeriodicRound(now);
  } else {
    RevisionRound();
  }
  // As etcd's timer: the next round is an interval after this one ended.
  std::lock_guard<std::mutex> lock(mu_);
  next_round_ = src_.clock->Now() + round_interval_;
}

void AutoCompactor::PeriodicRound(absl::Time now) {
  if (src_.leading() && now - last_success_ >= wait_before_compacting_) {
    wait_before_compacting_ = std::min(opts_.period, kMaxCompactInterval);
    const int64_t rev = samples_.front();
    const std::string period = base::FormatGoDuration(opts_.period);
    src_.logger->Info("starting auto periodic compaction", {{"revision", rev}, {"compact-period", period}});
    const absl::Status s = Compact(rev);
    if (s.ok()) {
      // etcd's "took" is the time since the previous success.
      src_.logger->Info("completed auto periodic compaction",
                        {{"revision", rev},
                         {"compact-period", period},
                         {"took", base::FormatGoDuration(src_.clock->Now() - last_success_)}});
      last_success_ = src_.clock->Now();
    } else if (!base::IsError(s, base::ErrorKind::kStopped)) {
      src_.logger->Warn("failed auto periodic compaction",
                        {{"revision", rev},
                         {"compact-period", period},
                         {"retry-interval", base::FormatGoDuration(round_interval_)},
                         {"error", std::string(s.message())}});
    }
  }
  // Every round notes the revision, leading or not, compacting or not.
  samples_.push_back(src_.current_revision());
  if (samples_.size() > kept_samples_) samples_.pop_front();
}

void AutoCompactor::RevisionRound() {
  if (!src_.leading()) return;
  const int64_t rev = src_.current_revision() - opts_.retention;
  if (rev <= 0 || rev == last_compacted_) return;
  const absl::Time start = src_.clock->Now();
  src_.logger->Info("starting auto revision compaction",
                    {{"revision", rev}, {"revision-compaction-retention", opts_.retention}});
  const absl::Status s = Compact(rev);
  if (s.ok()) {
    last_compacted_ = rev;
    src_.logger->Info("completed auto revision compaction",
                      {{"revision", rev},
                       {"revision-compaction-retention", opts_.retention},
                       {"took", base::FormatGoDuration(src_.clock->Now() - start)}});
  } else if (!base::IsError(s, base::ErrorKind::kStopped)) {
    src_.logger->Warn("failed auto revision compaction",
                      {{"revision", rev},
                       {"revision-compaction-retention", opts_.retention},
                       {"retry-interval", base::FormatGoDuration(round_interval_)},
                       {"error", std::string(s.message())}});
  }
}

absl::Status AutoCompactor::Compact(int64_t rev) {
  serverpb::InternalRequest req;
  req.mutable_compaction()->set_revision(rev);
  ProposeResult r = src_.proposer->ProposeAndWait(std::move(req), opts_.request_timeout);
  // Compacted already (by hand, or by an earlier leader): what was asked
  // holds, as etcd counts mvcc.ErrCompacted as success.
  if (r.ok() || base::IsError(r.status(), base::ErrorKind::kCompacted)) return absl::OkStatus();
  return r.status();
}

}  // namespace server
