// AuthenticateLimiter (server/edge/authenticate_limiter.h): a client's
// budget of failures on a manual clock (burst, refill, the debt of a
// concurrent burst, clients apart, the bound on remembered clients), and the bounded queue of
// bcrypt compares (refused beyond it, queued jobs told at shutdown).
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "server/edge/authenticate_limiter.h"

namespace ketcd_test {
namespace {

using server::AuthenticateLimiter;

AuthenticateLimiter::Options Budget(int burst, absl::Duration refill) {
  AuthenticateLimiter::Options o;
  o.workers = 1;
  o.failure_burst = burst;
  o.failure_refill = refill;
  return o;
}

TEST_CASE("authenticate limiter: a client's failures are budgeted on the clock", "[auth][limiter]") {
  base::ManualClock clock;
  AuthenticateLimiter lim(&clock, Budget(3, absl::Seconds(1)));
  const std::string a = "ipv4:10.0.0.1";
  const std::string b = "ipv4:10.0.0.2";
  // Logins that succeed cost nothing, however many.
  for (int i = 0; i < 100; ++i) REQUIRE(lim.Admit(a));
  for (int i = 0; i < 3; ++i) {
    REQUIRE(lim.Admit(a));
    lim.Failed(a);
  }
  CHECK_FALSE(lim.Admit(a));  // burst of failures spent
  CHECK(lim.Admit(b));        // another client is not affected
  clock.Advance(absl::Milliseconds(999));
  CHECK_FALSE(lim.Admit(a));
  clock.Advance(absl::Milliseconds(1));
  CHECK(lim.Admit(a));  // one more per second
  lim.Failed(a);
  CHECK_FALSE(lim.Admit(a));
  clock.Advance(absl::Hours(1));
  CHECK(lim.BudgetForTest(a) == 3);  // refills up to the burst only
  // Guesses admitted together and all failing are paid back before the
  // next one: 3 + 5 failures leave the budget at -5.
  for (int i = 0; i < 8; ++i) REQUIRE(lim.Admit(b));  // admitted together, before any fails
  for (int i = 0; i < 8; ++i) lim.Failed(b);
  CHECK(lim.BudgetForTest(b) == -5);
  clock.Advance(absl::Seconds(5));
  CHECK_FALSE(lim.Admit(b));
  clock.Advance(absl::Seconds(1));
  CHECK(lim.Admit(b));
}

TEST_CASE("authenticate limiter: the debt of a burst is bounded", "[auth][limiter]") {
  base::ManualClock clock;
  auto o = Budget(2, absl::Seconds(1));
  o.max_queued = 4;
  AuthenticateLimiter lim(&clock, o);
  for (int i = 0; i < 100; ++i) lim.Failed("c");
  CHECK(lim.BudgetForTest("c") == -4);
  clock.Advance(absl::Seconds(5));
  CHECK(lim.Admit("c"));
}

TEST_CASE("authenticate limiter: clients are told apart by address, not port", "[auth][limiter]") {
  CHECK(AuthenticateLimiter::ClientOf("ipv4:127.0.0.1:54321") == "ipv4:127.0.0.1");
  CHECK(AuthenticateLimiter::ClientOf("ipv6:[::1]:54321") == "ipv6:[::1]");
  CHECK(AuthenticateLimiter::ClientOf("ipv6:%5B::1%5D:7") == "ipv6:%5B::1%5D");
  CHECK(AuthenticateLimiter::ClientOf("unix:/tmp/sock") == "unix:/tmp/sock");
  base::ManualClock clock;
  AuthenticateLimiter lim(&clock, Budget(1, absl::Seconds(10)));
  CHECK(lim.Admit(AuthenticateLimiter::ClientOf("ipv4:10.1.1.1:1000")));
  lim.Failed(AuthenticateLimiter::ClientOf("ipv4:10.1.1.1:1000"));
  CHECK_FALSE(lim.Admit(AuthenticateLimiter::ClientOf("ipv4:10.1.1.1:1001")));  // a new connection
}

TEST_CASE("authenticate limiter: remembered clients are bounded", "[auth][limiter]") {
  base::ManualClock clock;
  auto o = Budget(1, absl::Seconds(10));
  o.max_clients = 2;
  AuthenticateLimiter lim(&clock, o);
  lim.Failed("c1");
  lim.Failed("c2");
  CHECK_FALSE(lim.Admit("c3"));  // both others are mid-budget: no room
  clock.Advance(absl::Seconds(10));  // c1 and c2 full again: forgotten
  CHECK(lim.Admit("c3"));
  CHECK(lim.Admit("c1"));
}

TEST_CASE("authenticate limiter: compares wait in a bounded queue", "[auth][limiter]") {
  base::ManualClock clock;
  auto o = Budget(10, absl::Seconds(1));
  o.workers = 1;
  o.max_queued = 2;
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  bool release = false;
  std::vector<std::string> ran;
  {
    AuthenticateLimiter lim(&clock, o);
    // The first job holds the only worker until released.
    REQUIRE(lim.Submit([&](bool stopped) {
      std::unique_lock<std::mutex> lock(mu);
      ran.push_back(stopped ? "first-stopped" : "first");
      started = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    }));
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return started; });
    }
    auto record = [&](std::string name) {
      return [&, name](bool stopped) {
        std::lock_guard<std::mutex> lock(mu);
        ran.push_back(stopped ? name + "-stopped" : name);
      };
    };
    CHECK(lim.Submit(record("second")));
    CHECK(lim.Submit(record("third")));
    CHECK_FALSE(lim.Submit(record("fourth")));  // two waiting already
    {
      std::lock_guard<std::mutex> lock(mu);
      release = true;
    }
    cv.notify_all();
    // Destroyed now: the worker finishes "first"; whatever had not started
    // is told it was stopped, so every job is answered exactly once.
  }
  REQUIRE(ran.size() == 3);
  CHECK(ran[0] == "first");
  for (size_t i = 1; i < ran.size(); ++i) {
    CHECK((ran[i] == "second" || ran[i] == "second-stopped" || ran[i] == "third" || ran[i] == "third-stopped"));
  }
}

}  // namespace
}  // namespace ketcd_test
