// Endpoints and transport credentials of the client tools (ketcdctl and
// ketcd-bench), with etcdctl's flag names and rules (--endpoints, --cacert,
// --cert, --key). It lives in tools/ as the one client-side dialing code;
// bench/ links it (library ketcd_dial).
//
// Contract: `ParseEndpoints` splits --endpoints into gRPC targets
// ("host:port") and decides once for the whole run whether to dial with TLS:
// `https://` endpoints always, bare `host:port` endpoints when a TLS flag is
// given (as etcdctl does), `http://` endpoints never. A run is all TLS or
// all plaintext: mixing `https://` with `http://` is an error, and so is a
// TLS flag with `http://` endpoints (its results would be taken for TLS
// ones). `Credentials` reads the PEM files and fails naming the flag and
// the file; without --cacert the system's roots verify the server. The
// server certificate is checked against the host in the target, so
// `https://127.0.0.1:2379` needs a certificate with the SAN IP:127.0.0.1.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"

namespace tools {

struct TlsFiles {
  std::string cacert;  // --cacert: CA bundle that verifies the server
  std::string cert;    // --cert: client certificate chain (mutual TLS)
  std::string key;     // --key: its private key
  bool Any() const { return !cacert.empty() || !cert.empty() || !key.empty(); }
};

struct Endpoints {
  std::vector<std::string> targets;  // host:port, scheme stripped
  bool tls = false;
};

// False with `*error` set when the list is empty or mixes schemes.
bool ParseEndpoints(const std::string& csv, const TlsFiles& files, Endpoints* out, std::string* error);

// Insecure credentials when !tls; otherwise SslCredentials from `files`.
// nullptr with `*error` set when a file is unreadable or not PEM, or only
// one of --cert and --key is given.
std::shared_ptr<grpc::ChannelCredentials> Credentials(bool tls, const TlsFiles& files, std::string* error);

}  // namespace tools
