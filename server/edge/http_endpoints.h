// etcd's HTTP endpoints on the client port, as etcd 3.5 answers them:
//   GET /version  {"etcdserver":"3.5.24","etcdcluster":"3.5.0"}
//                 (kubeadm's ExternalEtcdVersion preflight reads this)
//   GET /health   200 {"health":"true","reason":""}, or 503 with
//                 "false" and a reason: no leader ("RAFT NO LEADER"), or
//                 a linearizable read that fails within a second
//                 ("RANGE ERROR:..."); ?serializable=true skips the read.
// Any other method gets 405 with "Allow: GET", as in etcd.
// Ownership: borrows the proposer, which must outlive the routes.
#pragma once

#include "server/net/http_server.h"
#include "server/replication/proposer.h"

namespace server {

void AddEtcdHttpEndpoints(HttpRoutes& routes, Proposer* proposer);

// The /health answer; public for tests.
HttpResponse CheckHealth(Proposer& proposer, const HttpRequest& req);

}  // namespace server
