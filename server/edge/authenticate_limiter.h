// AuthenticateLimiter: keeps password guessing from stalling a member.
// Every Authenticate costs a bcrypt compare (tens of milliseconds of a
// core at etcd's default cost), so an unbounded stream of guesses would
// take the member's CPU from raft and the other clients. Two bounds:
//  - a budget of failures per client (its address, port dropped): a token
//    bucket of `failure_burst` refilled at one per `failure_refill`. An
//    Authenticate is taken while the client's bucket holds one; each wrong
//    user or password takes one out (going below zero for guesses that were
//    already running, so a concurrent burst is paid back before the next
//    try). Clients that know their password are never limited, however
//    many log in at once; a guesser gets `failure_burst` tries, then one
//    per interval;
//  - the compares themselves run on `workers` threads with at most
//    `max_queued` waiting, so guessing from many addresses uses at most
//    that many cores and a bounded backlog.
// Beyond either bound Authenticate is refused at once with etcd's
// `etcdserver: too many requests` (ResourceExhausted), which clients retry
// with backoff. etcd itself has no such limit; the answer is the one etcd
// gives when a request cannot be taken.
//
// Ownership: owns its worker threads (joined in the destructor; jobs still
// queued then are called with stopped=true). Thread-safety: thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "base/clock.h"

namespace server {

class AuthenticateLimiter {
 public:
  struct Options {
    // Threads running bcrypt compares: by default half the cores, at least one.
    int workers = DefaultWorkers();
    // Compares waiting for a worker beyond which Authenticate is refused.
    size_t max_queued = 64;
    // Per client: attempts that may fail in a row, and how often one more
    // is allowed (default 10, then 4 per second).
    int failure_burst = 10;
    absl::Duration failure_refill = absl::Milliseconds(250);
    // Clients remembered; beyond it those whose budget is full are forgotten.
    size_t max_clients = 4096;
    static int DefaultWorkers();
  };
  // `clock` times the budgets.
  AuthenticateLimiter(const base::Clock* clock, Options opts);
  ~AuthenticateLimiter();
  AuthenticateLimiter(const AuthenticateLimiter&) = delete;
  AuthenticateLimiter& operator=(const AuthenticateLimiter&) = delete;

  // The client key of a gRPC peer string ("ipv4:127.0.0.1:54321" ->
  // "ipv4:127.0.0.1"): the address without its port.
  static std::string ClientOf(std::string_view grpc_peer);

  // Whether `client` may try now (its budget holds a whole failure).
  bool Admit(const std::string& client);
  // `client` named a wrong user or password: one failure off its budget
  // (down to -max_queued at most).
  void Failed(const std::string& client);

  // Runs `job(false)` on a worker; false (and `job` dropped) when
  // `max_queued` jobs are waiting already. At destruction, jobs not yet
  // started run as `job(true)` on the destroying thread.
  using Job = std::function<void(bool stopped)>;
  bool Submit(Job job);

  // For tests: failures `client` may have now.
  double BudgetForTest(const std::string& client);

 private:
  struct Bucket {
    double tokens;
    absl::Time at;  // when `tokens` was computed
  };
  // `client`'s bucket refilled up to now (created full). mu_ held.
  Bucket& RefillLocked(const std::string& client, absl::Time now);
  void ForgetFullLocked(absl::Time now);
  void Work();

  const base::Clock* clock_;
  const Options opts_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;  // guarded by mu_
  std::condition_variable cv_;
  std::deque<Job> queue_;  // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace server
