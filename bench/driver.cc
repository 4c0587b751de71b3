#include "bench/driver.h"

#include "bench/auth_token.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

namespace ketcd::bench {

std::vector<std::shared_ptr<grpc::Channel>> Dial(const std::vector<std::string>& endpoints, int conns,
                                                 const std::shared_ptr<grpc::ChannelCredentials>& creds,
                                                 std::vector<std::shared_ptr<std::string>>* tokens) {
  std::vector<std::shared_ptr<grpc::Channel>> out;
  for (int i = 0; i < std::max(1, conns); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);  // a connection of its own per channel
    args.SetInt("ketcd.bench.conn", i);                // keeps otherwise equal channels distinct
    args.SetMaxReceiveMessageSize(-1);
    if (tokens == nullptr) {
      out.push_back(grpc::CreateCustomChannel(endpoints[i % endpoints.size()], creds, args));
      continue;
    }
    tokens->push_back(std::make_shared<std::string>());
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
    interceptors.push_back(TokenInterceptor(tokens->back()));
    out.push_back(grpc::experimental::CreateCustomChannelWithInterceptors(endpoints[i % endpoints.size()], creds,
                                                                          args, std::move(interceptors)));
  }
  return out;
}

bool WaitConnected(const std::vector<std::shared_ptr<grpc::Channel>>& channels, double timeout_s) {
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  for (const auto& ch : channels) {
    if (!ch->WaitForConnected(deadline)) return false;
  }
  return true;
}

uint64_t Mix64(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string BinaryKey(uint64_t n, int size) {
  std::string k(static_cast<size_t>(std::max(0, size)), '\0');
  for (int i = size - 1; i >= 0; --i) {
    k[i] = static_cast<char>(n & 0xff);
    n >>= 8;
  }
  return k;
}

std::string SeededBytes(uint64_t seed, int size) {
  std::mt19937_64 rng(seed);
  std::string out(static_cast<size_t>(std::max(0, size)), '\0');
  for (auto& c : out) c = static_cast<char>('a' + rng() % 26);
  return out;
}

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

ClosedLoop::ClosedLoop(Options options, std::vector<Recorder*> recorders, Op op)
    : options_(std::move(options)), recorders_(std::move(recorders)), op_(std::move(op)) {}

void ClosedLoop::Next(int client) {
  // A callback that ends inline would otherwise recurse once per request.
  thread_local int depth = 0;
  uint64_t n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (next_ >= options_.total || Stopped()) {
      if (--running_clients_ == 0) cv_.notify_all();
      return;
    }
    if (options_.rate > 0 && next_ >= permits_) {
      parked_.push_back(client);
      return;
    }
    if (depth > 8) {
      deferred_.push_back(client);
      cv_.notify_all();
      return;
    }
    n = next_++;
  }
  ++depth;
  Issue(client, n);
  --depth;
}

void ClosedLoop::Issue(int client, uint64_t n) {
  Clock::time_point sent = Clock::now();
  op_(client, n, [this, client, n, sent](int kind, const grpc::Status& st) { Finished(client, n, sent, kind, st); });
}

void ClosedLoop::Finished(int client, uint64_t, Clock::time_point sent, int kind, const grpc::Status& st) {
  Recorder* r = recorders_[std::clamp(kind, 0, static_cast<int>(recorders_.size()) - 1)];
  if (st.ok()) {
    r->Success(sent, Clock::now());
  } else {
    r->Failure(static_cast<int>(st.error_code()), st.error_message());
  }
  ended_.fetch_add(1, std::memory_order_relaxed);
  Next(client);
}

void ClosedLoop::Progress(bool final) {
  if (!options_.progress) return;
  uint64_t done = ended_.load(std::memory_order_relaxed);
  double frac = options_.total == 0 ? 1.0 : static_cast<double>(done) / options_.total;
  double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
  int filled = static_cast<int>(frac * 30);
  std::fprintf(stderr, "\r%s [%s%s] %3d%% %llu/%llu %.0f req/s  ", options_.label.c_str(),
               std::string(filled, '#').c_str(), std::string(30 - filled, '.').c_str(),
               static_cast<int>(frac * 100), static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(options_.total), secs > 0 ? done / secs : 0.0);
  if (final) std::fprintf(stderr, "\n");
}

double ClosedLoop::Run() {
  t0_ = Clock::now();
  for (Recorder* r : recorders_) r->Start(t0_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_clients_ = std::max(1, options_.clients);
    permits_ = options_.rate > 0 ? 1 : options_.total;
  }
  for (int c = 0; c < std::max(1, options_.clients); ++c) Next(c);

  auto last_progress = Clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (running_clients_ > 0) {
    if (next_ >= options_.total || Stopped()) {  // parked clients have nothing left to send
      running_clients_ -= static_cast<int>(parked_.size());
      parked_.clear();
      if (running_clients_ == 0) break;
    }
    while (!deferred_.empty()) {
      int c = deferred_.front();
      deferred_.pop_front();
      lock.unlock();
      Next(c);
      lock.lock();
    }
    auto wait = std::chrono::milliseconds(100);
    if (options_.rate > 0) {
      double elapsed = std::chrono::duration<double>(Clock::now() - t0_).count();
      permits_ = std::min<uint64_t>(options_.total, static_cast<uint64_t>(elapsed * options_.rate) + 1);
      while (!parked_.empty() && next_ < permits_) {
        int c = parked_.front();
        parked_.pop_front();
        uint64_t n = next_++;
        lock.unlock();
        Issue(c, n);
        lock.lock();
      }
      // Wake when the next permit is due.
      double due = static_cast<double>(permits_) / options_.rate - elapsed;
      wait = std::chrono::milliseconds(std::clamp(static_cast<int>(due * 1000), 1, 100));
    }
    cv_.wait_for(lock, wait);
    if (Clock::now() - last_progress > std::chrono::milliseconds(250)) {
      last_progress = Clock::now();
      lock.unlock();
      Progress(false);
      lock.lock();
    }
  }
  lock.unlock();
  double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
  Progress(true);
  return secs;
}

}  // namespace ketcd::bench
