#include "server/edge/grpc_errors.h"

#include <string>

#include "server/state/errors.h"
#include "storage/errors.h"

namespace server {
namespace {

struct KnownError {
  absl::string_view message;
  grpc::StatusCode code;
};

// Every error a client can provoke, with etcd's gRPC code for it.
constexpr KnownError kKnown[] = {
    {kErrEmptyKey, grpc::StatusCode::INVALID_ARGUMENT},
    {kErrKeyNotFound, grpc::StatusCode::INVALID_ARGUMENT},
    {kErrValueProvided, grpc::StatusCode::INVALID_ARGUMENT},
    {kErrLeaseProvided, grpc::StatusCode::INVALID_ARGUMENT},
    {kErrTooManyOps, grpc::StatusCode::INVALID_ARGUMENT},
    {kErrDuplicateKey, grpc::StatusCode::INVALID_ARGUMENT},
    {kErrRequestTooLarge, grpc::StatusCode::INVALID_ARGUMENT},
    {kErrInvalidSortOption, grpc::StatusCode::INVALID_ARGUMENT},
    {kErrLeaseNotFound, grpc::StatusCode::NOT_FOUND},
    {kErrLeaseExists, grpc::StatusCode::FAILED_PRECONDITION},
    {kErrLeaseTtlTooLarge, grpc::StatusCode::OUT_OF_RANGE},
    {kErrStopped, grpc::StatusCode::UNAVAILABLE},
    {kErrTimeout, grpc::StatusCode::UNAVAILABLE},
    {kErrNoLeader, grpc::StatusCode::UNAVAILABLE},
    {storage::kErrCompacted, grpc::StatusCode::OUT_OF_RANGE},
    {storage::kErrFutureRev, grpc::StatusCode::OUT_OF_RANGE},
};

grpc::StatusCode FromAbslCode(absl::StatusCode c) {
  // absl and gRPC share the canonical code numbering.
  return static_cast<grpc::StatusCode>(static_cast<int>(c));
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  for (const auto& k : kKnown) {
    if (s.message() == k.message) {
      return grpc::Status(k.code, "etcdserver: " + std::string(k.message));
    }
  }
  return grpc::Status(FromAbslCode(s.code()), std::string(s.message()));
}

absl::Status CheckRequireLeader(const grpc::ServerContextBase& ctx, const Proposer& proposer) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("hasleader");
  if (it == md.end() || it->second != "true") return absl::OkStatus();
  if (proposer.Status().leader != 0) return absl::OkStatus();
  return NoLeaderError();
}

}  // namespace server
