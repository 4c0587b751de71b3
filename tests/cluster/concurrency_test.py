#!/usr/bin/python3
"""Locks and elections, differential: the same scenario against Debian's
etcd 3.4 and against ketcd (--server), transcripts compared line by line:

    /usr/bin/python3 tests/cluster/concurrency_test.py --server BUILD/server/ketcd

Each run is one fresh single member; the transcript records what a client
sees, with lease ids (and the lease hex in lock and election keys) renamed
in order of appearance and cluster/member ids left out; revisions are kept
(both servers start empty and see the same writes).

  - etcdctl lock: `lock NAME cmd` runs cmd with ETCD_LOCK_KEY/ETCD_LOCK_REV;
    two contenders: the second waits while the first holds the lock and gets
    it when the first exits on SIGINT (unlock), and again when a holder is
    SIGKILLed and its 3 s session lease expires;
  - etcdctl elect: an observer (`elect -l`) and three candidates; the second
    leads when the first resigns on SIGINT, the third when the second is
    SIGKILLed and its lease revoked; the observer prints every leader;
  - v3lockpb.Lock and v3electionpb.Election over gRPC (python3-grpcio,
    generic stubs on messages protoc compiles from proto/): Lock/Unlock with
    a waiter, lease 0 (a 60 s lease granted), a waiter's deadline (its key
    deleted), an unknown lease; Campaign/Proclaim/Leader/Resign/Observe,
    re-campaigning with the same lease, a campaign's deadline (resigns),
    a revoked leader's lease; etcd's errors ("election: not leader",
    "election: no leader", "\"leader\" field must be provided", UNKNOWN).
etcdctl 3.4's lock and elect run clientv3's recipes over KV, Lease and
Watch; clients of the two services (gRPC) exercise ketcd's own.
Every process is stopped by PID; temp dirs are removed; bounded by --timeout.
"""

import argparse
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grpc

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))
import harness  # noqa: E402

ETCD = "/usr/bin/etcd"
FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]
PROTO_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                          "proto"))


def log(msg):
    print("[concurrency] %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def compile_protos(out):
    subprocess.run(["protoc", "-I", PROTO_DIR, "--python_out", out, "etcdserverpb/rpc.proto",
                    "mvccpb/kv.proto", "authpb/auth.proto", "v3lockpb/v3lock.proto",
                    "v3electionpb/v3election.proto"], check=True)
    sys.path.insert(0, out)
    global rpc_pb2, L, E
    from etcdserverpb import rpc_pb2  # noqa: F401
    from v3lockpb import v3lock_pb2 as L  # noqa: F401
    from v3electionpb import v3election_pb2 as E  # noqa: F401


class Transcript:
    """What a client saw, with lease ids named in order of appearance."""

    def __init__(self):
        self.lines = []
        self.leases = {}

    def lease(self, lease_id):
        if lease_id not in self.leases:
            self.leases[lease_id] = "lease%d" % (len(self.leases) + 1)
        return self.leases[lease_id]

    def key(self, key):
        if isinstance(key, bytes):
            key = key.decode()
        m = re.match(r"^(.*/)([0-9a-f]{1,16})$", key)
        return m.group(1) + "<" + self.lease(int(m.group(2), 16)) + ">" if m else key

    def text(self, s):
        """Lease ids in etcdctl output: in keys (NAME/<hex>) and "lease <hex> ..."."""
        s = re.sub(r"\blease ([0-9a-f]{1,16})\b", lambda m: "lease <%s>" % self.lease(int(m.group(1), 16)), s)
        return re.sub(r"(\S*/)([0-9a-f]{6,16})\b", lambda m: self.key(m.group(0)), s)

    def add(self, line):
        self.lines.append(line)
        log("  " + line)


class Ctl:
    """One etcdctl process whose stdout lines are collected as they come."""
    live = []

    def __init__(self, endpoint, *args):
        self.p = subprocess.Popen([harness.ETCDCTL, "--endpoints=" + endpoint, "--dial-timeout=2s"]
                                  + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=harness.etcdctl_env())
        Ctl.live.append(self)
        self.lines, self.err = [], []
        threading.Thread(target=self._read, args=(self.p.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.p.stderr, self.err), daemon=True).start()

    @staticmethod
    def _read(f, into):
        for raw in f:
            into.append(raw.decode().rstrip("\n"))

    def wait_lines(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        while len(self.lines) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.lines) >= n

    def running(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.running():
            os.kill(self.p.pid, sig)

    def wait(self, timeout=15):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return "still running"
        time.sleep(0.1)  # the readers drain the pipes
        return rc

    @classmethod
    def stop_all(cls):
        for c in cls.live:
            if c.running():
                os.kill(c.p.pid, signal.SIGKILL)
                c.p.wait(timeout=10)
        cls.live = []


def etcdctl(endpoint, *args):
    r = subprocess.run([harness.ETCDCTL, "--endpoints=" + endpoint, "--dial-timeout=2s",
                        "--command-timeout=5s"] + list(args), env=harness.etcdctl_env(),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def etcdctl_lock(ep, t):
    rc, out, err = etcdctl(ep, "lock", "job", "--", "sh", "-c",
                           'echo "$ETCD_LOCK_KEY $ETCD_LOCK_REV"')
    t.add("lock job cmd: rc=%d out=%r err=%r" % (rc, t.text(out), err))

    a = Ctl(ep, "lock", "--ttl", "5", "mtx")
    t.add("A holds: %s lines=%r" % (a.wait_lines(2), [t.text(x) for x in a.lines]))
    b = Ctl(ep, "lock", "--ttl", "5", "mtx", "--", "sh", "-c", 'echo "B $ETCD_LOCK_KEY $ETCD_LOCK_REV"')
    time.sleep(1.5)
    t.add("B waits while A holds: %s" % (b.running() and not b.lines))
    a.signal(signal.SIGINT)
    t.add("A after SIGINT: rc=%s" % a.wait())
    t.add("B: rc=%s lines=%r" % (b.wait(), [t.text(x) for x in b.lines]))

    c = Ctl(ep, "lock", "--ttl", "3", "mtx2")
    t.add("C holds: %s lines=%r" % (c.wait_lines(2), [t.text(x) for x in c.lines]))
    d = Ctl(ep, "lock", "--ttl", "3", "mtx2", "--", "sh", "-c", 'echo "D $ETCD_LOCK_KEY $ETCD_LOCK_REV"')
    time.sleep(1.0)
    t.add("D waits while C holds: %s" % (d.running() and not d.lines))
    killed = time.monotonic()
    c.signal(signal.SIGKILL)
    c.wait()
    rc = d.wait(20)
    waited = time.monotonic() - killed
    t.add("D after C's lease expired: rc=%s lines=%r waited 1-15 s: %s"
          % (rc, [t.text(x) for x in d.lines], 1.0 <= waited <= 15.0))


def etcdctl_elect(ep, t):
    o = Ctl(ep, "elect", "-l", "pick")
    time.sleep(0.5)
    p1 = Ctl(ep, "elect", "pick", "one")
    t.add("P1 elected: %s lines=%r" % (p1.wait_lines(2), [t.text(x) for x in p1.lines]))
    p2 = Ctl(ep, "elect", "pick", "two")
    time.sleep(1.0)
    p3 = Ctl(ep, "elect", "pick", "three")
    time.sleep(1.0)
    t.add("P2, P3 wait: %s %s" % (p2.running() and not p2.lines, p3.running() and not p3.lines))
    t.add("observer sees P1: %s" % o.wait_lines(2))
    p1.signal(signal.SIGINT)
    t.add("P1 after SIGINT (resigns): rc=%s" % p1.wait())
    t.add("P2 elected: %s lines=%r" % (p2.wait_lines(2), [t.text(x) for x in p2.lines]))
    t.add("observer sees P2: %s" % o.wait_lines(4))
    # P2 dies without resigning; its lease ends (revoked here rather than
    # waiting out etcdctl's 60 s session TTL).
    p2.signal(signal.SIGKILL)
    p2.wait()
    lease_hex = p2.lines[0].rsplit("/", 1)[1]
    rc, out, err = etcdctl(ep, "lease", "revoke", lease_hex)
    t.add("revoke P2's lease: rc=%d out=%r" % (rc, t.text(out)))
    t.add("P3 elected: %s lines=%r" % (p3.wait_lines(2), [t.text(x) for x in p3.lines]))
    t.add("observer sees P3: %s" % o.wait_lines(6))
    p3.signal(signal.SIGINT)
    t.add("P3 after SIGINT: rc=%s" % p3.wait())
    time.sleep(0.5)
    o.signal(signal.SIGINT)
    t.add("observer after SIGINT: rc=%s lines=%r" % (o.wait(), [t.text(x) for x in o.lines]))


class Api:
    """Generic gRPC stubs for the calls the scenario makes."""

    def __init__(self, endpoint):
        self.ch = grpc.insecure_channel(endpoint)

        def unary(path, req, resp):
            return self.ch.unary_unary(path, request_serializer=req.SerializeToString,
                                       response_deserializer=resp.FromString)
        self.lock = unary("/v3lockpb.Lock/Lock", L.LockRequest, L.LockResponse)
        self.unlock = unary("/v3lockpb.Lock/Unlock", L.UnlockRequest, L.UnlockResponse)
        el = "/v3electionpb.Election/"
        self.campaign = unary(el + "Campaign", E.CampaignRequest, E.CampaignResponse)
        self.proclaim = unary(el + "Proclaim", E.ProclaimRequest, E.ProclaimResponse)
        self.leader = unary(el + "Leader", E.LeaderRequest, E.LeaderResponse)
        self.resign = unary(el + "Resign", E.ResignRequest, E.ResignResponse)
        self.observe = self.ch.unary_stream(el + "Observe", request_serializer=E.LeaderRequest.SerializeToString,
                                            response_deserializer=E.LeaderResponse.FromString)
        self.grant = unary("/etcdserverpb.Lease/LeaseGrant", rpc_pb2.LeaseGrantRequest,
                           rpc_pb2.LeaseGrantResponse)
        self.revoke = unary("/etcdserverpb.Lease/LeaseRevoke", rpc_pb2.LeaseRevokeRequest,
                            rpc_pb2.LeaseRevokeResponse)
        self.ttl = unary("/etcdserverpb.Lease/LeaseTimeToLive", rpc_pb2.LeaseTimeToLiveRequest,
                         rpc_pb2.LeaseTimeToLiveResponse)
        self.range = unary("/etcdserverpb.KV/Range", rpc_pb2.RangeRequest, rpc_pb2.RangeResponse)

    def new_lease(self, ttl=30):
        return self.grant(rpc_pb2.LeaseGrantRequest(TTL=ttl), timeout=5).ID

    def count(self, key):
        return self.range(rpc_pb2.RangeRequest(key=key, count_only=True), timeout=5).count

    def gone(self, key, timeout=5):
        deadline = time.monotonic() + timeout
        while self.count(key) != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count(key) == 0


def show(t, what, call):
    """One line for a call's answer or error (header: revision only)."""
    try:
        r = call()
    except grpc.RpcError as e:
        t.add("%s: error %s %r" % (what, e.code().name, e.details()))
        return None
    parts = ["rev=%d" % r.header.revision]
    if hasattr(r, "key") and not hasattr(r, "leader"):
        parts.append("key=%s" % t.key(r.key))
    if getattr(r, "leader", None) is not None and r.HasField("leader"):
        lk = r.leader
        parts.append("leader=(%s %s rev=%d %s)" % (lk.name.decode(), t.key(lk.key), lk.rev,
                                                   t.lease(lk.lease)))
    if hasattr(r, "kv") and r.HasField("kv"):
        parts.append(kv_text(t, r.kv))
    t.add("%s: ok %s" % (what, " ".join(parts)))
    return r


def kv_text(t, kv):
    return "kv=(%s %r create=%d mod=%d ver=%d %s)" % (t.key(kv.key), kv.value.decode(), kv.create_revision,
                                                       kv.mod_revision, kv.version,
                                                       t.lease(kv.lease) if kv.lease else "no lease")


def grpc_lock(api, t):
    g1, g2, g3 = api.new_lease(), api.new_lease(), api.new_lease()
    for g in (g1, g2, g3):
        t.lease(g)
    r1 = show(t, "Lock(res, lease1)", lambda: api.lock(L.LockRequest(name=b"res", lease=g1), timeout=5))
    waiter = api.lock.future(L.LockRequest(name=b"res", lease=g2), timeout=15)
    time.sleep(1.0)
    t.add("Lock(res, lease2) waits: %s" % (not waiter.done()))
    show(t, "Lock(res, lease3) with a 1 s deadline", lambda: api.lock(L.LockRequest(name=b"res", lease=g3),
                                                                       timeout=1))
    t.add("lease3's key deleted after the deadline: %s" % api.gone(b"res/%x" % g3))
    show(t, "Unlock(lease1's key)", lambda: api.unlock(L.UnlockRequest(key=r1.key), timeout=5))
    show(t, "Lock(res, lease2) after the unlock", lambda: waiter.result())
    waiter = api.lock.future(L.LockRequest(name=b"res", lease=g1), timeout=15)
    time.sleep(0.5)
    t.add("Lock(res, lease1) waits: %s" % (not waiter.done()))
    show(t, "Revoke(lease2)", lambda: api.revoke(rpc_pb2.LeaseRevokeRequest(ID=g2), timeout=5))
    show(t, "Lock(res, lease1) after lease2 ended", lambda: waiter.result())
    show(t, "Lock(res, lease1) again (its key stays)", lambda: api.lock(L.LockRequest(name=b"res", lease=g1),
                                                                         timeout=5))
    r0 = show(t, "Lock(free, lease 0)", lambda: api.lock(L.LockRequest(name=b"free"), timeout=5))
    if r0 is not None:
        lid = int(r0.key.decode().rsplit("/", 1)[1], 16)
        ttl = api.ttl(rpc_pb2.LeaseTimeToLiveRequest(ID=lid), timeout=5)
        t.add("the lease granted for lease 0: grantedTTL=%d" % ttl.grantedTTL)
    show(t, "Lock(res, unknown lease)", lambda: api.lock(L.LockRequest(name=b"res", lease=0x7777), timeout=5))
    show(t, "Unlock(missing key)", lambda: api.unlock(L.UnlockRequest(key=b"res/none"), timeout=5))
    show(t, "Unlock(empty key)", lambda: api.unlock(L.UnlockRequest(key=b""), timeout=5))


def observer(api, name):
    stream = api.observe(E.LeaderRequest(name=name), timeout=60)
    seen = []

    def run():
        try:
            for r in stream:
                seen.append(r)
        except grpc.RpcError as e:
            seen.append(e.code().name)
    threading.Thread(target=run, daemon=True).start()
    return stream, seen


def wait_seen(seen, n, timeout=10):
    deadline = time.monotonic() + timeout
    while len(seen) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(seen) >= n


def grpc_election(api, t):
    show(t, "Leader(vote) with no candidate", lambda: api.leader(E.LeaderRequest(name=b"vote"), timeout=5))
    stream, seen = observer(api, b"vote")
    g5, g6, g7 = api.new_lease(), api.new_lease(), api.new_lease()
    for g in (g5, g6, g7):
        t.lease(g)
    c1 = show(t, "Campaign(vote, lease5, a)",
              lambda: api.campaign(E.CampaignRequest(name=b"vote", lease=g5, value=b"a"), timeout=5))
    second = api.campaign.future(E.CampaignRequest(name=b"vote", lease=g6, value=b"b"), timeout=20)
    time.sleep(1.0)
    t.add("Campaign(vote, lease6, b) waits: %s" % (not second.done()))
    show(t, "Campaign(vote, lease7, c) with a 1 s deadline",
         lambda: api.campaign(E.CampaignRequest(name=b"vote", lease=g7, value=b"c"), timeout=1))
    t.add("lease7's key deleted after the deadline: %s" % api.gone(b"vote/%x" % g7))
    show(t, "Campaign(vote, lease5, a2) again", lambda: api.campaign(
        E.CampaignRequest(name=b"vote", lease=g5, value=b"a2"), timeout=5))
    show(t, "Proclaim(lease5's key, a3)", lambda: api.proclaim(E.ProclaimRequest(leader=c1.leader, value=b"a3"),
                                                               timeout=5))
    show(t, "Leader(vote)", lambda: api.leader(E.LeaderRequest(name=b"vote"), timeout=5))
    stale = E.LeaderKey(name=c1.leader.name, key=c1.leader.key, rev=c1.leader.rev + 1, lease=c1.leader.lease)
    show(t, "Proclaim(stale LeaderKey)", lambda: api.proclaim(E.ProclaimRequest(leader=stale, value=b"x"),
                                                              timeout=5))
    show(t, "Resign(stale LeaderKey)", lambda: api.resign(E.ResignRequest(leader=stale), timeout=5))
    show(t, "Proclaim(no LeaderKey)", lambda: api.proclaim(E.ProclaimRequest(value=b"x"), timeout=5))
    show(t, "Resign(no LeaderKey)", lambda: api.resign(E.ResignRequest(), timeout=5))
    t.add("observer saw a, a2, a3: %s" % wait_seen(seen, 3))
    show(t, "Resign(lease5's key)", lambda: api.resign(E.ResignRequest(leader=c1.leader), timeout=5))
    c2 = show(t, "Campaign(vote, lease6, b) after the resign", lambda: second.result())
    show(t, "Leader(vote)", lambda: api.leader(E.LeaderRequest(name=b"vote"), timeout=5))
    t.add("observer saw b: %s" % wait_seen(seen, 4))
    show(t, "Revoke(lease6)", lambda: api.revoke(rpc_pb2.LeaseRevokeRequest(ID=g6), timeout=5))
    show(t, "Leader(vote) after lease6 ended", lambda: api.leader(E.LeaderRequest(name=b"vote"), timeout=5))
    show(t, "Proclaim(lease6's key) after it ended", lambda: api.proclaim(
        E.ProclaimRequest(leader=c2.leader, value=b"late"), timeout=5))
    c0 = show(t, "Campaign(vote, lease 0, d)",
              lambda: api.campaign(E.CampaignRequest(name=b"vote", value=b"d"), timeout=5))
    if c0 is not None:
        ttl = api.ttl(rpc_pb2.LeaseTimeToLiveRequest(ID=c0.leader.lease), timeout=5)
        t.add("the lease granted for lease 0: grantedTTL=%d" % ttl.grantedTTL)
    show(t, "Campaign(vote, unknown lease)", lambda: api.campaign(
        E.CampaignRequest(name=b"vote", lease=0x7777, value=b"e"), timeout=5))
    t.add("observer saw d: %s" % wait_seen(seen, 5))
    stream.cancel()
    wait_seen(seen, 6, timeout=5)
    for i, r in enumerate(seen):
        t.add("observed %d: %s" % (i, r if isinstance(r, str) else "rev=%d %s" % (r.header.revision,
                                                                                 kv_text(t, r.kv))))


def transcript(binary, tmp, ports):
    t = Transcript()
    with harness.Server(binary, name="conc", extra_flags=FLAGS, tmpdir=tmp, ports=ports,
                        label=os.path.basename(binary)) as s:
        s.start()
        try:
            log("etcdctl lock against %s" % binary)
            etcdctl_lock(s.endpoint, t)
            log("etcdctl elect")
            etcdctl_elect(s.endpoint, t)
            api = Api(s.endpoint)
            log("gRPC Lock")
            grpc_lock(api, t)
            log("gRPC Election")
            grpc_election(api, t)
            api.ch.close()
        finally:
            Ctl.stop_all()
    return t.lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--etcd", default=ETCD, help="the reference server")
    ap.add_argument("--port-base", type=int, default=0,
                    help="use ports BASE..BASE+3 (default: free ports)")
    ap.add_argument("--timeout", type=int, default=180)
    args = ap.parse_args()

    def on_alarm(signum, frame):
        raise harness.HarnessError("ran past %d s" % args.timeout)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.timeout)
    out = tempfile.mkdtemp(prefix=harness.TMP_PREFIX)
    try:
        compile_protos(out)
        runs = {}
        for i, binary in enumerate([args.etcd, os.path.abspath(args.server)]):
            ports = (args.port_base + 2 * i, args.port_base + 2 * i + 1) if args.port_base else None
            tmp = tempfile.mkdtemp(prefix=harness.TMP_PREFIX, dir=out)
            runs[binary] = transcript(binary, tmp, ports)
        want, got = runs[args.etcd], runs[os.path.abspath(args.server)]
        if want != got:
            diff = difflib.unified_diff(want, got, "etcd", "server", lineterm="")
            log("FAIL: the transcripts differ\n" + "\n".join(diff))
            return 1
        log("PASS: %d transcript lines equal" % len(want))
        return 0
    except (harness.HarnessError, subprocess.TimeoutExpired, grpc.RpcError) as e:
        log("FAIL: %s" % e)
        return 1
    finally:
        signal.alarm(0)
        Ctl.stop_all()
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
