// ketcd-delay-proxy: a TCP relay on 127.0.0.1 that holds every chunk it reads
// for a fixed one-way delay before writing it on, so that processes on one
// machine talk as if across a WAN link. bench/compare --peer-delay puts one
// between the members of a cluster (their advertised peer URLs are its ports).
//
//   ketcd-delay-proxy --delay-ms 5 --route 127.0.0.1:A=127.0.0.1:B [--route ...]
//
// Each --route listens on A; every connection accepted there is relayed to a
// new connection to B. Each direction of a relayed connection has a reader
// thread and a writer thread sharing a queue of (due time, bytes): the reader
// stamps a chunk with the time it was read plus the delay, the writer sleeps
// until then and writes it, so order within a direction is kept and every
// byte is late by the delay, not by the delay times the chunks before it.
// The reader stops reading while --max-queue-mib is queued and unwritten, so
// a receiver that does not read slows its sender as TCP would, instead of
// the proxy buffering without bound. A side's end of stream (or a reset) is
// passed on as a half-close once the bytes read before it are written; a
// failed write tears the whole connection down. Threads per connection are
// cheap enough here: a cluster's members hold a few peer connections each.
//
// Prints one "listening" line once every route is bound. On SIGTERM or SIGINT
// prints a line per route (connections, refused dials, bytes each way) and
// exits 0. Exit 2 for bad flags or a port that cannot be bound.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace {

using Clock = std::chrono::steady_clock;

// One recv() at most; also the headroom the reader needs below the queue cap.
constexpr size_t kReadBytes = 64 << 10;
constexpr char kHost[] = "127.0.0.1";

struct Route {
  std::string text;  // as given, for the statistics
  uint16_t listen_port = 0;
  uint16_t target_port = 0;
  int listen_fd = -1;
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> refused{0};  // accepted, but the target could not be dialed
  std::atomic<uint64_t> bytes_forward{0};  // listen side to target
  std::atomic<uint64_t> bytes_back{0};
};

struct Settings {
  Clock::duration delay{};
  size_t max_queue = 8 << 20;
};

// "127.0.0.1:PORT" -> PORT. Only the loopback address: the proxy exists to
// fake distance between processes of one machine, never to expose them.
absl::StatusOr<uint16_t> ParseHostPort(const std::string& s) {
  const std::string prefix = absl::StrCat(kHost, ":");
  int port = 0;
  if (s.rfind(prefix, 0) != 0 || !absl::SimpleAtoi(s.substr(prefix.size()), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", s, "\" is not 127.0.0.1:PORT"));
  }
  return static_cast<uint16_t>(port);
}

absl::StatusOr<std::unique_ptr<Route>> ParseRoute(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--route \"", text, "\" is not LISTEN=TARGET"));
  }
  auto listen = ParseHostPort(text.substr(0, eq));
  if (!listen.ok()) return listen.status();
  auto target = ParseHostPort(text.substr(eq + 1));
  if (!target.ok()) return target.status();
  if (*listen == *target) return absl::InvalidArgumentError(absl::StrCat("--route \"", text, "\" relays to itself"));
  auto r = std::make_unique<Route>();
  r->text = text;
  r->listen_port = *listen;
  r->target_port = *target;
  return r;
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

absl::StatusOr<int> Listen(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = Loopback(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 128) != 0) {
    auto err = absl::UnavailableError(absl::StrCat("cannot listen on ", kHost, ":", port, ": ", std::strerror(errno)));
    close(fd);
    return err;
  }
  return fd;
}

// Both ends: each chunk is written once its delay is up; Nagle would hold a
// small one back for the previous one's ACK and add a delay of its own.
void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int Dial(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a = Loopback(port);
  while (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (errno == EINTR) continue;
    close(fd);
    return -1;
  }
  NoDelay(fd);
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// One direction of a relayed connection: bytes read from `from`, written to `to`.
struct Direction {
  struct Chunk {
    Clock::time_point due;
    std::string bytes;  // empty: the end of the stream
  };
  int from = -1;
  int to = -1;
  std::atomic<uint64_t>* written = nullptr;  // the route's byte counter
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Chunk> queue;  // guarded by mu
  size_t queued = 0;        // bytes read and not yet written (in the queue or being written); guarded by mu
  bool torn = false;        // the connection is being torn down; guarded by mu
};

class Connection {
 public:
  Connection(int accepted, int dialed, Route* route) : accepted_(accepted), dialed_(dialed) {
    forward_.from = back_.to = accepted;
    forward_.to = back_.from = dialed;
    forward_.written = &route->bytes_forward;
    back_.written = &route->bytes_back;
  }
  ~Connection() {
    close(accepted_);
    close(dialed_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Four threads, each holding the connection; the last one out closes it.
  static void Start(std::shared_ptr<Connection> c, const Settings& s) {
    for (Direction* d : {&c->forward_, &c->back_}) {
      std::thread([c, d, s] { c->Read(d, s); }).detach();
      std::thread([c, d] { c->Write(d); }).detach();
    }
  }

 private:
  void Read(Direction* d, const Settings& s) {
    std::vector<char> buf(kReadBytes);
    for (;;) {
      {
        std::unique_lock l(d->mu);
        d->cv.wait(l, [&] { return d->torn || d->queued + kReadBytes <= s.max_queue; });
        if (d->torn) return;
      }
      ssize_t n = recv(d->from, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      const auto due = Clock::now() + s.delay;
      std::lock_guard l(d->mu);
      if (d->torn) return;
      if (n <= 0) {  // end of stream or reset: pass it on after what came before
        d->queue.push_back({due, {}});
        d->cv.notify_all();
        return;
      }
      d->queued += static_cast<size_t>(n);
      d->queue.push_back({due, std::string(buf.data(), static_cast<size_t>(n))});
      d->cv.notify_all();
    }
  }

  void Write(Direction* d) {
    for (;;) {
      Direction::Chunk c;
      {
        std::unique_lock l(d->mu);
        d->cv.wait(l, [&] { return d->torn || !d->queue.empty(); });
        if (d->torn) return;
        c = std::move(d->queue.front());
        d->queue.pop_front();
      }
      std::this_thread::sleep_until(c.due);
      if (c.bytes.empty()) {
        shutdown(d->to, SHUT_WR);
        return;
      }
      if (!SendAll(d->to, c.bytes)) {
        TearDown();
        return;
      }
      d->written->fetch_add(c.bytes.size(), std::memory_order_relaxed);
      std::lock_guard l(d->mu);
      d->queued -= c.bytes.size();
      d->cv.notify_all();
    }
  }

  // A side that cannot be written to is gone: drop what is queued for it and
  // end both directions (the shutdowns wake readers blocked in recv).
  void TearDown() {
    for (Direction* d : {&forward_, &back_}) {
      std::lock_guard l(d->mu);
      d->torn = true;
      d->queue.clear();
      d->cv.notify_all();
    }
    shutdown(accepted_, SHUT_RDWR);
    shutdown(dialed_, SHUT_RDWR);
  }

  const int accepted_;
  const int dialed_;
  Direction forward_;
  Direction back_;
};

void AcceptLoop(Route* r, Settings s) {
  for (;;) {
    int a = accept4(r->listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (a < 0) {
      if (errno != EINTR && errno != ECONNABORTED) {
        std::fprintf(stderr, "ketcd-delay-proxy: accept on %s: %s\n", r->text.c_str(), std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE and the like: do not spin
      }
      continue;
    }
    int b = Dial(r->target_port);
    if (b < 0) {
      // The target is not up (a member still starting): the client sees its
      // connection closed and redials, as after a refused connect.
      r->refused.fetch_add(1, std::memory_order_relaxed);
      close(a);
      continue;
    }
    NoDelay(a);
    r->connections.fetch_add(1, std::memory_order_relaxed);
    Connection::Start(std::make_shared<Connection>(a, b, r), s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> route_texts;
  double delay_ms = -1;
  size_t max_queue_mib = 8;
  CLI::App app{"ketcd-delay-proxy: relays TCP connections on 127.0.0.1, holding every byte for a fixed delay",
               "ketcd-delay-proxy"};
  app.add_option("--route", route_texts, "127.0.0.1:LISTEN=127.0.0.1:TARGET (repeat for more routes)")->required();
  app.add_option("--delay-ms", delay_ms, "One-way delay of every byte, milliseconds (fractions allowed)")
      ->required()->check(CLI::Range(0.0, 60000.0));
  app.add_option("--max-queue-mib", max_queue_mib, "Bytes read but not yet written, per direction, at most")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  Settings s;
  s.delay = std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(std::llround(delay_ms * 1e6)));
  s.max_queue = max_queue_mib << 20;

  std::vector<std::unique_ptr<Route>> routes;
  for (const auto& text : route_texts) {
    auto r = ParseRoute(text);
    if (!r.ok()) {
      std::fprintf(stderr, "ketcd-delay-proxy: %s\n", std::string(r.status().message()).c_str());
      return 2;
    }
    routes.push_back(std::move(*r));
  }
  // Signals are taken by sigwait below, never by the relay threads, which
  // inherit this mask. Writes use MSG_NOSIGNAL; SIGPIPE is blocked anyway.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  for (auto& r : routes) {
    auto fd = Listen(r->listen_port);
    if (!fd.ok()) {
      std::fprintf(stderr, "ketcd-delay-proxy: %s\n", std::string(fd.status().message()).c_str());
      return 2;
    }
    r->listen_fd = *fd;
  }
  std::printf("ketcd-delay-proxy: listening, %zu routes, delay %g ms one way\n", routes.size(), delay_ms);
  std::fflush(stdout);
  for (auto& r : routes) std::thread(AcceptLoop, r.get(), s).detach();

  sigdelset(&stop, SIGPIPE);
  int sig = 0;
  sigwait(&stop, &sig);
  for (const auto& r : routes) {
    std::printf("route %s connections %llu refused %llu bytes_forward %llu bytes_back %llu\n", r->text.c_str(),
                static_cast<unsigned long long>(r->connections.load()),
                static_cast<unsigned long long>(r->refused.load()),
                static_cast<unsigned long long>(r->bytes_forward.load()),
                static_cast<unsigned long long>(r->bytes_back.load()));
  }
  std::fflush(stdout);
  // Relay threads may be mid-write; exit without running destructors under them.
  _exit(0);
}
