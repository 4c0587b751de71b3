// Loud failure for broken invariants (Debian 12's Abseil has no
// absl/log). A failed check prints file, line, condition and the streamed
// detail to stderr and aborts: a raft node whose invariants are broken
// must not keep taking part in consensus.
#ifndef KETCD_RAFT_CHECK_H_
#define KETCD_RAFT_CHECK_H_

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace raft::internal {

class Fatal {
 public:
  Fatal(const char* file, int line, const char* what) {
    os_ << file << ":" << line << ": check failed: " << what << " ";
  }
  ~Fatal() {
    std::cerr << os_.str() << std::endl;
    std::abort();
  }
  template <typename T>
  Fatal& operator<<(const T& v) {
    os_ << v;
    return *this;
  }

 private:
  std::ostringstream os_;
};

}  // namespace raft::internal

// The loop body runs at most once: Fatal's destructor aborts.
#define RAFT_CHECK(cond) \
  while (!(cond)) ::raft::internal::Fatal(__FILE__, __LINE__, #cond)
#define RAFT_CHECK_OP(a, op, b) \
  while (!((a)op(b))) ::raft::internal::Fatal(__FILE__, __LINE__, #a " " #op " " #b) \
      << "(" << (a) << " vs " << (b) << ") "
#define RAFT_CHECK_EQ(a, b) RAFT_CHECK_OP(a, ==, b)
#define RAFT_CHECK_NE(a, b) RAFT_CHECK_OP(a, !=, b)
#define RAFT_CHECK_LT(a, b) RAFT_CHECK_OP(a, <, b)
#define RAFT_CHECK_LE(a, b) RAFT_CHECK_OP(a, <=, b)
#define RAFT_CHECK_GT(a, b) RAFT_CHECK_OP(a, >, b)
#define RAFT_CHECK_GE(a, b) RAFT_CHECK_OP(a, >=, b)
#define RAFT_FATAL() while (true) ::raft::internal::Fatal(__FILE__, __LINE__, "fatal")

#endif  // KETCD_RAFT_CHECK_H_
