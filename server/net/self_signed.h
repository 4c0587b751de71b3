// Self-signed certificates for --auto-tls and --peer-auto-tls, made with
// OpenSSL's EVP_PKEY and X509 calls (nothing here is hand-rolled crypto) the
// way etcd's transport.SelfCert makes them, so that a data dir moved between
// etcd and ketcd holds the same kind of pair:
//   - an ECDSA P-521 key, written as a PEM "EC PRIVATE KEY";
//   - a certificate signed by that key (ecdsa-with-SHA512), subject and
//     issuer O=etcd, a random 128-bit serial, valid from now for
//     --self-signed-cert-validity years of 365 days, key usage digital
//     signature and key encipherment, extended key usage server auth, not a
//     CA; its SANs are the hosts of the listen URLs, IP addresses as IP SANs
//     and names as DNS SANs.
//
// A member keeps its pair in a dir of its own, <dir>/cert.pem and
// <dir>/key.pem, in three steps, so that a caller with two sides to settle
// finds every problem before it writes anything:
//   - FindSelfSigned: both files there are reused as they are, as etcd
//     reuses them (no renewal when they expire or the hosts change: the
//     dialers that accept them skip verification anyway), after a check
//     that they still form a key pair, so a damaged pair stops the member
//     with a message naming the file instead of failing every handshake;
//   - MakeSelfSigned: a new pair in memory (a bad validity fails here);
//   - WriteSelfSigned: <dir> is created (0700, with its parents), each file
//     is written to a temp file in <dir>, synced and renamed into place
//     (the key with mode 0600), and <dir> is synced. The certificate goes
//     last (a leftover one is removed first): a crash leaves a complete
//     pair or a key alone, which FindSelfSigned treats as no pair, never a
//     torn file or a mismatched pair.
// Thread-safety: stateless; two processes writing the same dir at once may
// each rename their own file last, which the next FindSelfSigned reports.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace server {

struct SelfSignedOptions {
  // Host names or addresses for the SANs, with or without ":port" (the
  // listen URLs' host:port, as etcd passes them). Duplicates are dropped.
  std::vector<std::string> hosts;
  // --self-signed-cert-validity: years of 365 days; at least 1.
  unsigned validity_years = 1;
};

// A certificate and its key, PEM-encoded.
struct SelfSignedPem {
  std::string cert_pem;
  std::string key_pem;
};

// Makes a new key and a certificate valid from `now`.
[[nodiscard]] absl::StatusOr<SelfSignedPem> MakeSelfSigned(const SelfSignedOptions& opts, absl::Time now);

struct SelfSignedFiles {
  std::string cert_file;  // <dir>/cert.pem
  std::string key_file;   // <dir>/key.pem
};

// The pair in `dir` if both files are there and match; nullopt if either
// is missing; an error naming `flag` and the file if they do not match.
[[nodiscard]] absl::StatusOr<std::optional<SelfSignedFiles>> FindSelfSigned(const std::string& dir,
                                                                            const std::string& flag);
[[nodiscard]] absl::StatusOr<SelfSignedFiles> WriteSelfSigned(const std::string& dir,
                                                              const SelfSignedPem& pem);

}  // namespace server
