// ketcd: the server binary. Parses etcd-compatible flags, starts a member,
// and shuts it down cleanly on SIGTERM or SIGINT.
#include <cerrno>
#include <atomic>
#include <csignal>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/logger.h"
#include "base/mutex_checks.h"
#include "server/boot/config.h"
#include "server/boot/config_file.h"
#include "server/boot/member.h"
#include "server/boot/sd_notify.h"

namespace {

// --log-outputs: stderr, stdout, or a file opened for appending (as etcd
// opens it) that stays open for the life of the process. nullptr, with the
// reason printed, when the file cannot be opened.
FILE* OpenLogOutput(const std::string& output) {
  if (output == "stderr") return stderr;
  if (output == "stdout") return stdout;
  FILE* file = std::fopen(output.c_str(), "a");
  if (file == nullptr) {
    const std::string err =
        absl::StrCat("ketcd: cannot open --log-outputs file ", output, ": ", std::strerror(errno), "\n");
    std::fputs(err.c_str(), stderr);
  }
  return file;
}

// The test failpoints' signals (only blocked, hence only received, with
// KETCD_TEST_FAILPOINTS=1). False for a stop signal.
bool OnTestSignal(int sig, server::Member& member, base::Logger& logger) {
  if (sig == SIGUSR1 || sig == SIGUSR2) {
    logger.Info(sig == SIGUSR1 ? "test failpoint: isolated from peers" : "test failpoint: rejoined peers");
    member.IsolateForTest(sig == SIGUSR1);
    return true;
  }
  if (sig == SIGRTMIN + 1 || sig == SIGRTMIN + 2) {
    const bool inbound = sig == SIGRTMIN + 1;
    logger.Info(inbound ? "test failpoint: dropping what peers send"
                        : "test failpoint: dropping what it sends to peers");
    member.CutPeersForTest(/*outbound=*/!inbound, inbound);
    return true;
  }
  return false;
}

// Once the member serves clients: the line saying where, then READY=1 to
// systemd (as etcd under a Type=notify unit).
void AnnounceServing(const server::Config& cfg, const server::Member& member, base::Logger& logger) {
  std::string urls;
  for (const auto& u : cfg.listen_client_urls) urls += absl::StrCat(urls.empty() ? "" : ",", u.raw);
  logger.Info(absl::StrFormat("member %s (id %x) of cluster %x serving client requests on %s, data in %s",
                              cfg.name, member.member_id(), member.cluster_id(), urls, cfg.data_dir),
              {base::HexId("member-id", member.member_id()), base::HexId("cluster-id", member.cluster_id())});
  server::NotifyReady(server::ProcessEnvironment(), logger);
}

}  // namespace

int main(int argc, char** argv) {
  base::TurnOffMutexDeadlockDetection();
  auto parsed = server::ParseConfig(std::vector<std::string>(argv + 1, argv + argc),
                                    server::ProcessEnvironment());
  if (auto* exit = std::get_if<server::ConfigExit>(&parsed)) {
    std::fputs(exit->out.c_str(), stdout);
    std::fputs(exit->err.c_str(), stderr);
    return exit->code;
  }
  auto& cfg = std::get<server::Config>(parsed);

  // Block the stop signals before any thread starts, so that only the
  // sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  // Test-only failpoints, off unless the environment asks: SIGUSR1 cuts this
  // member off from its peers (a network partition), SIGRTMIN+1 drops only
  // what it receives from them, SIGRTMIN+2 only what it sends (one-way
  // partitions); SIGUSR2 heals it.
  const char* failpoints = std::getenv("KETCD_TEST_FAILPOINTS");
  const bool partition_failpoint = failpoints && std::string(failpoints) == "1";
  if (partition_failpoint) {
    sigaddset(&stop_signals, SIGUSR1);
    sigaddset(&stop_signals, SIGUSR2);
    sigaddset(&stop_signals, SIGRTMIN + 1);
    sigaddset(&stop_signals, SIGRTMIN + 2);
    // etcd's revision-mode compactor acts every 5 minutes, too slow for a
    // test: KETCD_TEST_AUTO_COMPACTION_INTERVAL (a duration) shortens it.
    const char* interval = std::getenv("KETCD_TEST_AUTO_COMPACTION_INTERVAL");
    absl::Duration d;
    if (interval != nullptr && absl::ParseDuration(interval, &d) && d > absl::ZeroDuration()) {
      cfg.auto_compaction_revision_interval = d;
    }
    // KETCD_TEST_CORRUPT_PUTS=1: this member's store diverges from its
    // peers' (what the corruption checks must find).
    const char* corrupt = std::getenv("KETCD_TEST_CORRUPT_PUTS");
    cfg.corrupt_puts_for_test = corrupt != nullptr && std::string(corrupt) == "1";
  }
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  FILE* log_out = OpenLogOutput(cfg.log_output);
  if (log_out == nullptr) return 1;
  base::RealClock clock;
  base::Logger logger(&clock, cfg.log_format, cfg.log_level, log_out);
  server::LogConfigSource(cfg, logger);
  // etcd flags ketcd accepts but does not use, each named once at start.
  for (const auto& warning : cfg.warnings) logger.Warn(warning);
  // Set (from a raft or peer thread) when the cluster removed this member;
  // the stop signal then wakes the sigwait below.
  static std::atomic<bool> removed{false};
  auto member = server::Member::Start(cfg, clock, logger, [] {
    removed = true;
    ::kill(::getpid(), SIGTERM);
  });
  if (!member.ok()) {
    logger.Error(std::string(member.status().message()));
    return 1;
  }
  AnnounceServing(cfg, **member, logger);

  int sig = 0;
  while (true) {
    sigwait(&stop_signals, &sig);
    if (!OnTestSignal(sig, **member, logger)) break;
  }
  if (removed) {
    // etcd's words; the data dir holds a member id the cluster refuses.
    logger.Warn("the member has been permanently removed from the cluster; "
                "the data-dir used by this member must be removed");
  } else {
    logger.Info(sig == SIGTERM ? "received SIGTERM, shutting down" : "received SIGINT, shutting down");
  }
  (*member)->Shutdown();
  logger.Info("stopped");
  return 0;
}
