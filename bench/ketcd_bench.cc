// ketcd-bench: a load generator for any etcd v3 endpoint (ketcd or etcd).
//
// This first cut has `put` and `range` with etcd benchmark's flag names;
// each client is a thread issuing blocking unary calls over one of --conns
// shared channels. Keys and values are generated from a fixed seed, so two
// runs send the same requests.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

struct Options {
  std::string endpoints = "127.0.0.1:2379";
  int clients = 1;
  int conns = 1;
  int total = 10000;
  int key_size = 8;
  int val_size = 8;
  int key_space_size = 1;
  bool sequential_keys = false;
  std::string consistency = "l";
  std::string range_key;
  std::string range_end;
};

std::vector<std::string> SplitEndpoints(const std::string& csv) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= csv.size()) {
    size_t comma = csv.find(',', start);
    std::string one = csv.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    for (const char* prefix : {"http://", "https://"}) {
      if (one.rfind(prefix, 0) == 0) one = one.substr(std::string(prefix).size());
    }
    if (!one.empty()) out.push_back(one);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string MakeKey(uint64_t n, int size) {
  std::string k(size, '\0');
  for (int i = size - 1; i >= 0; --i) {
    k[i] = static_cast<char>(n & 0xff);
    n >>= 8;
  }
  return k;
}

int Run(const Options& opt, bool is_put) {
  auto endpoints = SplitEndpoints(opt.endpoints);
  if (endpoints.empty()) {
    std::fprintf(stderr, "ketcd-bench: no endpoints\n");
    return 2;
  }
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> stubs;
  for (int i = 0; i < std::max(1, opt.conns); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);  // a real connection per channel
    args.SetInt("ketcd.bench.conn", i);                // keeps channels distinct
    auto ch = grpc::CreateCustomChannel(endpoints[i % endpoints.size()],
                                        grpc::InsecureChannelCredentials(), args);
    stubs.push_back(etcdserverpb::KV::NewStub(ch));
  }
  std::atomic<int> next{0};
  std::atomic<int> errors{0};
  std::vector<std::vector<double>> lat(opt.clients);
  const std::string value(opt.val_size, 'v');
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < opt.clients; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(1000 + c);
      auto& stub = stubs[c % stubs.size()];
      while (true) {
        int n = next.fetch_add(1);
        if (n >= opt.total) break;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        grpc::Status st;
        auto t0 = std::chrono::steady_clock::now();
        if (is_put) {
          uint64_t k = opt.sequential_keys ? n % opt.key_space_size
                                           : rng() % static_cast<uint64_t>(opt.key_space_size);
          etcdserverpb::PutRequest req;
          req.set_key(MakeKey(k, opt.key_size));
          req.set_value(value);
          etcdserverpb::PutResponse resp;
          st = stub->Put(&ctx, req, &resp);
        } else {
          etcdserverpb::RangeRequest req;
          req.set_key(opt.range_key);
          req.set_range_end(opt.range_end);
          req.set_serializable(opt.consistency == "s");
          etcdserverpb::RangeResponse resp;
          st = stub->Range(&ctx, req, &resp);
        }
        auto t1 = std::chrono::steady_clock::now();
        if (!st.ok()) {
          if (errors.fetch_add(1) < 5) std::fprintf(stderr, "error: %s\n", st.error_message().c_str());
          continue;
        }
        lat[c].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    if (all.empty()) return 0.0;
    size_t i = std::min(all.size() - 1, static_cast<size_t>(p / 100.0 * all.size()));
    return all[i];
  };
  std::printf("Summary:\n  Total:\t%.4f secs.\n  Requests/sec:\t%.1f\n", secs, all.size() / secs);
  std::printf("  Latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", pct(50), pct(90),
              pct(99), pct(99.9), all.empty() ? 0.0 : all.back());
  std::printf("  Succeeded: %zu  Errors: %d\n", all.size(), errors.load());
  return errors.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"ketcd-bench: load generator for etcd v3 endpoints", "ketcd-bench"};
  app.require_subcommand(1);
  app.add_option("--endpoints", opt.endpoints, "Comma-separated endpoints")->capture_default_str();
  app.add_option("--clients", opt.clients, "Concurrent clients")->capture_default_str();
  app.add_option("--conns", opt.conns, "gRPC connections shared by the clients")->capture_default_str();
  app.add_option("--total", opt.total, "Total requests")->capture_default_str();
  auto* put = app.add_subcommand("put", "Put keys");
  put->add_option("--key-size", opt.key_size, "Key size in bytes")->capture_default_str();
  put->add_option("--val-size", opt.val_size, "Value size in bytes")->capture_default_str();
  put->add_option("--key-space-size", opt.key_space_size, "Distinct keys")->capture_default_str();
  put->add_flag("--sequential-keys", opt.sequential_keys, "Write keys in order");
  auto* range = app.add_subcommand("range", "Range over KEY [END]");
  range->add_option("key", opt.range_key)->required();
  range->add_option("end", opt.range_end);
  range->add_option("--consistency", opt.consistency, "l (linearizable) or s (serializable)")
      ->check(CLI::IsMember({"l", "s"}))->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return Run(opt, put->parsed());
}
