#include "bench/watch_latency.h"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "bench/driver.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace ketcd::bench {
namespace {

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(end.back() + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

struct Shared {
  const WatchLatencyOptions* options = nullptr;
  Recorder* events = nullptr;
  std::vector<std::atomic<int64_t>> sent_ns;  // steady-clock time each put was sent
  std::atomic<uint64_t> created{0};
  std::atomic<uint64_t> canceled{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> out_of_order{0};
  std::atomic<int64_t> last_event_ns{0};
  std::mutex mu;
  std::condition_variable cv;
  int streams_done = 0;
  std::string first_error;

  explicit Shared(uint64_t n) : sent_ns(n) {
    for (auto& s : sent_ns) s.store(0, std::memory_order_relaxed);
  }
  void Notify() {
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  }
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

class WatchStream : public grpc::ClientBidiReactor<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse> {
 public:
  WatchStream(Shared* shared, int watchers) : shared_(shared), watchers_(watchers) {
    const std::string& prefix = shared_->options->prefix;
    auto* create = create_.mutable_create_request();
    create->set_key(prefix);
    create->set_range_end(PrefixEnd(prefix));
  }

  void Begin(etcdserverpb::Watch::Stub* stub) {
    stub->async()->Watch(&ctx_, this);
    StartRead(&resp_);
    if (watchers_ > 0) StartWrite(&create_);
    StartCall();
  }

  void Cancel() { ctx_.TryCancel(); }

  void OnWriteDone(bool ok) override {
    if (ok && ++written_ < watchers_) StartWrite(&create_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream has ended; OnDone follows
    if (resp_.created()) shared_->created.fetch_add(1, std::memory_order_relaxed);
    if (resp_.canceled()) shared_->canceled.fetch_add(1, std::memory_order_relaxed);
    if (resp_.created() || resp_.canceled()) shared_->Notify();
    if (resp_.events_size() > 0) {
      int64_t now = NowNs();
      Clock::time_point now_tp{std::chrono::nanoseconds(now)};
      const size_t prefix_len = shared_->options->prefix.size();
      int64_t& last_rev = last_rev_[resp_.watch_id()];
      for (const auto& ev : resp_.events()) {
        const std::string& key = ev.kv().key();
        uint64_t index = key.size() > prefix_len ? std::strtoull(key.c_str() + prefix_len, nullptr, 10) : UINT64_MAX;
        if (ev.kv().mod_revision() <= last_rev) shared_->out_of_order.fetch_add(1, std::memory_order_relaxed);
        last_rev = ev.kv().mod_revision();
        if (index < shared_->sent_ns.size()) {
          int64_t sent = shared_->sent_ns[index].load(std::memory_order_relaxed);
          uint64_t us = sent == 0 || now < sent ? 0 : static_cast<uint64_t>((now - sent) / 1000);
          shared_->events->SuccessMicros(us, now_tp);
        }
      }
      shared_->received.fetch_add(static_cast<uint64_t>(resp_.events_size()), std::memory_order_relaxed);
      shared_->last_event_ns.store(now, std::memory_order_relaxed);
    }
    StartRead(&resp_);
  }

  void OnDone(const grpc::Status& status) override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED && shared_->first_error.empty()) {
      shared_->first_error = status.error_message();
    }
    ++shared_->streams_done;
    shared_->cv.notify_all();
  }

 private:
  Shared* shared_;
  int watchers_;
  int written_ = 0;
  grpc::ClientContext ctx_;
  etcdserverpb::WatchRequest create_;
  etcdserverpb::WatchResponse resp_;
  std::unordered_map<int64_t, int64_t> last_rev_;  // watch id -> last event revision
};

}  // namespace

WatchLatencyOutcome RunWatchLatency(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                                    const WatchLatencyOptions& options, Recorder* events, Recorder* puts) {
  WatchLatencyOutcome out;
  Shared shared(options.put_total);
  shared.options = &options;
  shared.events = events;
  const uint64_t watchers = static_cast<uint64_t>(options.streams) * options.watchers_per_stream;
  out.expected = options.put_total * watchers;

  std::vector<std::unique_ptr<etcdserverpb::Watch::Stub>> watch_stubs;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kv_stubs;
  for (const auto& ch : channels) {
    watch_stubs.push_back(etcdserverpb::Watch::NewStub(ch));
    kv_stubs.push_back(etcdserverpb::KV::NewStub(ch));
  }
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int s = 0; s < options.streams; ++s) {
    streams.push_back(std::make_unique<WatchStream>(&shared, options.watchers_per_stream));
    streams.back()->Begin(watch_stubs[s % watch_stubs.size()].get());
  }
  auto ended = [&] {
    std::unique_lock<std::mutex> lock(shared.mu);
    return shared.streams_done;
  };
  {
    std::unique_lock<std::mutex> lock(shared.mu);
    shared.cv.wait_for(lock, std::chrono::duration<double>(options.timeout_s), [&] {
      return shared.created.load() + shared.canceled.load() >= watchers || shared.streams_done > 0;
    });
  }
  out.watchers_created = shared.created.load();
  if (out.watchers_created < watchers) {
    out.setup_failed = true;
    std::lock_guard<std::mutex> lock(shared.mu);
    out.setup_error = "only " + std::to_string(out.watchers_created) + " of " + std::to_string(watchers) +
                      " watchers were created" + (shared.first_error.empty() ? "" : ": " + shared.first_error);
  }

  if (!out.setup_failed) {
    auto value = std::make_shared<std::string>(SeededBytes(options.seed, options.val_size));
    ClosedLoop::Options lo;
    lo.clients = options.put_clients;
    lo.total = options.put_total;
    lo.rate = options.put_rate;
    lo.progress = options.progress;
    lo.label = "puts";
    auto start_ns = NowNs();
    events->Start(Clock::time_point{std::chrono::nanoseconds(start_ns)});
    ClosedLoop loop(lo, {puts}, [&](int client, uint64_t n, ClosedLoop::Done done) {
      char key[32];
      std::snprintf(key, sizeof key, "%010llu", static_cast<unsigned long long>(n));
      auto call = std::make_shared<std::tuple<grpc::ClientContext, etcdserverpb::PutRequest, etcdserverpb::PutResponse>>();
      auto& [ctx, req, resp] = *call;
      req.set_key(options.prefix + key);
      req.set_value(*value);
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000)));
      shared.sent_ns[n].store(NowNs(), std::memory_order_relaxed);
      kv_stubs[client % kv_stubs.size()]->async()->Put(&ctx, &req, &resp, [call, done](grpc::Status st) mutable {
        done(0, st);
        call.reset();
      });
    });
    loop.Run();
    // Drain: wait for the last events, ending early when nothing arrives.
    uint64_t last_seen = shared.received.load();
    auto last_progress = Clock::now();
    while (shared.received.load() < out.expected && ended() < options.streams) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      uint64_t now_seen = shared.received.load();
      if (now_seen != last_seen) {
        last_seen = now_seen;
        last_progress = Clock::now();
      } else if (Clock::now() - last_progress > std::chrono::duration<double>(options.drain_timeout_s)) {
        break;
      }
    }
    int64_t last = shared.last_event_ns.load();
    out.duration_s = last > start_ns ? (last - start_ns) / 1e9 : 0;
  }
  for (auto& s : streams) s->Cancel();
  {
    std::unique_lock<std::mutex> lock(shared.mu);
    shared.cv.wait_for(lock, std::chrono::seconds(30), [&] { return shared.streams_done >= options.streams; });
    if (shared.streams_done < options.streams) {
      // gRPC still owns the unfinished reactors; leaking them beats a crash.
      for (auto& s : streams) s.release();
    }
  }
  out.received = shared.received.load();
  out.out_of_order = shared.out_of_order.load();
  out.watchers_canceled = shared.canceled.load();
  return out;
}

}  // namespace ketcd::bench
