#!/usr/bin/env python3
"""HTTP on the client port, as etcd serves it next to gRPC (its cmux): the
same script runs against ketcd and, to check the test itself, Debian's etcd
3.4; only what both must agree on is checked.

    /usr/bin/python3 http_test.py --server BUILD/server/ketcd
    /usr/bin/python3 http_test.py --server /usr/bin/etcd

On a 3-member cluster with http URLs:
  - GET /version: 200, JSON with "etcdserver" and "etcdcluster";
  - GET /health: 200 {"health":"true"...} on every member; a POST: 405;
    an unknown path: 404; several requests on one kept-alive connection;
  - gRPC and HTTP interleaved on the same port: etcdctl works while idle
    and half-sent HTTP connections are open on it; a malformed request gets
    400 and the member keeps serving;
  - two members killed: the survivor's /health is 503 with "false", and
    healthy again once a member is back;
  - /metrics: etcd's names with etcd 3.4's types, values that move with a
    known workload, one leader; --listen-metrics-urls serves /metrics and
    /health and no gRPC;
  - (ketcd only: etcd 3.4 has neither) /livez and /readyz, with and
    without quorum;
  - a member whose client port is taken, or whose peer port another
    member listens on, exits non-zero, saying so.
Every process is stopped by PID; the temp dir is removed; bounded by
--timeout.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))

import harness  # noqa: E402

FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]
failures = []


def log(msg):
    print("[http] " + msg, flush=True)


def check(what, ok, detail=""):
    if ok:
        log("ok: " + what)
    else:
        failures.append(what)
        log("FAIL: %s: %s" % (what, detail))


def get(port, path, method="GET", timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def health_of(port):
    try:
        status, body = get(port, "/health")
        return status, json.loads(body).get("health")
    except (OSError, ValueError, http.client.HTTPException) as e:
        return None, str(e)


def etcdctl_ok(member, *args):
    r = subprocess.run([harness.ETCDCTL, "--endpoints", member.endpoint, "--command-timeout=5s"]
                       + list(args), capture_output=True, timeout=20, env=harness.etcdctl_env(),
                       stdin=subprocess.DEVNULL)
    return r.returncode == 0, (r.stdout + r.stderr).decode("utf-8", "replace")


def endpoints_answer(m):
    status, body = get(m.client_port, "/version")
    try:
        v = json.loads(body)
    except ValueError:
        v = {}
    check("GET /version on %s" % m.name, status == 200 and "etcdserver" in v and "etcdcluster" in v,
          "%s %r" % (status, body))
    status, health = health_of(m.client_port)
    check("GET /health on %s" % m.name, status == 200 and health == "true", "%s %r" % (status, health))
    status, _ = get(m.client_port, "/version", method="POST")
    check("POST /version is 405", status == 405, str(status))
    status, _ = get(m.client_port, "/no/such/path")
    check("an unknown path is 404", status == 404, str(status))


def keep_alive(m):
    c = http.client.HTTPConnection("127.0.0.1", m.client_port, timeout=5)
    try:
        answers = []
        for path in ("/version", "/health", "/version"):
            c.request("GET", path)
            r = c.getresponse()
            answers.append((r.status, bool(r.read())))
        check("three requests on one kept-alive connection", answers == [(200, True)] * 3, str(answers))
    finally:
        c.close()


def shared_port(m):
    """Idle and half-sent HTTP connections do not stall gRPC on the port;
    a malformed request gets 400 and nothing else breaks."""
    idle = [socket.create_connection(("127.0.0.1", m.client_port), timeout=5) for _ in range(20)]
    half = [socket.create_connection(("127.0.0.1", m.client_port), timeout=5) for _ in range(5)]
    for s in half:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    try:
        ok, out = etcdctl_ok(m, "put", "shared/port", "1")
        check("etcdctl put with 25 idle HTTP connections open on the port", ok, out)
        with socket.create_connection(("127.0.0.1", m.client_port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            reply = s.recv(200)
        check("a malformed request gets 400", reply.startswith(b"HTTP/1.") and b" 400 " in reply[:20],
              repr(reply[:80]))
        ok, out = etcdctl_ok(m, "get", "shared/port", "--print-value-only")
        check("the member serves gRPC after the malformed request", ok and out.strip() == "1", out)
    finally:
        for s in idle + half:
            s.close()


# What etcd 3.4 exposes under these names, with these types; ketcd must
# match (checked against both servers).
METRIC_TYPES = {
    "etcd_server_has_leader": "gauge", "etcd_server_is_leader": "gauge",
    "etcd_server_leader_changes_seen_total": "counter",
    "etcd_server_proposals_committed_total": "gauge", "etcd_server_proposals_applied_total": "gauge",
    "etcd_server_id": "gauge", "etcd_server_version": "gauge", "etcd_cluster_version": "gauge",
    "etcd_server_health_success": "counter", "etcd_server_health_failures": "counter",
    "etcd_mvcc_db_total_size_in_bytes": "gauge", "etcd_debugging_mvcc_current_revision": "gauge",
    "etcd_debugging_mvcc_compact_revision": "gauge", "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds_total": "counter", "process_open_fds": "gauge", "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
    "etcd_disk_wal_fsync_duration_seconds": "histogram",
    "etcd_disk_backend_commit_duration_seconds": "histogram",
}


def scrape(port):
    """{name: type}, {sample line name{labels}: value} of GET /metrics."""
    status, body = get(port, "/metrics")
    types, samples = {}, {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return status, types, samples


def metrics(c):
    m1 = c.members[0]
    status, types, before = scrape(m1.client_port)
    wrong = {n: types.get(n) for n, t in METRIC_TYPES.items() if types.get(n) != t}
    check("/metrics has etcd's names and types", status == 200 and not wrong, str(wrong))
    for i in range(10):
        ok, out = etcdctl_ok(m1, "put", "metrics/%d" % i, "v")
        if not ok:
            raise RuntimeError(out)
    _, _, after = scrape(m1.client_port)
    applied = "etcd_server_proposals_applied_total"
    check("applied proposals move with 10 puts", after[applied] >= before[applied] + 10,
          "%s -> %s" % (before[applied], after[applied]))
    for h in ("etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds"):
        n = h + "_count"
        check("%s counts the 10 puts' writes" % h, after.get(n, 0) >= before.get(n, 0) + 1,
              "%s -> %s" % (before.get(n), after.get(n)))
        check("%s has etcd's buckets" % h, ('%s_bucket{le="0.001"}' % h) in after and
              ('%s_bucket{le="8.192"}' % h) in after and ('%s_bucket{le="+Inf"}' % h) in after,
              str(sorted(k for k in after if k.startswith(h))[:4]))
    leaders = sum(scrape(m.client_port)[2].get("etcd_server_is_leader", 0) for m in c.members)
    check("exactly one member says it is the leader", leaders == 1, str(leaders))


def metrics_url(binary):
    """--listen-metrics-urls: /metrics and /health on a port of their own,
    which serves no gRPC."""
    port = harness.free_ports(1)[0]
    with harness.Server(binary, name="metrics", label="metrics",
                        extra_flags=["--listen-metrics-urls", "http://127.0.0.1:%d" % port]) as srv:
        srv.start()
        status, types, _ = scrape(port)
        check("/metrics on the metrics URL", status == 200 and types.get("etcd_server_has_leader") == "gauge",
              str(status))
        status, health = health_of(port)
        check("/health on the metrics URL", status == 200 and health == "true", "%s %r" % (status, health))
        r = subprocess.run([harness.ETCDCTL, "--endpoints", "127.0.0.1:%d" % port, "--dial-timeout=2s",
                            "--command-timeout=3s", "get", "x"], capture_output=True, timeout=20,
                           env=harness.etcdctl_env(), stdin=subprocess.DEVNULL)
        check("the metrics URL serves no gRPC", r.returncode != 0, r.stdout.decode())


def probes(c, quorum):
    """kubeadm's static-pod probes since 1.30: /livez and /readyz (etcd
    3.5.13+; Debian's etcd 3.4 has neither)."""
    if c.binary.endswith("/etcd"):
        return
    m1 = c.members[0]
    status, body = get(m1.client_port, "/readyz?verbose")
    if quorum:
        check("/readyz with quorum", status == 200 and "[+]linearizable_read ok" in body and
              body.endswith("ok\n"), "%s %r" % (status, body))
    else:
        check("/readyz without quorum is 503, naming the failed read",
              status == 503 and "[-]linearizable_read failed" in body, "%s %r" % (status, body))
    status, body = get(m1.client_port, "/livez")
    check("/livez %s quorum" % ("with" if quorum else "without"), status == 200 and body == "ok\n",
          "%s %r" % (status, body))


def leaderless(c):
    m1, m2, m3 = c.members
    m2.kill9()
    m3.kill9()
    deadline = time.monotonic() + 15
    status, health = None, None
    while time.monotonic() < deadline:
        status, health = health_of(m1.client_port)
        if status == 503:
            break
        time.sleep(0.3)
    check("/health is 503 and false when the member has lost its quorum",
          status == 503 and health == "false", "%s %r" % (status, health))
    probes(c, quorum=False)
    m2.start(health_timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status, health = health_of(m1.client_port)
        if status == 200:
            break
        time.sleep(0.3)
    check("/health is 200 again once the quorum is back", status == 200 and health == "true",
          "%s %r" % (status, health))


def refuses_to_start(srv, what):
    try:
        srv.spawn()
        try:
            rc = srv.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc = None
        tail = srv.log_tail(10)
        check(what, rc not in (None, 0) and "address already in use" in tail.lower(),
              "rc=%s\n%s" % (rc, tail))
    finally:
        srv.cleanup()


def port_in_use(binary):
    """A port already taken stops the member with an error saying so: a
    client port bound by anyone, a peer port by another member."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        refuses_to_start(harness.Server(binary, name="busy", label="busy",
                                        ports=(port, harness.free_ports(1)[0])),
                         "a member whose client port is taken exits with an error naming it")
    with harness.Server(binary, name="first", label="first") as first:
        first.start()
        refuses_to_start(harness.Server(binary, name="second", label="second",
                                        ports=(harness.free_ports(1)[0], first.peer_port)),
                         "a second member on the first one's peer port exits with an error")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--timeout", type=float, default=150)
    args = ap.parse_args()
    binary = os.path.abspath(args.server)
    harness.sweep_stale_tmpdirs()
    timer = threading.Timer(args.timeout, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    with harness.Cluster(binary, 3, extra_flags=FLAGS) as c:
        c.start(health_timeout=30)
        endpoints_answer(c.members[0])
        endpoints_answer(c.members[2])
        keep_alive(c.members[1])
        shared_port(c.members[0])
        metrics(c)
        probes(c, quorum=True)
        leaderless(c)
    port_in_use(binary)
    metrics_url(binary)
    if failures:
        log("FAILED: %d check(s): %s" % (len(failures), "; ".join(failures)))
        return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
