// The etcd versions ketcd reports: in Maintenance.Status (what `etcdctl
// endpoint status` prints) and on GET /version.
#pragma once

namespace server {

// The etcd server release whose API and behaviour ketcd follows. kubeadm's
// preflight for an external etcd (GET /version) refuses a server older
// than its MinExternalEtcdVersion (3.5.24 in current kubeadm releases), so
// this must not be older than that.
inline constexpr char kEtcdServerVersion[] = "3.5.24";
// The cluster version, major.minor.0 as etcd reports it.
inline constexpr char kEtcdClusterVersion[] = "3.5.0";

}  // namespace server
