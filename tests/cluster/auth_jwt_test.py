#!/usr/bin/env python3
"""JWT auth tokens on 3 members (issue 15), differential against etcd 3.4.

A 3-member ketcd cluster and a 3-member etcd 3.4 cluster run side by side
with the same --auth-token jwt,pub-key=...,priv-key=...,sign-method=... and
the same key files (made here with the openssl CLI). The same story runs on
both through raw gRPC and the transcripts (codes, messages, claims) must be
equal:
  - users, a role on /k/, auth enabled; alice logs in on each member: the
    token's header and claims are etcd's (alg, typ; username, revision, exp
    = now + ttl);
  - every member's token works on every member;
  - tokens made by this test with the openssl CLI: a valid one is accepted;
    expired, foreign-key, tampered, "alg":"none" ones are refused with
    "etcdserver: invalid auth token"; one claiming a future auth revision
    writes but cannot read (etcd's doSerialize);
  - the leader is killed: the tokens (also the dead leader's) work on the
    survivors; the killed member comes back with pub-key only (verify-only):
    old tokens work there, Authenticate there fails as etcd's does;
  - a role change makes every token stale ("etcdserver: revision of auth
    store is old") on every member; a new login works everywhere.
Also: a token ketcd signed works on etcd and one etcd signed works on ketcd;
and (ketcd only) a burst of wrong passwords from one client is answered
"etcdserver: too many requests" (ResourceExhausted) while a right one,
after the budget refills, still logs in.

Usage: /usr/bin/python3 tests/cluster/auth_jwt_test.py --server build/server/ketcd
       [--etcd /usr/bin/etcd] [--sign-method RS256|PS256|ES256] [--timeout 180]
Exit 0 on success, 1 on a failed check, 2 on a harness error.
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import grpc

sys.dont_write_bytecode = True
from etcd3 import etcdrpc as pb  # noqa: E402  (python3-etcd3's generated messages and stubs)
from etcd3.etcdrpc import auth_pb2 as authpb  # noqa: E402

FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500", "--bcrypt-cost", "4"]
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
TTL_S = 600


class Failure(Exception):
    pass


def log(msg):
    print("[auth-jwt] %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# ---- keys and tokens made with the openssl CLI

def openssl(*args, stdin=None):
    return subprocess.run(["openssl"] + list(args), input=stdin, capture_output=True, check=True,
                          timeout=60).stdout


def make_keys(workdir, method, name):
    key, pub = os.path.join(workdir, name + ".key"), os.path.join(workdir, name + ".pub")
    if method.startswith("ES"):
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
        openssl("ec", "-in", key, "-pubout", "-out", pub)
    else:
        openssl("genrsa", "-out", key, "2048")
        openssl("rsa", "-in", key, "-pubout", "-out", pub)
    return key, pub


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def der_ecdsa_to_raw(der, width=32):
    # SEQUENCE { INTEGER r, INTEGER s } -> r || s, each `width` bytes.
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\0").rjust(width, b"\0")
        i += 2 + n
    return out


def sign(method, keyfile, claims, header=None):
    """A JWT signed here, independently of both servers (compact JSON, sorted keys: Go's)."""
    h = b64u(json.dumps(header or {"alg": method, "typ": "JWT"}, separators=(",", ":"), sort_keys=True))
    c = b64u(json.dumps(claims, separators=(",", ":"), sort_keys=True))
    data = (h + "." + c).encode()
    opts = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"] if method.startswith("PS") else []
    sig = openssl("dgst", "-sha256", "-sign", keyfile, *opts, stdin=data)
    if method.startswith("ES"):
        sig = der_ecdsa_to_raw(sig)
    return h + "." + c + "." + b64u(sig)


def claims_of(token):
    parts = token.split(".")
    return json.loads(unb64u(parts[0])), json.loads(unb64u(parts[1])), len(parts)


# ---- clusters

class Cluster:
    def __init__(self, kind, binary, workdir, token_flag):
        ports = free_ports(6)
        self.kind = kind
        self.names = ["m1", "m2", "m3"]
        self.client = ["127.0.0.1:%d" % ports[i] for i in range(3)]
        self.peer = ["http://127.0.0.1:%d" % ports[3 + i] for i in range(3)]
        ic = ",".join("%s=%s" % (n, p) for n, p in zip(self.names, self.peer))
        self.binary = binary
        self.base = []
        for i, n in enumerate(self.names):
            curl = "http://" + self.client[i]
            self.base.append([binary, "--name", n, "--data-dir", os.path.join(workdir, kind + n + ".data"),
                              "--listen-client-urls", curl, "--advertise-client-urls", curl,
                              "--listen-peer-urls", self.peer[i], "--initial-advertise-peer-urls", self.peer[i],
                              "--initial-cluster", ic, "--initial-cluster-token", "jwt-" + kind] + FLAGS)
        self.token_flag = [token_flag] * 3
        self.logs = [os.path.join(workdir, kind + n + ".log") for n in self.names]
        self.procs = [None] * 3

    def start(self, i, token_flag=None):
        if token_flag:
            self.token_flag[i] = token_flag
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(self.logs[i], "ab") as out:
            self.procs[i] = subprocess.Popen(self.base[i] + ["--auth-token", self.token_flag[i]],
                                             stdout=out, stderr=subprocess.STDOUT, env=env)

    def kill(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)

    def stop_all(self):
        for i in range(3):
            self.kill(i)

    def tail(self, n=15):
        for path in self.logs:
            try:
                with open(path, errors="replace") as f:
                    lines = f.readlines()[-n:]
                log("--- %s\n%s" % (path, "".join(lines)))
            except OSError:
                pass


def rpc(endpoint, service, method, req, token=None, timeout=5):
    """The call's response, or 'CODE: details' for an error."""
    ch = grpc.insecure_channel(endpoint)
    try:
        stub = getattr(pb, service + "Stub")(ch)
        md = [("token", token)] if token else []
        return getattr(stub, method)(req, metadata=md, timeout=timeout)
    except grpc.RpcError as e:
        return "%s: %s" % (e.code().name, e.details())
    finally:
        ch.close()


def rpc_retry(endpoint, service, method, req, deadline, token=None):
    while True:
        r = rpc(endpoint, service, method, req, token)
        if not isinstance(r, str) or time.monotonic() > deadline:
            return r
        if not any(r.startswith(c.name + ":") for c in RETRYABLE) and "leader" not in r:
            return r
        time.sleep(0.2)


def outcome(r):
    return r if isinstance(r, str) else "OK"


def status(endpoint):
    r = rpc(endpoint, "Maintenance", "Status", pb.StatusRequest(), timeout=1)
    return None if isinstance(r, str) else r


def wait_leader(cluster, members, deadline):
    while time.monotonic() < deadline:
        sts = {i: status(cluster.client[i]) for i in members}
        ids = {i: s.header.member_id for i, s in sts.items() if s}
        for i, s in sts.items():
            if s and s.leader:
                for j, mid in ids.items():
                    if mid == s.leader:
                        return j
        time.sleep(0.1)
    raise Failure("%s: no leader among %s" % (cluster.kind, members))


# ---- the story, phase by phase, one transcript per system

def setup(c, t, deadline):
    m = c.client[0]
    steps = [
        ("RoleAdd", pb.AuthRoleAddRequest(name="app")),
        ("RoleGrantPermission", pb.AuthRoleGrantPermissionRequest(
            name="app", perm=authpb.Permission(permType=authpb.Permission.READWRITE, key=b"/k/", range_end=b"/k0"))),
        ("UserAdd", pb.AuthUserAddRequest(name="root", password="rootpw")),
        ("UserGrantRole", pb.AuthUserGrantRoleRequest(user="root", role="root")),
        ("UserAdd", pb.AuthUserAddRequest(name="alice", password="alicepw")),
        ("UserGrantRole", pb.AuthUserGrantRoleRequest(user="alice", role="app")),
        ("AuthEnable", pb.AuthEnableRequest()),
    ]
    for name, req in steps:
        t.append("setup %s: %s" % (name, outcome(rpc_retry(m, "Auth", name, req, deadline))))


def login(c, i, user, pw, deadline):
    r = rpc_retry(c.client[i], "Auth", "Authenticate", pb.AuthenticateRequest(name=user, password=pw), deadline)
    return r if isinstance(r, str) else r.token


def describe(token):
    """The token's header and claims, with exp as its distance from now + ttl."""
    if not token or token.count(".") != 2:
        return "not a JWT: %r" % token
    header, claims, _ = claims_of(token)
    exp_ok = abs(claims.get("exp", 0) - (time.time() + TTL_S)) <= 10
    rest = {k: v for k, v in claims.items() if k != "exp"}
    return "header=%s claims=%s exp=now+ttl:%s" % (json.dumps(header, sort_keys=True),
                                                   json.dumps(rest, sort_keys=True), exp_ok)


def put(c, i, token, key, deadline):
    return outcome(rpc_retry(c.client[i], "KV", "Put", pb.PutRequest(key=key.encode(), value=b"v"), deadline,
                             token))


def get(c, i, token, key, deadline):
    r = rpc_retry(c.client[i], "KV", "Range", pb.RangeRequest(key=key.encode()), deadline, token)
    return r if isinstance(r, str) else "OK count=%d" % r.count


def logins_everywhere(c, t, deadline):
    tokens = []
    for i in range(3):
        tok = login(c, i, "alice", "alicepw", deadline)
        t.append("login on member %d: %s" % (i, describe(tok)))
        tokens.append(tok)
    t.append("wrong password: %s" % login(c, 0, "alice", "nope", deadline))
    for i, tok in enumerate(tokens):
        for j in range(3):
            t.append("token of %d on %d: put %s, get %s" % (i, j, put(c, j, tok, "/k/%d%d" % (i, j), deadline),
                                                             get(c, j, tok, "/k/%d%d" % (i, j), deadline)))
    return tokens


def crafted(c, t, key, other_key, method, tokens, deadline):
    rev = claims_of(tokens[0])[1]["revision"]
    now = int(time.time())
    good = {"exp": now + 300, "revision": rev, "username": "alice"}
    h, body, _ = tokens[0].split(".")
    forged_claims = b64u(json.dumps(dict(claims_of(tokens[0])[1], username="root"), separators=(",", ":"),
                                    sort_keys=True))
    cases = [
        ("made by openssl", sign(method, key, good)),
        ("expired", sign(method, key, dict(good, exp=now - 5))),
        ("no exp", sign(method, key, {"revision": rev, "username": "alice"})),
        ("another key", sign(method, other_key, good)),
        ("claims changed to root", "%s.%s.%s" % (h, forged_claims, tokens[0].split(".")[2])),
        ("alg none", "%s.%s." % (b64u('{"alg":"none","typ":"JWT"}'), body)),
        ("two segments", "%s.%s" % (h, body)),
        ("future revision", sign(method, key, dict(good, revision=rev + 5))),
    ]
    for what, tok in cases:
        t.append("crafted %s: put %s, get %s" % (what, put(c, 1, tok, "/k/crafted", deadline),
                                                 get(c, 1, tok, "/k/crafted", deadline)))


def failover(c, t, pub, method, tokens, deadline):
    leader = wait_leader(c, [0, 1, 2], deadline)
    c.kill(leader)
    rest = [i for i in range(3) if i != leader]
    wait_leader(c, rest, deadline)
    for i in rest:
        t.append("after the leader's kill, its token on a survivor: put %s" % put(c, i, tokens[leader], "/k/fo",
                                                                                  deadline))
        t.append("after the leader's kill, a survivor's token on a survivor: put %s" % put(
            c, i, tokens[rest[0]], "/k/fo", deadline))
    # Back with the public key only: it verifies, it cannot sign.
    c.start(leader, "jwt,pub-key=%s,sign-method=%s,ttl=%ds" % (pub, method, TTL_S))
    while time.monotonic() < deadline and status(c.client[leader]) is None:
        time.sleep(0.1)
    t.append("verify-only member, an old token: put %s" % put(c, leader, tokens[rest[0]], "/k/vo", deadline))
    t.append("verify-only member, Authenticate: %s" % login(c, leader, "alice", "alicepw", deadline))
    return leader


def role_change(c, t, tokens, signer, deadline):
    root = login(c, signer, "root", "rootpw", deadline)
    t.append("root login: %s" % describe(root))
    r = rpc_retry(c.client[signer], "Auth", "RoleGrantPermission", pb.AuthRoleGrantPermissionRequest(
        name="app", perm=authpb.Permission(permType=authpb.Permission.READ, key=b"/other")), deadline, root)
    t.append("role change: %s" % outcome(r))
    for i in range(3):
        t.append("after the role change, a token on %d: put %s, get %s" % (
            i, put(c, i, tokens[i], "/k/rc", deadline), get(c, i, tokens[i], "/k/rc", deadline)))
    fresh = login(c, signer, "alice", "alicepw", deadline)
    t.append("new login: %s" % describe(fresh))
    for i in range(3):
        t.append("the new token on %d: put %s" % (i, put(c, i, fresh, "/k/new", deadline)))


def rate_limit(c, i, deadline):
    """ketcd only: wrong passwords beyond the budget are refused."""
    seen = [login(c, i, "alice", "guess%d" % n, deadline) for n in range(30)]
    limited = [s for s in seen if s.startswith("RESOURCE_EXHAUSTED")]
    if not limited or limited[0] != "RESOURCE_EXHAUSTED: etcdserver: too many requests":
        raise Failure("30 wrong passwords were not limited: %s" % sorted(set(seen)))
    time.sleep(1.0)
    ok = login(c, i, "alice", "alicepw", deadline)
    if ok.count(".") != 2:
        raise Failure("a right password after the budget refilled: %s" % ok)
    log("rate limit: %d of 30 wrong passwords refused with too many requests; a right one then works"
        % len(limited))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    ap.add_argument("--sign-method", default="RS256", choices=["RS256", "PS256", "ES256"])
    ap.add_argument("--timeout", type=float, default=180)
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    workdir = tempfile.mkdtemp(prefix="ketcd-auth-jwt-")
    method = args.sign_method
    clusters = []
    try:
        key, pub = make_keys(workdir, method, "jwt")
        other_key, _ = make_keys(workdir, method, "other")
        flag = "jwt,pub-key=%s,priv-key=%s,sign-method=%s,ttl=%ds" % (pub, key, method, TTL_S)
        clusters = [Cluster("ketcd", args.server, workdir, flag), Cluster("etcd", args.etcd, workdir, flag)]
        for c in clusters:
            for i in range(3):
                c.start(i)
        transcripts = {}
        tokens = {}
        for c in clusters:
            wait_leader(c, [0, 1, 2], deadline)
            t = transcripts[c.kind] = []
            setup(c, t, deadline)
            tokens[c.kind] = logins_everywhere(c, t, deadline)
        # Each system takes the other's tokens (same keys, same auth revision).
        k, e = clusters
        for a, b in ((k, e), (e, k)):
            r = put(b, 0, tokens[a.kind][0], "/k/from-" + a.kind, deadline)
            log("a token %s signed, on %s: %s" % (a.kind, b.kind, r))
            if r != "OK":
                raise Failure("a token %s signed is refused by %s: %s" % (a.kind, b.kind, r))
        signer = {}
        for c in clusters:
            t = transcripts[c.kind]
            crafted(c, t, key, other_key, method, tokens[c.kind], deadline)
            verify_only = failover(c, t, pub, method, tokens[c.kind], deadline)
            signer[c.kind] = (verify_only + 1) % 3
            role_change(c, t, tokens[c.kind], signer[c.kind], deadline)
        rate_limit(k, signer["ketcd"], deadline)
        if transcripts["ketcd"] != transcripts["etcd"]:
            for a, b in zip(transcripts["ketcd"], transcripts["etcd"]):
                print(("   " if a == b else "!! ") + "ketcd: " + a + ("" if a == b else "\n   etcd:  " + b))
            raise Failure("ketcd's transcript differs from etcd's")
        for line in transcripts["ketcd"]:
            print("   " + line)
        log("PASS: %d steps equal on ketcd and etcd 3.4 (%s)" % (len(transcripts["ketcd"]), method))
        return 0
    except Failure as f:
        log("FAIL: %s" % f)
        for c in clusters:
            c.tail()
        return 1
    except Exception as ex:  # noqa: BLE001  (harness error: report and clean up)
        log("harness error: %r" % ex)
        for c in clusters:
            c.tail()
        return 2
    finally:
        for c in clusters:
            c.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
