#include "server/boot/auto_tls.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/net/self_signed.h"
#include "storage/member_dir.h"

namespace server {
namespace {

struct SideFlags {
  const char* auto_tls;  // "--auto-tls"
  const char* name;      // "client"
  const char* ca;
  const char* cert_auth;
  const char* crl;
};
constexpr SideFlags kClientSide{"--auto-tls", "client", "--trusted-ca-file", "--client-cert-auth",
                                "--client-crl-file"};
constexpr SideFlags kPeerSide{"--peer-auto-tls", "peer", "--peer-trusted-ca-file", "--peer-client-cert-auth",
                              "--peer-crl-file"};

// One side whose auto-TLS flag applies, on its way to a pair on disk.
struct AutoSide {
  bool peer;
  const SideFlags* flags;
  std::string dir;
  SelfSignedOptions opts;
  std::optional<SelfSignedFiles> pair;  // found on disk, or written
  std::optional<SelfSignedPem> made;    // made, not written yet
};

TlsFiles& FilesOf(SecurityConfig& sc, bool peer) { return peer ? sc.peer : sc.client; }
std::vector<Url>& ListenOf(SecurityConfig& sc, bool peer) {
  return peer ? sc.peer_listen_urls : sc.client_listen_urls;
}

// The sides whose flag applies; a flag next to certificate files is
// ignored, as etcd ignores it ("ignoring client auto TLS since certs given").
std::vector<AutoSide> AutoSides(const Config& cfg, const SecurityConfig& sc, base::Logger& logger) {
  std::vector<AutoSide> sides;
  auto consider = [&](bool on, bool peer, const SideFlags& flags, std::string dir) {
    if (!on) return;
    const TlsFiles& given = peer ? sc.peer : sc.client;
    if (!given.cert_file.empty() || !given.key_file.empty()) {
      logger.Warn(absl::StrCat("ignoring ", flags.auto_tls, " since ", flags.name, " certificate files are given"));
      return;
    }
    AutoSide side{peer, &flags, std::move(dir), {}, std::nullopt, std::nullopt};
    side.opts.validity_years = cfg.self_signed_cert_validity;
    for (const Url& u : peer ? sc.peer_listen_urls : sc.client_listen_urls) side.opts.hosts.push_back(u.HostPort());
    sides.push_back(std::move(side));
  };
  consider(cfg.client_auto_tls, false, kClientSide, storage::MemberDir::ClientFixturesDir(cfg.data_dir));
  consider(cfg.peer_auto_tls, true, kPeerSide, storage::MemberDir::PeerFixturesDir(cfg.data_dir));
  return sides;
}

// The pair replaces the side's whole TLS setting, as etcd's SelfCert
// replaces the TLSInfo: the flags that went with it are dropped, loudly.
void DropSettings(const AutoSide& side, SecurityConfig& sc, base::Logger& logger) {
  TlsFiles& f = FilesOf(sc, side.peer);
  std::vector<std::string> dropped;
  if (!f.trusted_ca_file.empty()) dropped.push_back(side.flags->ca);
  if (f.client_cert_auth) dropped.push_back(side.flags->cert_auth);
  if (!f.crl_file.empty()) dropped.push_back(side.flags->crl);
  if (side.peer && !sc.peer_allowed_cn.empty()) dropped.push_back("--peer-cert-allowed-cn");
  if (side.peer && !sc.peer_allowed_hostname.empty()) dropped.push_back("--peer-cert-allowed-hostname");
  if (!dropped.empty()) {
    logger.Warn(absl::StrCat("ignoring ", absl::StrJoin(dropped, ", "), " with ", side.flags->auto_tls,
                             ": the self-signed certificate replaces the ", side.flags->name, " TLS settings"));
  }
  f = TlsFiles{};
  if (side.peer) {
    sc.peer_allowed_cn.clear();
    sc.peer_allowed_hostname.clear();
  }
}

// Finds or makes every side's pair in memory; writes nothing.
absl::Status Prepare(std::vector<AutoSide>& sides, absl::Time now) {
  for (AutoSide& side : sides) {
    auto found = FindSelfSigned(side.dir, side.flags->auto_tls);
    if (!found.ok()) return found.status();
    side.pair = *found;
  }
  for (AutoSide& side : sides) {
    if (side.pair) continue;
    auto made = MakeSelfSigned(side.opts, now);
    if (!made.ok()) return made.status();
    side.made = std::move(*made);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SecurityConfig> ApplyAutoTls(const Config& cfg, SecurityConfig sc, absl::Time now,
                                            base::Logger& logger) {
  std::vector<AutoSide> sides = AutoSides(cfg, sc, logger);
  for (const AutoSide& side : sides) DropSettings(side, sc, logger);
  // What the pairs do not replace is checked as TransportSecurity::Create
  // will check it; the auto sides' https URLs wait for their pairs.
  SecurityConfig rest = sc;
  for (const AutoSide& side : sides) ListenOf(rest, side.peer).clear();
  if (auto s = TransportSecurity::Check(rest); !s.ok()) return s;
  if (auto s = Prepare(sides, now); !s.ok()) return s;
  for (AutoSide& side : sides) {
    if (side.made) {
      auto written = WriteSelfSigned(side.dir, *side.made);
      if (!written.ok()) {
        return absl::Status(written.status().code(),
                            absl::StrCat(side.flags->auto_tls, ": ", written.status().message()));
      }
      side.pair = *written;
      logger.Info(absl::StrCat(side.flags->auto_tls, ": created a self-signed certificate"),
                  {{"cert-file", side.pair->cert_file}, {"key-file", side.pair->key_file},
                   {"validity-years", static_cast<uint64_t>(side.opts.validity_years)}});
    } else {
      logger.Info(absl::StrCat(side.flags->auto_tls, ": using the self-signed certificate made before"),
                  {{"cert-file", side.pair->cert_file}, {"key-file", side.pair->key_file}});
    }
    TlsFiles& f = FilesOf(sc, side.peer);
    f.cert_file = side.pair->cert_file;
    f.key_file = side.pair->key_file;
    f.self_signed = true;
  }
  return sc;
}

}  // namespace server
