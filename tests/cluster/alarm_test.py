#!/usr/bin/env python3
"""Alarms, the backend quota and the corruption checks, with etcdctl 3.4.
The NOSPACE part runs against ketcd and, to check the test itself, against
Debian's etcd 3.4; the CORRUPT part needs ketcd's test failpoint:

    /usr/bin/python3 alarm_test.py --server BUILD/server/ketcd
    /usr/bin/python3 alarm_test.py --server /usr/bin/etcd

NOSPACE, on 3 members with --quota-backend-bytes 16 MiB: 512 KiB puts to
one member until "etcdserver: mvcc: database space exceeded"
(ResourceExhausted); `alarm list` then shows NOSPACE on every member, as
Status.errors and /health do (?exclude=NOSPACE: healthy); reads, deletes
and read-only txns work, puts and lease grants are refused on every member;
a restarted member still has the alarm and refuses puts; `compact
--physical`, `defrag --cluster` and `alarm disarm` bring writes back.

CORRUPT (ketcd only), on 3 members with --experimental-corrupt-check-time
1s, one of them started with KETCD_TEST_FAILPOINTS=1 KETCD_TEST_CORRUPT_PUTS=1
(it stores every put's value with its bytes inverted): the leader raises
CORRUPT for member 0 (etcd 3.4.23 names no member); every member refuses
puts, deletes, txns that write, compactions and lease grants with
"etcdserver: corrupt cluster" (DataLoss) and still serves reads and
read-only txns; /readyz's
data_corruption and /health fail; the corrupted member restarted with
--experimental-initial-corrupt-check refuses to start ("found data
inconsistency with peers") while a sound member restarted with it starts;
`alarm disarm` brings writes back.

Every process is stopped by PID, the temp dirs removed; bounded by
--timeout. --port-base N takes the members' ports from N on (default: free
ports chosen at run time).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import scenario_lib  # noqa: E402
from scenario_lib import log, soft_check as check  # noqa: E402
import grpc  # noqa: E402
import etcd3.etcdrpc as etcdrpc  # noqa: E402

QUOTA = 16 * 1024 * 1024
NOSPACE = "etcdserver: mvcc: database space exceeded"
CORRUPT = "etcdserver: corrupt cluster"
FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]


def etcdctl(endpoints, *args, timeout=60):
    return scenario_lib.etcdctl(endpoints, [], *args, timeout=timeout, command_timeout="30s")


def status(m):
    rc, out, err = etcdctl(m.endpoint, "endpoint", "status", "-w", "json")
    return json.loads(out)[0]["Status"] if rc == 0 else None


def member_id(m):
    return status(m)["header"]["member_id"]


def http_get(m, path):
    """(HTTP status, body) of GET path on the member's client port."""
    try:
        with urllib.request.urlopen("http://%s%s" % (m.endpoint, path), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def grpc_error(fn):
    """(code, details) of the gRPC error fn raised, or (OK, "") if none."""
    try:
        fn()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def alarms(m):
    """The `alarm list` lines of member m."""
    rc, out, err = etcdctl(m.endpoint, "alarm", "list")
    return [line.strip() for line in out.splitlines() if line.strip()] if rc == 0 else ["error: " + err]


def wait_for(what, fn, timeout):
    deadline = time.monotonic() + timeout
    got = fn()
    while not got and time.monotonic() < deadline:
        time.sleep(0.2)
        got = fn()
    return got


def fill_until_nospace(m):
    """512 KiB puts of one key to m until refused; returns (puts, code, details)."""
    value = os.urandom(512 * 1024)
    with grpc.insecure_channel(m.endpoint, options=[("grpc.max_send_message_length", 4 << 20)]) as ch:
        kv = etcdrpc.KVStub(ch)
        for i in range(200):
            code, details = grpc_error(lambda: kv.Put(etcdrpc.PutRequest(key=b"big", value=value), timeout=10))
            if code != grpc.StatusCode.OK:
                return i, code, details
    return 200, grpc.StatusCode.OK, ""


def nospace(c):
    m1, m2, m3 = c.members
    with grpc.insecure_channel(m1.endpoint) as ch:
        kv = etcdrpc.KVStub(ch)
        kv.Put(etcdrpc.PutRequest(key=b"keep", value=b"1"), timeout=10)
        kv.Put(etcdrpc.PutRequest(key=b"drop", value=b"1"), timeout=10)
    puts, code, details = fill_until_nospace(m1)
    log("refused after %d puts of 512 KiB" % puts)
    check("puts past the quota are refused with etcd's error",
          code == grpc.StatusCode.RESOURCE_EXHAUSTED and details == NOSPACE and 20 <= puts < 200,
          "%s %s after %d puts" % (code, details, puts))
    # As etcd answers only once its alarm request returned (at the gate, or
    # in the apply loop for a put that crossed the quota while applied).
    listed = alarms(m1)
    check("the alarm is up as soon as the refusal is answered", any("NOSPACE" in a for a in listed), str(listed))
    ids = {member_id(m): m.name for m in c.members}
    for m in c.members:
        lines = wait_for("alarm", lambda: [a for a in alarms(m) if "NOSPACE" in a], 10)
        listed = alarms(m)
        ok = bool(lines) and all(a.startswith("memberID:") and a.endswith("alarm:NOSPACE") and
                                 int(a.split()[0].split(":")[1]) in ids for a in listed)
        check("`alarm list` on %s shows NOSPACE" % m.name, ok, str(listed))
        errors = (status(m) or {}).get("errors", [])
        check("Status.errors on %s lists the alarm" % m.name,
              any(e.startswith("memberID:") and e.endswith("alarm:NOSPACE ") for e in errors), str(errors))
    code, body = http_get(m1, "/health")
    check("/health is false while NOSPACE is active", code == 503 and '"health":"false"' in body, body)
    code, body = http_get(m1, "/health?exclude=NOSPACE")
    check("/health?exclude=NOSPACE is true", code == 200 and '"health":"true"' in body, "%d %s" % (code, body))
    for m in c.members:
        rc, out, err = etcdctl(m.endpoint, "put", "small", "v")
        check("a put on %s is refused" % m.name, rc != 0 and NOSPACE in err, out + err)
        rc, out, err = etcdctl(m.endpoint, "get", "keep", "--print-value-only")
        check("a read on %s works" % m.name, rc == 0 and out.strip() == "1", out + err)
    rc, out, err = etcdctl(m2.endpoint, "lease", "grant", "60")
    check("a lease grant is refused", rc != 0 and NOSPACE in err, out + err)
    rc, out, err = etcdctl(m2.endpoint, "del", "drop")
    check("a delete works", rc == 0 and out.strip() == "1", out + err)
    with grpc.insecure_channel(m3.endpoint) as ch:
        kv = etcdrpc.KVStub(ch)
        txn = etcdrpc.TxnRequest(success=[etcdrpc.RequestOp(request_range=etcdrpc.RangeRequest(key=b"keep"))])
        code, details = grpc_error(lambda: kv.Txn(txn, timeout=10))
        check("a read-only txn works", code == grpc.StatusCode.OK, "%s %s" % (code, details))
        put_txn = etcdrpc.TxnRequest(success=[etcdrpc.RequestOp(
            request_put=etcdrpc.PutRequest(key=b"t", value=b"v"))])
        code, details = grpc_error(lambda: kv.Txn(put_txn, timeout=10))
        check("a txn with a put is refused", code == grpc.StatusCode.RESOURCE_EXHAUSTED and details == NOSPACE,
              "%s %s" % (code, details))
    # The alarm is in the store: a restarted member still has it.
    m2.stop()
    m2.start(health_timeout=30)
    listed = wait_for("alarm", lambda: [a for a in alarms(m2) if "NOSPACE" in a], 10)
    check("the alarm survives a restart", bool(listed), str(alarms(m2)))
    rc, out, err = etcdctl(m2.endpoint, "put", "small", "v")
    check("the restarted member refuses puts", rc != 0 and NOSPACE in err, out + err)
    # The way out: make room, then disarm.
    rc, out, err = etcdctl(m1.endpoint, "del", "big")
    check("delete the big key", rc == 0, out + err)
    rev = status(m1)["header"]["revision"]
    rc, out, err = etcdctl(m1.endpoint, "compact", str(rev), "--physical")
    check("compact --physical", rc == 0 and "compacted revision %d" % rev in out, out + err)
    rc, out, err = etcdctl(c.endpoints, "defrag", "--cluster")
    check("defrag --cluster", rc == 0 and out.count("Finished defragmenting etcd member") == 3, out + err)
    sizes = {m.name: (status(m) or {}).get("dbSize") for m in c.members}
    log("db sizes after defrag: %s" % sizes)
    rc, out, err = etcdctl(m1.endpoint, "alarm", "disarm")
    check("`alarm disarm` prints the disarmed alarm", rc == 0 and "alarm:NOSPACE" in out, out + err)
    for m in c.members:
        check("no alarm left on %s" % m.name, alarms(m) == [], str(alarms(m)))
        rc, out, err = etcdctl(m.endpoint, "put", "after", m.name)
        check("a put on %s works after disarm" % m.name, rc == 0 and "OK" in out, out + err)
    code, body = http_get(m1, "/health")
    check("/health is true again", code == 200 and '"health":"true"' in body, body)


def corrupt_refused_calls(ch, kv):
    """(what, call) of the writes etcd's corrupt applier refuses, besides put and delete."""
    lease = etcdrpc.LeaseStub(ch)
    put_txn = etcdrpc.TxnRequest(success=[etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=b"t", value=b"v"))])
    del_txn = etcdrpc.TxnRequest(success=[etcdrpc.RequestOp(
        request_delete_range=etcdrpc.DeleteRangeRequest(key=b"k1"))])
    return [("a txn with a put", lambda: kv.Txn(put_txn, timeout=10)),
            ("a txn with a delete", lambda: kv.Txn(del_txn, timeout=10)),
            ("a compaction", lambda: kv.Compact(etcdrpc.CompactionRequest(revision=2), timeout=10)),
            ("a lease grant", lambda: lease.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=60), timeout=10))]


def leader(c):
    for m in c.members:
        s = status(m)
        if s and s.get("leader", 0) == s["header"]["member_id"]:
            return m, s
    return None, None


def corrupt(c):
    m1, m2, m3 = c.members
    ids = {m.name: member_id(m) for m in c.members}
    lead, _ = leader(c)
    if lead is m3:  # the check compares the leader with its peers: a sound leader
        rc, out, err = etcdctl(m3.endpoint, "move-leader", "%x" % ids["m1"])
        check("move the leader off the corrupted member", rc == 0, out + err)
    for i in range(5):
        rc, out, err = etcdctl(m1.endpoint, "put", "k%d" % i, "value-%d" % i)
        if rc != 0 and CORRUPT in err:
            break  # the check may already have run
    listed = wait_for("CORRUPT", lambda: [a for a in alarms(m1) if "CORRUPT" in a], 20)
    # etcd 3.4.23's monitorKVHash raises it for member 0, whoever differs;
    # etcdctl prints the proto3 text form, which omits the zero member id.
    check("the leader raises CORRUPT for member 0, as etcd 3.4",
          listed == ["alarm:CORRUPT"], str(alarms(m1)))
    for m in c.members:
        with grpc.insecure_channel(m.endpoint) as ch:
            kv = etcdrpc.KVStub(ch)
            code, details = grpc_error(lambda: kv.Put(etcdrpc.PutRequest(key=b"x", value=b"y"), timeout=10))
            check("a put on %s is refused" % m.name, code == grpc.StatusCode.DATA_LOSS and details == CORRUPT,
                  "%s %s" % (code, details))
            code, details = grpc_error(lambda: kv.DeleteRange(etcdrpc.DeleteRangeRequest(key=b"k0"), timeout=10))
            check("a delete on %s is refused" % m.name, code == grpc.StatusCode.DATA_LOSS and details == CORRUPT,
                  "%s %s" % (code, details))
            # (The corrupted member's values are garbage: only the read counts.)
            code, details = grpc_error(lambda: kv.Range(etcdrpc.RangeRequest(key=b"k0"), timeout=10))
            check("a read on %s works" % m.name, code == grpc.StatusCode.OK, "%s %s" % (code, details))
            for what, call in corrupt_refused_calls(ch, kv):
                code, details = grpc_error(call)
                check("%s on %s is refused" % (what, m.name),
                      code == grpc.StatusCode.DATA_LOSS and details == CORRUPT, "%s %s" % (code, details))
            ro_txn = etcdrpc.TxnRequest(success=[etcdrpc.RequestOp(request_range=etcdrpc.RangeRequest(key=b"k0"))])
            code, details = grpc_error(lambda: kv.Txn(ro_txn, timeout=10))
            check("a read-only txn on %s works" % m.name, code == grpc.StatusCode.OK, "%s %s" % (code, details))
    code, body = http_get(m1, "/readyz?verbose")
    check("/readyz fails data_corruption",
          code == 503 and "[-]data_corruption failed: alarm activated: CORRUPT" in body, body)
    code, body = http_get(m2, "/health")
    check("/health says ALARM CORRUPT", code == 503 and body.strip() ==
          '{"health":"false","reason":"ALARM CORRUPT"}', body)
    errors = (status(m2) or {}).get("errors", [])
    check("Status.errors lists CORRUPT", "alarm:CORRUPT " in errors, str(errors))
    # The initial check at start: the corrupted member does not start...
    m3.stop()
    m3.extra_flags = m3.extra_flags + ["--experimental-initial-corrupt-check"]
    m3.env_extra = {}
    m3.spawn()
    try:
        m3.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    tail = m3.log_tail(20)
    check("the corrupted member refuses to start with --experimental-initial-corrupt-check",
          not m3.alive() and m3.proc.returncode != 0 and "found data inconsistency with peers" in tail, tail)
    m3.stop()
    # ... while a sound one does (its peers hash equal, m3 cannot answer).
    m2.stop()
    m2.extra_flags = m2.extra_flags + ["--experimental-initial-corrupt-check"]
    m2.start(health_timeout=30)
    check("a sound member starts with --experimental-initial-corrupt-check",
          "initial corruption checking passed" in m2.log_tail(400), m2.log_tail(20))
    rc, out, err = etcdctl(m1.endpoint, "alarm", "disarm")
    check("`alarm disarm` clears CORRUPT", rc == 0 and "alarm:CORRUPT" in out, out + err)
    rc, out, err = etcdctl(m1.endpoint, "put", "after", "disarm")
    check("writes work after disarm", rc == 0 and "OK" in out, out + err)


def is_ketcd(server):
    out = subprocess.run([server, "--version"], capture_output=True, timeout=10).stdout.decode()
    return "ketcd Version" in out


def run(server, port_base, env_extra=None, flags=(), per_member_env=None):
    c = harness.Cluster(server, 3, extra_flags=FLAGS + list(flags), env_extra=env_extra)
    if port_base:
        for i, m in enumerate(c.members):
            m.client_port, m.peer_port = port_base + 2 * i, port_base + 2 * i + 1
    for name, env in (per_member_env or {}).items():
        c.member(name).env_extra.update(env)
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--timeout", type=float, default=190)
    ap.add_argument("--port-base", type=int, default=0)
    args = ap.parse_args()
    server = os.path.abspath(args.server)
    harness.sweep_stale_tmpdirs()
    timer = threading.Timer(args.timeout, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    log("NOSPACE against %s" % server)
    with run(server, args.port_base, flags=["--quota-backend-bytes", str(QUOTA)]) as c:
        c.start(health_timeout=30)
        nospace(c)
        if scenario_lib.failures:
            log(c.log_tails(15))
    if is_ketcd(server):
        log("CORRUPT against %s" % server)
        failed_before = len(scenario_lib.failures)
        with run(server, args.port_base + 10 if args.port_base else 0,
                 flags=["--experimental-corrupt-check-time", "1s"],
                 per_member_env={"m3": {"KETCD_TEST_FAILPOINTS": "1", "KETCD_TEST_CORRUPT_PUTS": "1"}}) as c:
            c.start(health_timeout=30)
            corrupt(c)
            if len(scenario_lib.failures) > failed_before:
                log(c.log_tails(15))
    else:
        log("CORRUPT skipped: it needs ketcd's test failpoint (KETCD_TEST_CORRUPT_PUTS)")
    if scenario_lib.failures:
        log("FAILED: %d check(s): %s" % (len(scenario_lib.failures), "; ".join(scenario_lib.failures)))
        return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
