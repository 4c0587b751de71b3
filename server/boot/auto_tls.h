// --auto-tls and --peer-auto-tls, on top of the SecurityConfig built from
// etcd's other TLS flags, as etcd's ClientSelfCert and PeerSelfCert define
// them:
//   - a side with the flag and neither its --cert-file nor its --key-file
//     (--peer-* for the peer side) uses a self-signed pair kept in
//     <data-dir>/fixtures/client or fixtures/peer (storage/member_dir.h),
//     made once (server/net/self_signed.h) with the hosts of the side's
//     listen URLs as SANs and reused on every later start;
//   - that pair replaces all of the side's TLS settings, as etcd replaces
//     its TLSInfo: --trusted-ca-file, --client-cert-auth, --client-crl-file
//     (and for the peer side --peer-cert-allowed-cn/-hostname) are dropped
//     with a warning, so clients are not asked for certificates, and
//     members dial each other without verifying the other's certificate;
//   - with a certificate or key given, the flag is ignored with a warning.
// Every check (the other side's files, a damaged pair on disk, the
// validity) is made before the first file is written, so a bad
// configuration leaves no data dir behind.
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/logger.h"
#include "server/boot/config.h"
#include "server/net/transport_security.h"

namespace server {

// `sc`: the SecurityConfig from the flags as given; returned with the
// self-signed pairs in. `now` starts the validity of a new certificate.
[[nodiscard]] absl::StatusOr<SecurityConfig> ApplyAutoTls(const Config& cfg, SecurityConfig sc, absl::Time now,
                                                          base::Logger& logger);

}  // namespace server
