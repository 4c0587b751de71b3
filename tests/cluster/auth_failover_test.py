#!/usr/bin/env python3
"""Auth on a 3-member cluster through a leader's kill -9 (issue 15).

Auth is enabled (root, and a user "app" with READWRITE on /f/); three
clients, one per member, each log in on their member and write /f/<i>/<n>
with their token in a loop. A client whose member stops answering moves to
the next member with the token it holds (a simple token is known to every
member: each applies the Authenticate entry); a client told its token is
invalid logs in again. Checked, on the server given (run it by hand with
--server /usr/bin/etcd for etcd 3.4):
  - the leader is killed; every client makes progress afterwards;
  - a token issued before the kill works on the survivors, is refused on
    the restarted member ("etcdserver: invalid auth token": tokens live in
    memory), and a new login there works;
  - the clients, all sent to the restarted member, log in again and carry on;
  - every acknowledged write is on every member; a write outside /f/ is
    still refused and one without a token too.

Usage: /usr/bin/python3 tests/cluster/auth_failover_test.py --server build/server/ketcd
       [--timeout 150]
Exit 0 on success, 1 on a failed check, 2 on a harness error.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import grpc

sys.dont_write_bytecode = True
from etcd3 import etcdrpc as pb  # noqa: E402  (python3-etcd3's generated messages and stubs)

FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500", "--bcrypt-cost", "4"]
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNKNOWN}


class Failure(Exception):
    pass


def log(msg):
    print("[auth-failover] %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Cluster:
    def __init__(self, binary, workdir):
        ports = free_ports(6)
        self.names = ["m1", "m2", "m3"]
        self.client = ["127.0.0.1:%d" % ports[i] for i in range(3)]
        self.peer = ["http://127.0.0.1:%d" % ports[3 + i] for i in range(3)]
        ic = ",".join("%s=%s" % (n, p) for n, p in zip(self.names, self.peer))
        self.args = []
        for i, n in enumerate(self.names):
            curl = "http://" + self.client[i]
            self.args.append([binary, "--name", n, "--data-dir", os.path.join(workdir, n + ".data"),
                              "--listen-client-urls", curl, "--advertise-client-urls", curl,
                              "--listen-peer-urls", self.peer[i], "--initial-advertise-peer-urls", self.peer[i],
                              "--initial-cluster", ic, "--initial-cluster-token", "authfo"] + FLAGS)
        self.logs = [os.path.join(workdir, n + ".log") for n in self.names]
        self.procs = [None] * 3

    def start(self, i):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(self.logs[i], "ab") as out:
            self.procs[i] = subprocess.Popen(self.args[i], stdout=out, stderr=subprocess.STDOUT, env=env)

    def kill(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)

    def stop_all(self):
        for i in range(3):
            self.kill(i)


def stubs(endpoint):
    ch = grpc.insecure_channel(endpoint)
    return ch, pb.KVStub(ch), pb.AuthStub(ch), pb.MaintenanceStub(ch)


def login(endpoint, user, pw, deadline):
    ch, _, auth, _ = stubs(endpoint)
    try:
        while True:
            try:
                return auth.Authenticate(pb.AuthenticateRequest(name=user, password=pw), timeout=3).token
            except grpc.RpcError as e:
                if time.monotonic() > deadline or e.code() not in RETRYABLE:
                    raise
                time.sleep(0.2)
    finally:
        ch.close()


def wait_leader(cluster, members, deadline):
    while time.monotonic() < deadline:
        for i in members:
            ch, _, _, maint = stubs(cluster.client[i])
            try:
                st = maint.Status(pb.StatusRequest(), timeout=1)
                if st.leader:
                    for j in members:
                        ch2, _, _, m2 = stubs(cluster.client[j])
                        try:
                            if m2.Status(pb.StatusRequest(), timeout=1).header.member_id == st.leader:
                                return j
                        except grpc.RpcError:
                            pass
                        finally:
                            ch2.close()
            except grpc.RpcError:
                pass
            finally:
                ch.close()
        time.sleep(0.2)
    raise Failure("no leader among %s" % members)


class Writer(threading.Thread):
    """Writes /f/<i>/<n> as "app"; moves on when its member is gone, logs in
    again when told its token is invalid."""

    def __init__(self, i, cluster, deadline):
        super().__init__(daemon=True)
        self.i, self.cluster, self.deadline = i, cluster, deadline
        self.target = i
        self.acked = []
        self.relogins = 0
        self.errors = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def move_to(self, target):
        with self.lock:
            self.target = target

    def run(self):
        token, ch, kv, at = None, None, None, None
        n = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            with self.lock:
                target = self.target
            if at != target:
                if ch:
                    ch.close()
                ch, kv, _, _ = stubs(self.cluster.client[target])
                at = target
            try:
                if token is None:
                    token = login(self.cluster.client[target], "app", "apppw", self.deadline)
                key = ("/f/%d/%06d" % (self.i, n)).encode()
                kv.Put(pb.PutRequest(key=key, value=b"x"), metadata=[("token", token)], timeout=3)
                self.acked.append(key)
                n += 1
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNAUTHENTICATED:
                    token = None
                    self.relogins += 1
                elif e.code() == grpc.StatusCode.UNAVAILABLE and self.cluster.procs[target].poll() is not None:
                    self.move_to((target + 1) % 3)
                elif e.code() not in RETRYABLE:
                    self.errors.append("%s %s" % (e.code().name, e.details()))
                    time.sleep(0.1)
                else:
                    time.sleep(0.05)
            time.sleep(0.01)
        if ch:
            ch.close()

    def progress_after(self, count, deadline):
        while time.monotonic() < deadline:
            if len(self.acked) >= count:
                return True
            time.sleep(0.1)
        return False


def put_as(endpoint, token, key):
    ch, kv, _, _ = stubs(endpoint)
    try:
        md = [("token", token)] if token else []
        kv.Put(pb.PutRequest(key=key, value=b"y"), metadata=md, timeout=5)
        return "OK"
    except grpc.RpcError as e:
        return "%s %s" % (e.code().name, e.details())
    finally:
        ch.close()


def scenario(cluster, deadline):
    for i in range(3):
        cluster.start(i)
    leader = wait_leader(cluster, [0, 1, 2], deadline)
    ch, kv, auth, _ = stubs(cluster.client[leader])
    auth.UserAdd(pb.AuthUserAddRequest(name="root", password="rootpw"), timeout=5)
    auth.UserGrantRole(pb.AuthUserGrantRoleRequest(user="root", role="root"), timeout=5)
    auth.UserAdd(pb.AuthUserAddRequest(name="app", password="apppw"), timeout=5)
    auth.RoleAdd(pb.AuthRoleAddRequest(name="app"), timeout=5)
    from etcd3.etcdrpc import auth_pb2
    auth.RoleGrantPermission(pb.AuthRoleGrantPermissionRequest(
        name="app", perm=auth_pb2.Permission(permType=auth_pb2.Permission.READWRITE, key=b"/f/",
                                             range_end=b"/f0")), timeout=5)
    auth.UserGrantRole(pb.AuthUserGrantRoleRequest(user="app", role="app"), timeout=5)
    auth.AuthEnable(pb.AuthEnableRequest(), timeout=5)
    ch.close()
    log("auth on; leader is %s" % cluster.names[leader])
    # Logged in well before the kill, so that no member replays the login
    # after its restart (etcd 3.4 re-applies entries its backend had not
    # committed yet, up to 100 ms, and so would know the token again).
    survivor = (leader + 1) % 3
    old_token = login(cluster.client[survivor], "app", "apppw", deadline)
    writers = [Writer(i, cluster, deadline) for i in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        if not w.progress_after(20, deadline):
            raise Failure("writer %d made no progress before the kill: %s" % (w.i, w.errors[-3:]))
    time.sleep(0.5)
    cluster.kill(leader)
    log("killed the leader %s" % cluster.names[leader])
    marks = [len(w.acked) for w in writers]
    for w, m in zip(writers, marks):
        if not w.progress_after(m + 20, min(deadline, time.monotonic() + 30)):
            raise Failure("writer %d stalled after the leader's kill: %s" % (w.i, w.errors[-3:]))
    others = [i for i in range(3) if i != leader]
    new_leader = wait_leader(cluster, others, deadline)
    log("new leader %s; every writer carries on" % cluster.names[new_leader])
    got = put_as(cluster.client[survivor], old_token, b"/f/old-token")
    if got != "OK":
        raise Failure("a token issued before the kill, on a survivor: %s" % got)
    cluster.start(leader)
    wait_leader(cluster, [0, 1, 2], deadline)
    restarted = cluster.client[leader]
    got = put_as(restarted, old_token, b"/f/old-token")
    while got.startswith("UNAVAILABLE") and time.monotonic() < deadline:
        time.sleep(0.2)
        got = put_as(restarted, old_token, b"/f/old-token")
    if got != "UNAUTHENTICATED etcdserver: invalid auth token":
        raise Failure("the old token on the restarted member: %s" % got)
    fresh = login(restarted, "app", "apppw", deadline)
    if put_as(restarted, fresh, b"/f/fresh") != "OK":
        raise Failure("a new login on the restarted member does not write")
    for w in writers:
        w.move_to(leader)
    marks = [len(w.acked) for w in writers]
    for w, m in zip(writers, marks):
        if not w.progress_after(m + 20, min(deadline, time.monotonic() + 30)):
            raise Failure("writer %d stalled on the restarted member: %s" % (w.i, w.errors[-3:]))
    for w in writers:
        w.stop.set()
        w.join(timeout=10)
    relogins = sum(w.relogins for w in writers)
    if relogins < 1:
        raise Failure("no writer had to log in again on the restarted member")
    errors = [e for w in writers for e in w.errors]
    if errors:
        raise Failure("unexpected errors: %s" % errors[:5])
    denied = put_as(cluster.client[survivor], fresh, b"/outside")
    if denied != "PERMISSION_DENIED etcdserver: permission denied":
        raise Failure("a write outside /f/: %s" % denied)
    if put_as(cluster.client[survivor], None, b"/f/x") != "INVALID_ARGUMENT etcdserver: user name is empty":
        raise Failure("a write without a token was not refused")
    acked = set(k for w in writers for k in w.acked)
    root = login(cluster.client[survivor], "root", "rootpw", deadline)
    # A linearizable read on the restarted member first, so that it has
    # caught up; then every member's serializable view.
    ch, kv, _, _ = stubs(restarted)
    kv.Range(pb.RangeRequest(key=b"/f/", range_end=b"/f0", count_only=True), metadata=[("token", root)],
             timeout=5)
    ch.close()
    for i in range(3):
        ch, kv, _, _ = stubs(cluster.client[i])
        tok = login(cluster.client[i], "root", "rootpw", deadline)
        r = kv.Range(pb.RangeRequest(key=b"/f/", range_end=b"/f0", keys_only=True, serializable=True),
                     metadata=[("token", tok)], timeout=5)
        ch.close()
        have = set(x.key for x in r.kvs)
        missing = acked - have
        if missing:
            raise Failure("%s lacks %d acknowledged writes, e.g. %s" % (cluster.names[i], len(missing),
                                                                       sorted(missing)[:3]))
    log("%d acknowledged writes on every member; %d logins again" % (len(acked), relogins))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--timeout", type=float, default=150)
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    workdir = tempfile.mkdtemp(prefix="ketcd-authfo-")
    cluster = Cluster(args.server, workdir)
    rc = 0
    try:
        scenario(cluster, deadline)
        log("PASS")
    except Failure as e:
        log("FAIL: %s" % e)
        rc = 1
    except Exception as e:  # harness trouble
        log("ERROR: %r" % e)
        rc = 2
    finally:
        cluster.stop_all()
        if rc:
            for path in cluster.logs:
                if os.path.exists(path):
                    with open(path, errors="replace") as f:
                        log("%s tail:\n%s" % (os.path.basename(path), "".join(f.readlines()[-15:])))
        shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
