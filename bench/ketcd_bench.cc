// ketcd-bench: a load generator for any etcd v3 endpoint (ketcd or etcd),
// with the subcommands and flag names of etcd's own benchmark tool.
//
// Requests run on gRPC's callback API: a client is one request in flight,
// not a thread, so 1000 clients cost 1000 pending calls and the harness
// needs a fraction of the cores the server under test uses. Keys and values
// come from --seed, so two runs send the same requests. TLS as etcdctl:
// https:// endpoints with --cacert, --cert and --key (tools/endpoints.h).
// Exit status: 0 when every request succeeded, 1 when some failed, 2 for bad
// flags or setup (an unreadable certificate file, no connection). SIGINT
// ends put, range and txn runs early: no new request, those in flight end,
// and the summary and --json of what was done are written (bench/compare
// --scale stops its writer so when a compaction or defrag returns).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "base/mutex_checks.h"
#include "bench/auth_token.h"
#include "bench/breakdown.h"
#include "bench/driver.h"
#include "bench/kv_ops.h"
#include "bench/lease_keepalive.h"
#include "bench/report.h"
#include "bench/watch_latency.h"
#include "tools/endpoints.h"

namespace {

using namespace ketcd::bench;
using tools::Credentials;
using tools::Endpoints;
using tools::ParseEndpoints;
using tools::TlsFiles;

struct Flags {
  std::string endpoints = "127.0.0.1:2379";
  int clients = 1;
  int conns = 1;
  uint64_t total = 10000;
  double rate = 0;
  uint64_t seed = 1;
  std::string json;
  double timeout_s = 60;
  bool no_progress = false;
  KvWorkload kv;
  std::string consistency = "l";
  WatchLatencyOptions watch;
  TlsFiles tls;
  std::string user;  // --user name:password (etcd's benchmark flag)
  std::string breakdown;  // --breakdown URL: a ketcd member's /metrics
};

// Set by SIGINT; read by ClosedLoop (a signal handler can reach nothing else).
std::atomic<bool> interrupted{false};

void OnInterrupt(int) { interrupted.store(true, std::memory_order_relaxed); }

// A second SIGINT kills as usual (SA_RESETHAND): a run stuck on a server
// that never answers can still be ended.
void StopOnInterrupt() {
  struct sigaction sa = {};
  sa.sa_handler = OnInterrupt;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

int BenchMain(int argc, char** argv) {
  base::TurnOffMutexDeadlockDetection();
  Flags f;
  CLI::App app{"ketcd-bench: load generator for etcd v3 endpoints (ketcd or etcd)", "ketcd-bench"};
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--endpoints", f.endpoints,
                 "Comma-separated endpoints (host:port, http://host:port or https://host:port)")
      ->capture_default_str();
  app.add_option("--cacert", f.tls.cacert, "Verify the server with this CA bundle (TLS)");
  app.add_option("--cert", f.tls.cert, "Client certificate for mutual TLS");
  app.add_option("--key", f.tls.key, "Private key of --cert");
  app.add_option("--user", f.user, "name:password: each connection authenticates once and sends its token");
  app.add_option("--clients", f.clients, "Concurrent clients (requests in flight)")->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--conns", f.conns, "gRPC connections shared by the clients")->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--total", f.total, "Total requests")->capture_default_str();
  app.add_option("--rate", f.rate, "Requests per second overall (0: no limit)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", f.seed, "Seed of key and value generation")->capture_default_str();
  app.add_option("--json", f.json, "Also write the results, histogram and per-second series to FILE");
  app.add_option("--request-timeout", f.timeout_s, "Deadline of each request, seconds")->capture_default_str();
  app.add_option("--breakdown", f.breakdown,
                 "A ketcd member's metrics URL (http://host:port/metrics, the member the writes go to): "
                 "print where the server's time went, stage by stage, next to the client's latency");
  app.add_flag("--no-progress", f.no_progress, "No progress bar even on a terminal");

  auto key_flags = [&](CLI::App* sub) {
    sub->add_option("--key-size", f.kv.key_size, "Key size in bytes")->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    sub->add_option("--val-size", f.kv.val_size, "Value size in bytes")->capture_default_str()
        ->check(CLI::Range(0, 64 << 20));
    sub->add_option("--key-space-size", f.kv.key_space_size, "Distinct keys")->capture_default_str()
        ->check(CLI::PositiveNumber);
  };
  auto* put = app.add_subcommand("put", "Put keys");
  key_flags(put);
  put->add_flag("--sequential-keys", f.kv.sequential_keys, "Write keys in order instead of at random");

  auto* range = app.add_subcommand("range", "Range over KEY [END], or one random key of put's per request");
  range->add_option("key", f.kv.range_key);
  range->add_option("end", f.kv.range_end);
  range->add_option("--key-size", f.kv.key_size, "With --key-space-size: key size in bytes, as put's")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  auto* range_space = range->add_option("--key-space-size", f.kv.key_space_size,
                                        "Instead of KEY: read one key per request, chosen at random among the "
                                        "first N keys put writes (put --sequential-keys --key-space-size N)")
                          ->check(CLI::PositiveNumber);
  range->add_option("--consistency", f.consistency, "l (linearizable) or s (serializable)")
      ->check(CLI::IsMember({"l", "s"}))->capture_default_str();
  range->add_option("--limit", f.kv.limit, "Maximum keys per response (0: all)")->capture_default_str();

  auto* txn_put = app.add_subcommand("txn-put", "Txns of --txn-ops puts");
  key_flags(txn_put);
  txn_put->add_option("--txn-ops", f.kv.txn_ops, "Puts per txn")->capture_default_str()->check(CLI::Range(1, 10000));

  auto* txn_mixed = app.add_subcommand("txn-mixed", "Txns that range over KEY [END] or put a key, mixed");
  key_flags(txn_mixed);
  txn_mixed->add_option("key", f.kv.range_key)->required();
  txn_mixed->add_option("end", f.kv.range_end);
  txn_mixed->add_option("--rw-ratio", f.kv.rw_ratio, "Reads per write")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  txn_mixed->add_option("--consistency", f.consistency, "l (linearizable) or s (serializable) reads")
      ->check(CLI::IsMember({"l", "s"}))->capture_default_str();
  txn_mixed->add_option("--limit", f.kv.limit, "Maximum keys per read")->capture_default_str();

  auto* watch = app.add_subcommand("watch-latency", "Put-to-event latency of many watchers on one range");
  watch->add_option("--put-total", f.watch.put_total, "Puts into the watched range")->capture_default_str();
  watch->add_option("--put-rate", f.watch.put_rate, "Puts per second (0: no limit)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  watch->add_option("--streams", f.watch.streams, "Watch streams")->capture_default_str()
      ->check(CLI::Range(1, 100000));
  watch->add_option("--watchers-per-stream", f.watch.watchers_per_stream, "Watchers on each stream")
      ->capture_default_str()->check(CLI::Range(1, 1000000));
  watch->add_option("--val-size", f.watch.val_size, "Value size in bytes")->capture_default_str();
  watch->add_option("--prefix", f.watch.prefix, "Key prefix watched and written")->capture_default_str();
  watch->add_option("--drain-timeout", f.watch.drain_timeout_s,
                    "Seconds without a new event after which missing events are given up")->capture_default_str();

  auto* lease = app.add_subcommand("lease-keepalive", "Keep-alive round trips on one stream per client");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  f.kv.range_keys = range->parsed() && range_space->count() > 0;
  if (range->parsed() && f.kv.range_key.empty() != f.kv.range_keys) {
    std::fprintf(stderr, "ketcd-bench: range needs %s\n",
                 f.kv.range_keys ? "KEY [END] or --key-space-size, not both" : "a non-empty KEY or --key-space-size");
    return 2;
  }
  if (txn_put->parsed() && static_cast<uint64_t>(f.kv.txn_ops) > f.kv.key_space_size) {
    std::fprintf(stderr, "ketcd-bench: --txn-ops %d needs --key-space-size >= %d (a txn may not write a key twice)\n",
                 f.kv.txn_ops, f.kv.txn_ops);
    return 2;
  }
  Endpoints endpoints;
  std::string error;
  auto creds = ParseEndpoints(f.endpoints, f.tls, &endpoints, &error) ? Credentials(endpoints.tls, f.tls, &error)
                                                                      : nullptr;
  if (creds == nullptr) {
    std::fprintf(stderr, "ketcd-bench: %s\n", error.c_str());
    return 2;
  }
  std::string user_name, password;
  if (!f.user.empty() && !SplitUser(f.user, &user_name, &password)) {
    std::fprintf(stderr, "ketcd-bench: --user needs name:password\n");
    return 2;
  }
  std::vector<TokenSlot> tokens;
  auto channels = Dial(endpoints.targets, f.conns, creds, f.user.empty() ? nullptr : &tokens);
  if (!WaitConnected(channels, 10)) {
    std::fprintf(stderr, "ketcd-bench: cannot connect to %s within 10 s%s\n", f.endpoints.c_str(),
                 endpoints.tls ? " (TLS: does --cacert verify the server's certificate, does it name this host in its "
                                 "SANs, is --cert from the server's trusted CA?)" : "");
    return 2;
  }
  if (!f.user.empty() && !AuthenticateAll(channels, tokens, user_name, password, &error)) {
    std::fprintf(stderr, "ketcd-bench: authenticating as %s: %s\n", user_name.c_str(), error.c_str());
    return 2;
  }
  f.kv.seed = f.seed;
  f.kv.timeout_s = f.timeout_s;
  f.kv.serializable = f.consistency == "s";
  const bool progress = !f.no_progress && isatty(STDERR_FILENO);

  RunInfo info;
  info.argv.assign(argv, argv + argc);
  // The results keep the command line, but not a password.
  for (size_t i = 0; i < info.argv.size(); ++i) {
    std::string& a = info.argv[i];
    if (a.rfind("--user=", 0) == 0) a = "--user=" + user_name + ":***";
    if (a == "--user" && i + 1 < info.argv.size()) info.argv[i + 1] = user_name + ":***";
  }
  info.endpoints = f.endpoints;
  info.tls = endpoints.tls;
  info.clients = f.clients;
  info.conns = f.conns;
  info.seed = f.seed;
  std::vector<std::unique_ptr<Recorder>> recorders;
  StageHistograms stages_before;
  if (!f.breakdown.empty()) {
    std::string body;
    if (!HttpGet(f.breakdown, &body, &error)) {
      std::fprintf(stderr, "ketcd-bench: --breakdown: %s\n", error.c_str());
      return 2;
    }
    stages_before = ParseStageHistograms(body);
    if (stages_before.empty()) {
      std::fprintf(stderr, "ketcd-bench: --breakdown: %s has no ketcd write-stage histograms (not a ketcd member?)\n",
                   f.breakdown.c_str());
      return 2;
    }
  }
  double cpu0 = ProcessCpuSeconds();
  bool incomplete = false;

  if (watch->parsed()) {
    info.command = "watch-latency";
    f.watch.put_clients = f.clients;
    f.watch.seed = f.seed;
    f.watch.timeout_s = f.timeout_s;
    f.watch.progress = progress;
    recorders.push_back(std::make_unique<Recorder>("watch-event"));
    recorders.push_back(std::make_unique<Recorder>("put"));
    auto out = RunWatchLatency(channels, f.watch, recorders[0].get(), recorders[1].get());
    if (out.setup_failed) {
      std::fprintf(stderr, "ketcd-bench: %s\n", out.setup_error.c_str());
      return 2;
    }
    info.duration_s = out.duration_s;
    const uint64_t watchers = static_cast<uint64_t>(f.watch.streams) * f.watch.watchers_per_stream;
    info.notes.push_back("Watchers: " + std::to_string(watchers) + " on " + std::to_string(f.watch.streams) +
                         " streams; events received " + std::to_string(out.received) + " of " +
                         std::to_string(out.expected) + ", out of order " + std::to_string(out.out_of_order) +
                         ", watchers canceled " + std::to_string(out.watchers_canceled));
    info.extra = {{"watchers", static_cast<double>(watchers)},
                  {"events_expected", static_cast<double>(out.expected)},
                  {"events_received", static_cast<double>(out.received)},
                  {"events_out_of_order", static_cast<double>(out.out_of_order)}};
    incomplete = out.received != out.expected || out.out_of_order != 0 || out.watchers_canceled != 0;
  } else if (lease->parsed()) {
    info.command = "lease-keepalive";
    LeaseKeepAliveOptions lo;
    lo.clients = f.clients;
    lo.total = f.total;
    lo.timeout_s = f.timeout_s;
    lo.progress = progress;
    recorders.push_back(std::make_unique<Recorder>("keepalive"));
    info.duration_s = RunLeaseKeepAlive(channels, lo, recorders[0].get(), &error);
    if (info.duration_s < 0) {
      std::fprintf(stderr, "ketcd-bench: %s\n", error.c_str());
      return 2;
    }
  } else {
    std::atomic<uint64_t> empty_ranges{0};
    auto stubs = std::make_shared<KvStubs>();
    for (const auto& ch : channels) stubs->push_back(etcdserverpb::KV::NewStub(ch));
    ClosedLoop::Op op;
    if (put->parsed()) {
      info.command = "put";
      recorders.push_back(std::make_unique<Recorder>("put"));
      op = PutOp(stubs, f.kv);
    } else if (range->parsed()) {
      info.command = "range";
      recorders.push_back(std::make_unique<Recorder>(f.kv.serializable ? "range-serializable" : "range"));
      op = RangeOp(stubs, f.kv, f.kv.range_keys ? &empty_ranges : nullptr);
    } else if (txn_put->parsed()) {
      info.command = "txn-put";
      recorders.push_back(std::make_unique<Recorder>("txn-put"));
      op = TxnPutOp(stubs, f.kv);
    } else {
      info.command = "txn-mixed";
      f.kv.key_prefix = f.kv.range_key;
      recorders.push_back(std::make_unique<Recorder>("txn-read"));
      recorders.push_back(std::make_unique<Recorder>("txn-write"));
      op = TxnMixedOp(stubs, f.kv);
    }
    ClosedLoop::Options lo;
    lo.clients = f.clients;
    lo.total = f.total;
    lo.rate = f.rate;
    lo.progress = progress;
    lo.label = info.command;
    lo.stop = &interrupted;
    std::vector<Recorder*> raw;
    for (auto& r : recorders) raw.push_back(r.get());
    ClosedLoop loop(lo, raw, std::move(op));
    StopOnInterrupt();
    info.duration_s = loop.Run();
    signal(SIGINT, SIG_DFL);
    if (interrupted.load()) {
      info.notes.push_back("Interrupted (SIGINT): stopped before --total");
      info.extra.push_back({"interrupted", 1});
    }
    if (f.kv.range_keys) {
      // Each request read a key put writes: a range without one means the
      // key space is not what was loaded.
      info.notes.push_back("Ranges that found no key: " + std::to_string(empty_ranges.load()));
      info.extra.push_back({"ranges_empty", static_cast<double>(empty_ranges.load())});
    }
  }
  info.client_cpu_s = ProcessCpuSeconds() - cpu0;

  std::vector<const Recorder*> view;
  uint64_t errors = 0;
  for (auto& r : recorders) {
    view.push_back(r.get());
    errors += r->Errors();
  }
  PrintSummary(info, view);
  if (!f.breakdown.empty() && !view.empty()) {
    std::string body;
    if (!HttpGet(f.breakdown, &body, &error)) {
      // The run itself stands: its figures are written without the breakdown.
      std::fprintf(stderr, "ketcd-bench: warning: --breakdown after the run: %s\n", error.c_str());
    } else {
      // The writes' recorder: the last one (txn-mixed: txn-write; watch-latency: put).
      ReportBreakdown(f.breakdown, Delta(stages_before, ParseStageHistograms(body)), *view.back(), &info);
    }
  }
  if (!f.json.empty() && !WriteJson(f.json, info, view)) return 2;
  return errors == 0 && !incomplete ? 0 : 1;
}

}  // namespace

// The process ends without running static destructors: gRPC's callback
// threads may still be returning from the last calls (after their results
// were counted) when the run's objects are gone, and exit()'s teardown of
// library state under them crashed the client after its report was written
// (bench.smoke, bench.scale_smoke under CI load: SIGSEGV after the summary).
int main(int argc, char** argv) {
  int rc = BenchMain(argc, argv);
  std::fflush(nullptr);
  std::_Exit(rc);
}
