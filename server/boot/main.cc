// ketcd: the server binary. Parses etcd-compatible flags, starts a member,
// and shuts it down cleanly on SIGTERM or SIGINT.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/boot/config.h"
#include "server/boot/member.h"

int main(int argc, char** argv) {
  auto parsed = server::ParseConfig(argc, argv);
  if (std::holds_alternative<int>(parsed)) return std::get<int>(parsed);
  const auto& cfg = std::get<server::Config>(parsed);

  // Block the stop signals before any thread starts, so that only the
  // sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  // Test-only failpoints, off unless the environment asks: SIGUSR1 cuts this
  // member off from its peers (a network partition), SIGUSR2 heals it.
  const char* failpoints = std::getenv("KETCD_TEST_FAILPOINTS");
  const bool partition_failpoint = failpoints && std::string(failpoints) == "1";
  if (partition_failpoint) {
    sigaddset(&stop_signals, SIGUSR1);
    sigaddset(&stop_signals, SIGUSR2);
  }
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto member = server::Member::Start(cfg);
  if (!member.ok()) {
    std::fprintf(stderr, "ketcd: %s\n", std::string(member.status().message()).c_str());
    return 1;
  }
  std::string urls;
  for (const auto& u : cfg.listen_client_urls) urls += absl::StrCat(urls.empty() ? "" : ",", u.raw);
  std::fprintf(stderr,
               "ketcd: member %s (id %llx) of cluster %llx serving client requests on %s, data in %s\n",
               cfg.name.c_str(), static_cast<unsigned long long>((*member)->member_id()),
               static_cast<unsigned long long>((*member)->cluster_id()), urls.c_str(),
               cfg.data_dir.c_str());

  int sig = 0;
  while (true) {
    sigwait(&stop_signals, &sig);
    if (sig != SIGUSR1 && sig != SIGUSR2) break;
    std::fprintf(stderr, "ketcd: test failpoint: %s\n",
                 sig == SIGUSR1 ? "isolated from peers" : "rejoined peers");
    (*member)->IsolateForTest(sig == SIGUSR1);
  }
  std::fprintf(stderr, "ketcd: received %s, shutting down\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*member)->Shutdown();
  std::fprintf(stderr, "ketcd: stopped\n");
  return 0;
}
