#!/usr/bin/env python3
"""/metrics after a known workload, as etcd exposes it: the same script runs
against ketcd and, to check the test itself, Debian's etcd 3.4.

    /usr/bin/python3 metrics_test.py --server BUILD/server/ketcd
    /usr/bin/python3 metrics_test.py --server /usr/bin/etcd

On a 3-member cluster started with --metrics extensive, one gRPC client
sends N puts, M ranges, a LeaseRevoke of a lease that does not exist, and
opens, uses and cancels a watch; on the member it talks to:
  - grpc_server_{started,handled,msg_received,msg_sent}_total move by those
    counts, with go-grpc-prometheus' labels (grpc_type, grpc_service,
    grpc_method, grpc_code: OK, NotFound), handled_total has all 17 codes
    for every method from the start, the watch is a bidi_stream that counts
    as handled once cancelled;
  - grpc_server_handling_seconds counts the puts, with Prometheus' default
    buckets; etcd_network_client_grpc_{received,sent}_bytes_total move by at
    least the requests' encoded size; etcd_mvcc_put_total and
    etcd_mvcc_range_total move; etcd_debugging_mvcc_watcher_total is 1
    while the watch is open;
  - every member has etcd_network_peer_{sent,received}_bytes_total and
    etcd_network_peer_round_trip_time_seconds for each other member's id;
  - every name also in etcd 3.4's list (testdata/etcd34_metric_names.txt)
    has etcd 3.4's type and label names, and the names the issue lists are
    all there;
  - every metric (and label) the etcd mixin's alerts read
    (testdata/etcd_mixin_alerts.txt) is exposed.
etcd_server_client_requests_total counts those calls under
client_api_version "unknown" (unary and stream) and etcdctl's under "3.4".
Then: etcd_debugging_mvcc_keys_total equals the number of live keys on
every member after puts, updates, deletes and a txn, and on a restarted
member; a lease grant, keep-alive and revoke move etcd_debugging_lease_*
(and the keep-alive stream's grpc_server_* counts)
(granted and revoked on every member, renewed on the leader, the TTL in
etcd_debugging_lease_ttl_total), a defragmentation, a snapshot, a Hash and
a HashKV count in etcd_disk_backend_{defrag,snapshot}_duration_seconds and
etcd_mvcc_hash{,_rev}_duration_seconds, a RoleAdd moves
etcd_debugging_auth_revision.
A single member started without --metrics has no grpc_server_handling_seconds.
Every process is stopped by PID; the temp dir is removed; bounded by
--timeout.
"""

import argparse
import http.client
import os
import queue
import re
import subprocess
import sys
import threading
import time

import grpc
import etcd3.etcdrpc as rpc

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))

import harness  # noqa: E402

FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]
N_PUTS, N_RANGES = 7, 5
CODES = ["OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
         "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
         "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"]
DEF_BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
# The metrics issue 16 lists (histograms by their base name).
REQUIRED = """etcd_server_has_leader etcd_server_is_leader etcd_server_leader_changes_seen_total
etcd_server_proposals_committed_total etcd_server_proposals_applied_total etcd_server_proposals_pending
etcd_server_proposals_failed_total etcd_server_heartbeat_send_failures_total etcd_server_slow_apply_total
etcd_server_health_success etcd_server_health_failures etcd_server_quota_backend_bytes etcd_server_id
etcd_server_version etcd_cluster_version etcd_mvcc_db_total_size_in_bytes etcd_mvcc_db_total_size_in_use_in_bytes
etcd_mvcc_put_total etcd_mvcc_range_total etcd_mvcc_txn_total etcd_mvcc_delete_total
etcd_debugging_mvcc_watcher_total etcd_disk_wal_fsync_duration_seconds etcd_disk_backend_commit_duration_seconds
etcd_network_client_grpc_sent_bytes_total etcd_network_client_grpc_received_bytes_total
etcd_network_peer_sent_bytes_total etcd_network_peer_received_bytes_total etcd_network_peer_round_trip_time_seconds
grpc_server_started_total grpc_server_handled_total grpc_server_msg_received_total grpc_server_msg_sent_total
grpc_server_handling_seconds process_resident_memory_bytes process_cpu_seconds_total process_open_fds
process_start_time_seconds etcd_debugging_mvcc_keys_total etcd_debugging_mvcc_db_total_size_in_bytes
etcd_debugging_lease_granted_total etcd_debugging_lease_revoked_total etcd_debugging_lease_renewed_total
etcd_debugging_lease_ttl_total etcd_disk_backend_defrag_duration_seconds etcd_disk_backend_snapshot_duration_seconds
etcd_disk_defrag_inflight etcd_debugging_auth_revision etcd_server_client_requests_total
etcd_mvcc_hash_duration_seconds etcd_mvcc_hash_rev_duration_seconds""".split()
failures = []


def log(msg):
    print("[metrics] " + msg, flush=True)


def check(what, ok, detail=""):
    if ok:
        log("ok: " + what)
    else:
        failures.append(what)
        log("FAIL: %s: %s" % (what, detail))


class Scrape:
    """One GET /metrics: types by name, label names by base name, samples."""
    LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
    LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

    def __init__(self, port):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", "/metrics")
            r = c.getresponse()
            body = r.read().decode()
        finally:
            c.close()
        self.types, self.labels, self.samples = {}, {}, {}
        for line in body.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.types[name] = kind
                continue
            m = self.LINE.match(line)
            if not m:
                continue
            name, labels = m.group(1), dict(self.LABEL.findall(m.group(2) or ""))
            self.samples[(name, frozenset(labels.items()))] = float(m.group(3))
            labels.pop("le", None)
            self.labels.setdefault(self.base(name), set()).update(labels)

    def base(self, name):
        for suffix in ("_bucket", "_sum", "_count"):
            b = name[:-len(suffix)]
            if name.endswith(suffix) and self.types.get(b) == "histogram":
                return b
        return name

    def get(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())))

    def where(self, name, **labels):
        """Every sample of `name` whose labels include `labels`: [(labels, value)]."""
        want = set(labels.items())
        return [(dict(k[1]), v) for k, v in self.samples.items() if k[0] == name and want <= set(k[1])]


def grpc_labels(service, method, kind="unary"):
    return {"grpc_service": service, "grpc_method": method, "grpc_type": kind}


def workload(port, sizes):
    """The known workload; returns the watch's (requests queue, call) still
    open after it saw its event. `sizes` collects the requests' sizes."""
    channel = grpc.insecure_channel("127.0.0.1:%d" % port)
    kv, lease, watch = rpc.KVStub(channel), rpc.LeaseStub(channel), rpc.WatchStub(channel)
    for i in range(N_PUTS):
        req = rpc.PutRequest(key=b"metrics/%d" % i, value=b"value")
        sizes.append(len(req.SerializeToString()))
        kv.Put(req, timeout=10)
    for _ in range(N_RANGES):
        req = rpc.RangeRequest(key=b"metrics/", range_end=b"metrics0")
        sizes.append(len(req.SerializeToString()))
        kv.Range(req, timeout=10)
    req = rpc.LeaseRevokeRequest(ID=0x1234)
    sizes.append(len(req.SerializeToString()))
    try:
        lease.LeaseRevoke(req, timeout=10)
        code = None
    except grpc.RpcError as e:
        code = e.code()
    check("LeaseRevoke of an unknown lease fails with NOT_FOUND", code == grpc.StatusCode.NOT_FOUND, str(code))
    requests = queue.Queue()
    create = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=b"metrics/w"))
    sizes.append(len(create.SerializeToString()))
    requests.put(create)
    call = watch.Watch(iter(requests.get, None), timeout=30)
    created = next(call)
    check("the watch is created", created.created, str(created))
    put = rpc.PutRequest(key=b"metrics/w", value=b"x")
    sizes.append(len(put.SerializeToString()))
    kv.Put(put, timeout=10)
    event = next(call)
    check("the watch sees the put", len(event.events) == 1, str(event))
    return channel, requests, call


def grpc_counts(c, before, after, watch_open):
    kv, lease, watch = "etcdserverpb.KV", "etcdserverpb.Lease", "etcdserverpb.Watch"

    def moved(name, labels):
        return (after.get(name, **labels) or 0) - (before.get(name, **labels) or 0)
    puts, ranges = N_PUTS + 1, N_RANGES
    for method, n in (("Put", puts), ("Range", ranges)):
        lb = grpc_labels(kv, method)
        got = [moved(m, lb) for m in ("grpc_server_started_total", "grpc_server_msg_received_total",
                                       "grpc_server_msg_sent_total")]
        got.append(moved("grpc_server_handled_total", dict(lb, grpc_code="OK")))
        check("%d %s calls: started, received, sent, handled OK" % (n, method), got == [n] * 4, str(got))
    lb = grpc_labels(lease, "LeaseRevoke")
    got = [moved("grpc_server_started_total", lb), moved("grpc_server_handled_total", dict(lb, grpc_code="NotFound")),
           moved("grpc_server_msg_received_total", lb), moved("grpc_server_msg_sent_total", lb)]
    check("the failed LeaseRevoke: started 1, handled NotFound 1, received 1, sent 0", got == [1, 1, 1, 0], str(got))
    lb = grpc_labels(watch, "Watch", "bidi_stream")
    got = [moved("grpc_server_started_total", lb), moved("grpc_server_msg_received_total", lb),
           moved("grpc_server_msg_sent_total", lb)]
    check("the watch: a bidi_stream started once, 1 message received, at least 2 sent",
          got[0] == 1 and got[1] == 1 and got[2] >= 2, str(got))
    check("etcd_debugging_mvcc_watcher_total is 1 with the watch open",
          watch_open.get("etcd_debugging_mvcc_watcher_total") == 1,
          str(watch_open.get("etcd_debugging_mvcc_watcher_total")))
    codes = sorted(l["grpc_code"] for l, _ in after.where("grpc_server_handled_total", **grpc_labels(kv, "Compact")))
    check("handled_total has the 17 codes of a method never called", codes == sorted(CODES), str(codes))
    n = "grpc_server_handling_seconds_count"
    check("--metrics extensive: handling_seconds counts the puts", moved(n, grpc_labels(kv, "Put")) == puts,
          str(moved(n, grpc_labels(kv, "Put"))))
    les = [l["le"] for l, _ in after.where("grpc_server_handling_seconds_bucket", **grpc_labels(kv, "Put"))]
    check("handling_seconds has Prometheus' default buckets",
          sorted(les, key=lambda x: float(x)) == DEF_BUCKETS, str(les))
    for op, least in (("put", puts), ("range", ranges)):
        got = moved("etcd_mvcc_%s_total" % op, {})
        check("etcd_mvcc_%s_total moves by at least %d" % (op, least), got >= least, str(got))


def client_requests(c, before, after):
    """etcd_server_client_requests_total by client_api_version: the python
    client sends none ("unknown"); etcdctl 3.4 sends "3.4"."""
    def moved(labels):
        return (after.get("etcd_server_client_requests_total", **labels) or 0) - \
            (before.get("etcd_server_client_requests_total", **labels) or 0)
    unary = moved({"client_api_version": "unknown", "type": "unary"})
    stream = moved({"client_api_version": "unknown", "type": "stream"})
    want = N_PUTS + 1 + N_RANGES + 1
    check("client_requests_total: %d unary calls and 1 stream, version unknown" % want,
          (unary, stream) == (want, 1), str((unary, stream)))
    port = c.members[0].client_port
    r = subprocess.run(["etcdctl", "--endpoints", "127.0.0.1:%d" % port, "put", "metrics/ctl", "x"],
                       capture_output=True, text=True, timeout=20, env=dict(os.environ, ETCDCTL_API="3"))
    got = Scrape(port).get("etcd_server_client_requests_total", client_api_version="3.4", type="unary") or 0
    check("etcdctl 3.4's put counts under client_api_version 3.4", r.returncode == 0 and got >= 1,
          "%s %s" % (got, r.stderr.strip()))


def bytes_moved(before, after, sizes):
    sent = sum(sizes)
    got_in = (after.get("etcd_network_client_grpc_received_bytes_total") or 0) - \
        (before.get("etcd_network_client_grpc_received_bytes_total") or 0)
    got_out = (after.get("etcd_network_client_grpc_sent_bytes_total") or 0) - \
        (before.get("etcd_network_client_grpc_sent_bytes_total") or 0)
    check("received bytes move by the requests' size (%d)" % sent, sent <= got_in <= sent + 1024, str(got_in))
    check("sent bytes move", got_out > 0, str(got_out))


def member_ids(c):
    ids = {}
    for m in c.members:
        server = Scrape(m.client_port).where("etcd_server_id")
        ids[m.name] = server[0][0]["server_id"] if server else None
    return ids


def peer_metrics(c):
    """Each member: round trips to every other member; bytes sent to and
    received from each member it exchanges raft messages with (followers
    talk only to the leader)."""
    ids = member_ids(c)
    check("every member reports etcd_server_id", all(ids.values()), str(ids))
    leader = [m.name for m in c.members if Scrape(m.client_port).get("etcd_server_is_leader") == 1]
    check("one member says it leads", len(leader) == 1, str(leader))
    # etcd samples round trips every 30 s, ketcd every 5 s.
    deadline = time.monotonic() + 45
    while True:
        missing = []
        for m in c.members:
            s = Scrape(m.client_port)
            for other, oid in ids.items():
                if other == m.name:
                    continue
                talk = bool(leader) and leader[0] in (m.name, other)
                for name, label in (("etcd_network_peer_sent_bytes_total", "To"),
                                    ("etcd_network_peer_received_bytes_total", "From"),
                                    ("etcd_network_peer_round_trip_time_seconds_count", "To")):
                    if "bytes" in name and not talk:
                        continue
                    if not (s.get(name, **{label: oid}) or 0) > 0:
                        missing.append("%s on %s for %s" % (name, m.name, oid))
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    check("peer bytes and round trips, labelled with each other member's id", not missing, "; ".join(missing[:6]))


def names_and_types(s):
    ref = {}
    with open(os.path.join(HERE, "testdata", "etcd34_metric_names.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, kind, labels = line.split()
                ref[name] = (kind, set() if labels == "-" else set(labels.split(",")))
    both = sorted(set(ref) & set(s.types))
    wrong = ["%s: %s %s, etcd 3.4: %s %s" % (n, s.types[n], sorted(s.labels.get(n, ())), ref[n][0], sorted(ref[n][1]))
             for n in both if (s.types[n], s.labels.get(n, set())) != ref[n]]
    check("%d names shared with etcd 3.4 have its types and label names" % len(both), not wrong, "; ".join(wrong))
    missing = [n for n in REQUIRED if n not in s.types]
    check("every metric the issue lists is exposed", not missing, str(missing))


# etcd 3.4 shows this counter only once a send to a peer has failed;
# ketcd has it at 0 for every peer from the start.
SHOWN_ONCE_MOVED = {"etcd_network_peer_sent_failures_total"}


def mixin(s, is_etcd):
    """Every metric, label and grpc_code the etcd mixin's alerts read."""
    bad = []
    with open(os.path.join(HERE, "testdata", "etcd_mixin_alerts.txt")) as f:
        alerts = [line.rstrip("\n").split("\t", 1) for line in f if line.strip() and not line.startswith("#")]
    for alert, expr in alerts:
        # A selector, or a matcher group alone (skipped: its labels are not metrics).
        for name, matchers in re.findall(r'\b((?:etcd|grpc|process)_[a-zA-Z0-9_]+)(?:\{([^}]*)\})?|\{[^}]*\}',
                                         re.sub(r'without\s*\([^)]*\)', '', expr)):
            if not name or (is_etcd and name in SHOWN_ONCE_MOVED):
                continue
            base = s.base(name)
            if base not in s.types or (name != base and s.types[base] != "histogram"):
                bad.append("%s: %s" % (alert, name))
                continue
            for label, op, value in re.findall(r'([a-zA-Z_]+)\s*(=~|!=|=)\s*"([^"]*)"', matchers):
                if label == "job":
                    continue
                if label not in s.labels.get(base, set()):
                    bad.append("%s: %s has no label %s" % (alert, name, label))
                elif label == "grpc_code":
                    bad += ["%s: no grpc_code %s" % (alert, v) for v in value.split("|") if v not in CODES]
        for label in re.findall(r'without\s*\(([^)]*)\)', expr):
            for l in (x.strip() for x in label.split(",")):
                if l not in ("instance", "endpoint", "job") and not any(l in ls for ls in s.labels.values()):
                    bad.append("%s: no series has label %s" % (alert, l))
    check("the %d mixin alerts read only exposed metrics and labels" % len(alerts), not bad, "; ".join(bad))


def poll(what, fn, timeout=15):
    """fn() -> (ok, detail), retried until ok or the timeout (members apply
    asynchronously); one check with the last detail."""
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = fn()
        if ok or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(what, ok, detail)


def live_keys(kv):
    return kv.Range(rpc.RangeRequest(key=b"\0", range_end=b"\0", count_only=True), timeout=10).count


def keys_on(members, want):
    got = {m.name: Scrape(m.client_port).get("etcd_debugging_mvcc_keys_total") for m in members}
    return all(v == want for v in got.values()), "want %d, got %s" % (want, got)


def keys_total(c):
    """etcd_debugging_mvcc_keys_total is the live-key count on every member,
    and on a restarted one."""
    channel = grpc.insecure_channel("127.0.0.1:%d" % c.members[0].client_port)
    kv = rpc.KVStub(channel)
    n = live_keys(kv)
    poll("keys_total equals the %d live keys after the workload" % n, lambda: keys_on(c.members, n))
    for i in range(6):
        kv.Put(rpc.PutRequest(key=b"keys/%d" % i, value=b"v"), timeout=10)
    kv.Put(rpc.PutRequest(key=b"keys/0", value=b"again"), timeout=10)  # an update: no new key
    kv.DeleteRange(rpc.DeleteRangeRequest(key=b"keys/3", range_end=b"keys/5"), timeout=10)  # 3, 4
    kv.DeleteRange(rpc.DeleteRangeRequest(key=b"keys/none"), timeout=10)
    kv.Txn(rpc.TxnRequest(success=[
        rpc.RequestOp(request_put=rpc.PutRequest(key=b"keys/9", value=b"v")),
        rpc.RequestOp(request_put=rpc.PutRequest(key=b"keys/10", value=b"v")),
        rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=b"keys/1"))]), timeout=10)
    m = live_keys(kv)
    check("the live keys moved by 5 (6 new keys, 2 deleted, a txn adding one)", m == n + 5, "%d -> %d" % (n, m))
    poll("keys_total equals the %d live keys after puts, deletes and a txn" % m, lambda: keys_on(c.members, m))
    channel.close()
    restarted = c.members[1]
    restarted.stop()
    restarted.start(health_timeout=30)
    poll("keys_total is %d on the restarted member" % m, lambda: keys_on([restarted], m), timeout=30)


def moved_on(before, member, name, **labels):
    return (Scrape(member.client_port).get(name, **labels) or 0) - (before[member.name].get(name, **labels) or 0)


def leases_and_backend(c):
    """Lease, defragmentation, snapshot and auth revision metrics move."""
    m1 = c.members[0]
    before = {m.name: Scrape(m.client_port) for m in c.members}
    channel = grpc.insecure_channel("127.0.0.1:%d" % m1.client_port)
    lease, maint, auth = rpc.LeaseStub(channel), rpc.MaintenanceStub(channel), rpc.AuthStub(channel)
    granted = lease.LeaseGrant(rpc.LeaseGrantRequest(TTL=60), timeout=10)
    keepalive = lease.LeaseKeepAlive(iter([rpc.LeaseKeepAliveRequest(ID=granted.ID)]), timeout=10)
    renewed = next(keepalive)
    check("the keep-alive renews the lease", renewed.TTL == 60, str(renewed))
    keepalive.cancel()
    # LeaseKeepAlive counts its own calls (no interceptor): the same counts.
    ka = grpc_labels("etcdserverpb.Lease", "LeaseKeepAlive", "bidi_stream")

    def keepalive_counts():
        after = Scrape(m1.client_port)
        got = [(after.get(n, **ka) or 0) - (before[m1.name].get(n, **ka) or 0)
               for n in ("grpc_server_started_total", "grpc_server_msg_received_total", "grpc_server_msg_sent_total")]
        got.append(sum(v for _, v in after.where("grpc_server_handled_total", **ka)) -
                   sum(v for _, v in before[m1.name].where("grpc_server_handled_total", **ka)))
        return got == [1, 1, 1, 1], str(got)
    poll("the keep-alive stream: started, received, sent and handled once", keepalive_counts)
    lease.LeaseRevoke(rpc.LeaseRevokeRequest(ID=granted.ID), timeout=10)
    maint.Defragment(rpc.DefragmentRequest(), timeout=30)
    maint.Hash(rpc.HashRequest(), timeout=30)
    maint.HashKV(rpc.HashKVRequest(), timeout=30)
    size = sum(len(r.blob) for r in maint.Snapshot(rpc.SnapshotRequest(), timeout=30))
    check("the snapshot streams a backup", size > 0, str(size))
    auth.RoleAdd(rpc.AuthRoleAddRequest(name="metrics-role"), timeout=10)
    channel.close()

    def on_all(name, want):
        got = {m.name: moved_on(before, m, name) for m in c.members}
        return all(v == want for v in got.values()), str(got)
    poll("etcd_debugging_lease_granted_total moves by 1 on every member",
         lambda: on_all("etcd_debugging_lease_granted_total", 1))
    poll("etcd_debugging_lease_revoked_total moves by 1 on every member",
         lambda: on_all("etcd_debugging_lease_revoked_total", 1))
    poll("etcd_debugging_lease_ttl_total counts one TTL of 60 on every member",
         lambda: (lambda a, b: (a[0] and b[0], a[1] + " " + b[1]))(
             on_all("etcd_debugging_lease_ttl_total_count", 1), on_all("etcd_debugging_lease_ttl_total_sum", 60)))
    poll("etcd_debugging_lease_renewed_total moves by 1 on the leader only",
         lambda: (lambda got: (sorted(got.values()) == [0, 0, 1], str(got)))(
             {m.name: moved_on(before, m, "etcd_debugging_lease_renewed_total") for m in c.members}))
    for name in ("etcd_disk_backend_defrag_duration_seconds_count", "etcd_disk_backend_snapshot_duration_seconds_count",
                 "etcd_mvcc_hash_duration_seconds_count", "etcd_mvcc_hash_rev_duration_seconds_count"):
        poll("%s moves by 1" % name, lambda: (lambda d: (d == 1, str(d)))(moved_on(before, m1, name)))
    check("etcd_disk_defrag_inflight is 0 after the defragmentation",
          Scrape(m1.client_port).get("etcd_disk_defrag_inflight") == 0,
          str(Scrape(m1.client_port).get("etcd_disk_defrag_inflight")))
    poll("etcd_debugging_auth_revision moves by 1 with a RoleAdd on every member",
         lambda: on_all("etcd_debugging_auth_revision", 1))
    buckets = [l["le"] for l, _ in Scrape(m1.client_port).where("etcd_disk_backend_defrag_duration_seconds_bucket")]
    check("the defrag histogram has etcd's 13 buckets from 0.1 s and +Inf", len(buckets) == 14 and "0.1" in buckets,
          str(buckets))


def cluster_part(binary):
    with harness.Cluster(binary, 3, extra_flags=FLAGS + ["--metrics", "extensive"]) as c:
        c.start(health_timeout=30)
        m1 = c.members[0]
        before = Scrape(m1.client_port)
        sizes = []
        channel, requests, call = workload(m1.client_port, sizes)
        watch_open = Scrape(m1.client_port)
        call.cancel()
        channel.close()
        lb = grpc_labels("etcdserverpb.Watch", "Watch", "bidi_stream")
        deadline = time.monotonic() + 10
        while True:
            after = Scrape(m1.client_port)
            handled = sum(v for _, v in after.where("grpc_server_handled_total", **lb)) - \
                sum(v for _, v in before.where("grpc_server_handled_total", **lb))
            if handled >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        check("the cancelled watch counts as handled once", handled == 1, str(handled))
        grpc_counts(c, before, after, watch_open)
        client_requests(c, before, after)
        bytes_moved(before, after, sizes)
        peer_metrics(c)
        final = Scrape(m1.client_port)
        names_and_types(final)
        mixin(final, binary.endswith("/etcd"))
        leases_and_backend(c)
        keys_total(c)


def basic_part(binary):
    with harness.Server(binary, name="basic", label="basic") as srv:
        srv.start()
        s = Scrape(srv.client_port)
        check("without --metrics: grpc_server_started_total, no grpc_server_handling_seconds",
              "grpc_server_started_total" in s.types and "grpc_server_handling_seconds" not in s.types,
              str(sorted(n for n in s.types if n.startswith("grpc"))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--timeout", type=float, default=230)
    args = ap.parse_args()
    binary = os.path.abspath(args.server)
    harness.sweep_stale_tmpdirs()
    timer = threading.Timer(args.timeout, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    cluster_part(binary)
    basic_part(binary)
    if failures:
        log("FAILED: %d check(s): %s" % (len(failures), "; ".join(failures)))
        return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
