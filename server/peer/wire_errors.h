// How an error's base::ErrorKind crosses the Peer service (forwarded lease
// calls): a grpc::Status carries only a code and a message, so the leader's
// handler adds the kind as trailing metadata ("ketcd-error-kind": its
// number) and the follower's caller rebuilds the typed absl::Status from
// it. Both sides use these two functions and nothing else, so that the
// follower retries on kinds (not leader, applying) and maps the leader's
// errors to etcd's strings exactly as if they had been raised locally.
// Only members of one build talk over this wire, so the number is stable.
// Thread-safety: stateless.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "base/errors.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace server {

inline constexpr char kErrorKindMetadataKey[] = "ketcd-error-kind";

// Leader side: the status to finish a Peer call with; an error's kind, if
// any, goes into `ctx`'s trailing metadata.
[[nodiscard]] inline grpc::Status ToPeerWire(const absl::Status& s, grpc::ServerContextBase* ctx) {
  if (s.ok()) return grpc::Status::OK;
  const base::ErrorKind kind = base::KindOf(s);
  if (kind != base::ErrorKind::kNone) {
    ctx->AddTrailingMetadata(kErrorKindMetadataKey, std::to_string(static_cast<int>(kind)));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// Follower side: the absl::Status a finished Peer call stands for, its
// kind restored from `ctx`'s trailing metadata.
[[nodiscard]] inline absl::Status FromPeerWire(const grpc::Status& s,
                                              const grpc::ClientContext& ctx) {
  if (s.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(s.error_code());
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find(kErrorKindMetadataKey);
  int kind = 0;
  if (it == trailers.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &kind) ||
      kind <= 0) {
    return absl::Status(code, s.error_message());
  }
  return base::MakeError(static_cast<base::ErrorKind>(kind), code, s.error_message());
}

}  // namespace server
