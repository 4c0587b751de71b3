// lease-keepalive: each client grants one lease, then sends keep-alives for
// it on one LeaseKeepAlive stream, one at a time; the latency is request to
// response. Leases are revoked afterwards.
//
// Contract: `total` keep-alives are sent over all clients; a response with
// TTL <= 0 (lease gone) counts as a NOT_FOUND error, a broken stream as its
// status code for the keep-alive in flight.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench/recorder.h"
#include "grpcpp/grpcpp.h"

namespace ketcd::bench {

struct LeaseKeepAliveOptions {
  int clients = 1;
  uint64_t total = 10000;
  int64_t ttl = 60;
  double timeout_s = 60;
  bool progress = false;
};

// Returns the wall time of the keep-alive phase, or a negative value with
// `error` set when the leases could not be granted.
double RunLeaseKeepAlive(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                         const LeaseKeepAliveOptions& options, Recorder* keepalives, std::string* error);

}  // namespace ketcd::bench
