#include "tools/endpoints.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tools {
namespace {

enum class Scheme { kBare, kHttp, kHttps };

Scheme StripScheme(std::string* endpoint) {
  for (auto [prefix, scheme] : {std::pair{"http://", Scheme::kHttp}, std::pair{"https://", Scheme::kHttps}}) {
    const std::string p = prefix;
    if (endpoint->rfind(p, 0) == 0) {
      *endpoint = endpoint->substr(p.size());
      while (!endpoint->empty() && endpoint->back() == '/') endpoint->pop_back();
      return scheme;
    }
  }
  return Scheme::kBare;
}

// Reads one PEM file named by `flag`; false with `*error` naming both.
bool ReadPem(const char* flag, const std::string& path, const char* marker, std::string* out, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = std::string(flag) + " " + path + ": cannot read: " + std::strerror(errno);
    return false;
  }
  std::ostringstream s;
  s << f.rdbuf();
  if (f.bad()) {
    *error = std::string(flag) + " " + path + ": read error";
    return false;
  }
  *out = s.str();
  if (out->find(marker) == std::string::npos) {
    *error = std::string(flag) + " " + path + ": no PEM block containing \"" + marker + "\"";
    return false;
  }
  return true;
}

}  // namespace

bool ParseEndpoints(const std::string& csv, const TlsFiles& files, Endpoints* out, std::string* error) {
  out->targets.clear();
  bool any_http = false, any_https = false;
  size_t start = 0;
  while (start <= csv.size()) {
    size_t comma = csv.find(',', start);
    std::string one = csv.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    Scheme scheme = StripScheme(&one);
    any_http |= scheme == Scheme::kHttp;
    any_https |= scheme == Scheme::kHttps;
    if (!one.empty()) out->targets.push_back(one);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out->targets.empty()) {
    *error = "--endpoints is empty";
    return false;
  }
  if (any_http && any_https) {
    *error = "--endpoints mixes http:// and https:// endpoints; a run is all TLS or all plaintext";
    return false;
  }
  if (any_http && files.Any()) {
    *error = "--cacert/--cert/--key given with http:// endpoints; use https:// endpoints for TLS";
    return false;
  }
  out->tls = any_https || files.Any();
  return true;
}

std::shared_ptr<grpc::ChannelCredentials> Credentials(bool tls, const TlsFiles& files, std::string* error) {
  if (!tls) return grpc::InsecureChannelCredentials();
  if (files.cert.empty() != files.key.empty()) {
    *error = files.cert.empty() ? "--key needs --cert" : "--cert needs --key";
    return nullptr;
  }
  grpc::SslCredentialsOptions opts;
  if (!files.cacert.empty() && !ReadPem("--cacert", files.cacert, "CERTIFICATE", &opts.pem_root_certs, error)) {
    return nullptr;
  }
  if (!files.cert.empty() && (!ReadPem("--cert", files.cert, "CERTIFICATE", &opts.pem_cert_chain, error) ||
                              !ReadPem("--key", files.key, "PRIVATE KEY", &opts.pem_private_key, error))) {
    return nullptr;
  }
  return grpc::SslCredentials(opts);
}

}  // namespace tools
