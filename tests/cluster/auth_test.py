#!/usr/bin/env python3
"""Differential test of authentication and RBAC (issue 15): the same etcdctl
3.4 command sequence (user, role, auth, --user as root and as a limited
user, wrong passwords, permission denied, password change, root's
protections) and the same python3-etcd3 token story (a client keeps its
token while its role is revoked, then its password changes) run against
Debian's etcd 3.4 and against ketcd, one single-member server each; every
command's exit code, stdout and stderr must match.

Usage: /usr/bin/python3 tests/cluster/auth_test.py --server build/server/ketcd
       [--etcd /usr/bin/etcd] [--base-port 28100] [--timeout 180]
Exit 0 when the transcripts match, 1 when they differ, 2 on a harness error.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))

import harness  # noqa: E402  (test certificates)

ROOT = "root:rootpw"
ALICE = "alice:alicepw"


def log(msg):
    print("[auth] %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Server:
    """One single-member server on 127.0.0.1, killed by its pid."""

    def __init__(self, binary, name, client_port, peer_port, workdir, certs=None):
        self.certs = certs
        scheme = "https" if certs else "http"
        self.endpoint = "%s://127.0.0.1:%d" % (scheme, client_port)
        self.data = os.path.join(workdir, name + ".data")
        curl, purl = "%s://127.0.0.1:%d" % (scheme, client_port), "http://127.0.0.1:%d" % peer_port
        self.args = [binary, "--name", name, "--data-dir", self.data,
                     "--listen-client-urls", curl, "--advertise-client-urls", curl,
                     "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                     "--initial-cluster", "%s=%s" % (name, purl), "--bcrypt-cost", "4"]
        if certs:
            self.args += ["--cert-file", certs.server, "--key-file", certs.server_key,
                          "--trusted-ca-file", certs.ca, "--client-cert-auth"]
        self.log_path = os.path.join(workdir, name + ".log")
        self.proc = None

    def start(self, deadline):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, env=env)
        while time.monotonic() < deadline:
            tls = self.certs.etcdctl_flags() if self.certs else []
            r = subprocess.run(["etcdctl", "--endpoints", self.endpoint, "--command-timeout=1s"] + tls +
                               ["endpoint", "health"], capture_output=True, env=ctl_env(), timeout=10)
            if r.returncode == 0:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s" % (self.args[0], self.proc.returncode))
            time.sleep(0.2)
        raise RuntimeError("%s did not become healthy" % self.args[0])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def ctl_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
    env["ETCDCTL_API"] = "3"
    return env


def normalize(text):
    # clientv3's retry warnings carry timestamps and addresses; drop them.
    lines = [l for l in text.splitlines() if not l.startswith('{"level"')]
    return "\n".join(lines)


# Each step: etcdctl arguments (the endpoint is added), optional stdin.
STEPS = [
    (["auth", "enable"], None),                                   # no root user
    # (etcdctl's `auth enable` itself adds the root role when it is missing:
    # the token story checks the server's refusal with raw gRPC.)
    (["user", "add", ROOT, "--interactive=false"], None),
    (["user", "add", ALICE, "--interactive=false"], None),
    (["user", "add", "alice:other", "--interactive=false"], None),  # exists
    (["user", "add", "bob:bobpw", "--interactive=false"], None),
    (["user", "list"], None),
    (["role", "add", "root"], None),
    (["role", "add", "app"], None),
    (["role", "add", "app"], None),                               # exists
    (["role", "grant-permission", "app", "read", "/app/", "--prefix=true"], None),
    (["role", "grant-permission", "app", "readwrite", "/app/a", "/app/c"], None),
    (["role", "grant-permission", "app", "write", "/w"], None),
    (["role", "grant-permission", "app", "readwrite", "/from", "--from-key"], None),
    (["role", "grant-permission", "nosuch", "read", "/x"], None),
    (["role", "get", "app"], None),
    (["role", "get", "nosuch"], None),
    (["role", "list"], None),
    (["user", "grant-role", "root", "root"], None),
    (["user", "grant-role", "alice", "app"], None),
    (["user", "grant-role", "alice", "app"], None),               # again: no error
    (["user", "grant-role", "alice", "nosuch"], None),
    (["user", "grant-role", "nosuch", "app"], None),
    (["user", "get", "alice"], None),
    (["user", "get", "alice", "--detail"], None),
    (["user", "get", "nosuch"], None),
    (["put", "/app/a", "before"], None),
    (["auth", "enable"], None),
    (["auth", "enable", "--user", ROOT], None),                   # already on
    (["put", "/app/a", "1"], None),                               # nobody
    (["get", "/app/a"], None),
    (["put", "/app/a", "1", "--user", ROOT], None),
    (["get", "/app/a", "--user", "root:wrong"], None),
    (["get", "/app/a", "--user", "nosuch:pw"], None),
    (["put", "/app/b", "2", "--user", ALICE], None),
    (["put", "/app/z", "3", "--user", ALICE], None),              # read only there
    (["get", "/app/", "--prefix", "--user", ALICE], None),
    (["get", "/app/", "--prefix", "--keys-only", "--user", ALICE], None),
    (["get", "/", "--prefix", "--user", ALICE], None),            # wider than granted
    (["put", "/w", "x", "--user", ALICE], None),
    (["get", "/w", "--user", ALICE], None),                       # write only
    (["put", "/w", "y", "--prev-kv", "--user", ALICE], None),     # prev_kv needs read
    (["put", "/from/zz", "f", "--user", ALICE], None),
    (["get", "/from", "--from-key", "--user", ALICE], None),
    (["del", "/app/a", "/app/c", "--user", ALICE], None),
    (["del", "/app/", "--prefix", "--user", ALICE], None),
    (["get", "/app/", "--prefix", "--user", ALICE, "--consistency=s"], None),
    (["txn", "--user", ALICE], "value(\"/app/b\") = \"2\"\n\nput /app/b 22\n\nput /aaa 1\n\n"),
    (["txn", "--user", ALICE], "value(\"/app/b\") = \"2\"\n\nput /app/b 22\n\nput /app/b 23\n\n"),
    (["get", "/app/b", "--user", ROOT], None),
    (["user", "get", "alice", "--user", ALICE], None),            # itself
    (["user", "get", "root", "--user", ALICE], None),
    (["user", "list", "--user", ALICE], None),
    (["role", "get", "app", "--user", ALICE], None),              # a role it holds
    (["role", "get", "root", "--user", ALICE], None),
    (["user", "list", "--user", "bob:bobpw"], None),
    (["get", "/app/b", "--user", "bob:bobpw"], None),             # no roles
    (["user", "delete", "root", "--user", ROOT], None),
    (["user", "revoke-role", "root", "root", "--user", ROOT], None),
    (["role", "delete", "root", "--user", ROOT], None),
    (["role", "revoke-permission", "app", "/app/a", "/app/c", "--user", ROOT], None),
    (["role", "revoke-permission", "app", "/app/a", "/app/c", "--user", ROOT], None),  # gone
    (["role", "revoke-permission", "nosuch", "/x", "--user", ROOT], None),
    (["put", "/app/b", "4", "--user", ALICE], None),
    (["user", "passwd", "alice", "--interactive=false", "--user", ROOT], "newpw\n"),
    (["get", "/app/b", "--user", ALICE], None),                   # old password
    (["get", "/app/b", "--user", "alice:newpw"], None),
    (["user", "revoke-role", "alice", "app", "--user", ROOT], None),
    (["user", "revoke-role", "alice", "app", "--user", ROOT], None),  # not granted
    (["get", "/app/b", "--user", "alice:newpw"], None),
    (["role", "delete", "app", "--user", ROOT], None),
    (["role", "delete", "app", "--user", ROOT], None),
    (["user", "delete", "bob", "--user", ROOT], None),
    (["user", "delete", "bob", "--user", ROOT], None),
    (["user", "list", "--user", ROOT], None),
    (["role", "list", "--user", ROOT], None),
    (["auth", "disable"], None),                                  # nobody
    (["auth", "disable", "--user", "alice:newpw"], None),         # not root
    (["auth", "disable", "--user", ROOT], None),
    (["auth", "disable"], None),                                  # already off
    (["get", "/app/b"], None),
    (["user", "get", "alice"], None),
]


# With --client-cert-auth and auth on, a verified client certificate's CN is
# the user when no token is given; a token (--user) wins. Each step: the
# certificate's CN ("root" or "carol"), then etcdctl arguments.
CN_STEPS = [
    ("root", ["user", "add", ROOT, "--interactive=false"]),
    ("root", ["user", "add", "carol:carolpw", "--interactive=false"]),
    ("root", ["role", "add", "r"]),
    ("root", ["role", "grant-permission", "r", "readwrite", "/cn/", "--prefix=true"]),
    ("root", ["user", "grant-role", "carol", "r"]),
    ("root", ["auth", "enable"]),
    ("root", ["put", "/cn/a", "1"]),
    ("root", ["user", "list"]),
    ("carol", ["put", "/cn/b", "2"]),
    ("carol", ["put", "/other", "3"]),
    ("carol", ["get", "/cn/", "--prefix"]),
    ("carol", ["get", "/cn/", "--prefix", "--consistency=s"]),
    ("carol", ["user", "list"]),
    ("carol", ["user", "list", "--user", ROOT]),
    ("carol", ["put", "/other", "3", "--user", ROOT]),
    ("root", ["auth", "disable"]),
]


# The python3-etcd3 story: a client's token outlives the revocation of its
# role (etcd 3.4 resolves the user anew at each request, so it is refused
# with permission denied) and dies when the password changes.
TOKEN_STORY = r'''
import subprocess, sys
import grpc
from etcd3 import etcdrpc as pb
ep = sys.argv[1]
ch = grpc.insecure_channel(ep.split("://")[-1])
auth, kv, lease, watch = pb.AuthStub(ch), pb.KVStub(ch), pb.LeaseStub(ch), pb.WatchStub(ch)
def ctl(*a, stdin=None):
    subprocess.run(["etcdctl", "--endpoints", ep, "--user", "root:rootpw"] + list(a),
                   input=stdin, check=True, capture_output=True)
def attempt(what, fn):
    try:
        r = fn()
        print(what, "ok", r)
    except grpc.RpcError as e:
        print(what, e.code(), e.details())
def login(name, pw):
    return auth.Authenticate(pb.AuthenticateRequest(name=name, password=pw), timeout=10).token
def md(tok):
    return [("token", tok)]
ctl("user", "revoke-role", "root", "root")
attempt("enable-root-without-role", lambda: auth.AuthEnable(pb.AuthEnableRequest(), timeout=10) and None)
ctl("user", "grant-role", "root", "root")
ctl("user", "add", "carol:carolpw", "--interactive=false")
ctl("role", "add", "tok")
ctl("role", "grant-permission", "tok", "readwrite", "/tok/", "--prefix=true")
ctl("user", "grant-role", "carol", "tok")
ctl("auth", "enable")
tok = login("carol", "carolpw")
put = lambda k, v: kv.Put(pb.PutRequest(key=k, value=v), metadata=md(tok), timeout=10).header.revision > 0
get = lambda k: [x.value for x in kv.Range(pb.RangeRequest(key=k), metadata=md(tok), timeout=10).kvs]
attempt("put", lambda: put(b"/tok/a", b"1"))
attempt("get", lambda: get(b"/tok/a"))
attempt("get-serializable", lambda: len(kv.Range(pb.RangeRequest(key=b"/tok/a", serializable=True),
                                                 metadata=md(tok), timeout=10).kvs))
attempt("get-outside", lambda: get(b"/other"))
attempt("no-token", lambda: kv.Range(pb.RangeRequest(key=b"/tok/a"), timeout=10).count)
attempt("bad-token", lambda: kv.Range(pb.RangeRequest(key=b"/tok/a"), metadata=md("garbage.1"), timeout=10).count)
def first_watch_response(key, end=b""):
    req = pb.WatchRequest(create_request=pb.WatchCreateRequest(key=key, range_end=end))
    stream = watch.Watch(iter([req]), metadata=md(tok), timeout=5)
    r = next(stream)
    stream.cancel()
    return (r.created, r.canceled, r.watch_id if r.canceled else "id", r.cancel_reason)
attempt("watch-allowed", lambda: first_watch_response(b"/tok/a"))
attempt("watch-forbidden", lambda: first_watch_response(b"/other"))
attempt("watch-prefix-too-wide", lambda: first_watch_response(b"/", b"0"))
lid = lease.LeaseGrant(pb.LeaseGrantRequest(TTL=60), metadata=md(tok), timeout=10).ID
attempt("put-with-lease", lambda: kv.Put(pb.PutRequest(key=b"/tok/l", value=b"x", lease=lid),
                                         metadata=md(tok), timeout=10).header.revision > 0)
ctl("user", "revoke-role", "carol", "tok")
attempt("put-after-revoke", lambda: put(b"/tok/a", b"2"))
attempt("get-after-revoke", lambda: get(b"/tok/a"))
attempt("lease-revoke-after-revoke", lambda: lease.LeaseRevoke(pb.LeaseRevokeRequest(ID=lid), metadata=md(tok),
                                                               timeout=10).header.revision > 0)
ctl("user", "grant-role", "carol", "tok")
attempt("put-after-regrant", lambda: put(b"/tok/a", b"3"))
ctl("user", "passwd", "carol", "--interactive=false", stdin=b"changed\n")
attempt("put-after-passwd", lambda: put(b"/tok/a", b"4"))
attempt("login-old-password", lambda: len(login("carol", "carolpw")) > 0)
attempt("login-new-password", lambda: len(login("carol", "changed")) > 0)
attempt("login-unknown", lambda: len(login("dave", "x")) > 0)
ctl("auth", "disable")
attempt("login-auth-off", lambda: len(login("carol", "changed")) > 0)
'''


def run_transcript(server, workdir, deadline):
    out = []
    for args, stdin in STEPS:
        if time.monotonic() > deadline:
            raise RuntimeError("out of time")
        cmd = ["etcdctl", "--endpoints", server.endpoint, "--command-timeout=5s"] + args
        r = subprocess.run(cmd, input=stdin.encode() if stdin else None, capture_output=True,
                           env=ctl_env(), timeout=30)
        out.append("$ etcdctl %s\nrc=%d\n%s\n%s" % (" ".join(args), r.returncode,
                                                    normalize(r.stdout.decode(errors="replace")),
                                                    normalize(r.stderr.decode(errors="replace"))))
    # The token story needs a fresh auth state: disable is the last step above.
    r = subprocess.run(["/usr/bin/python3", "-c", TOKEN_STORY, server.endpoint], capture_output=True,
                       env=ctl_env(), timeout=60)
    out.append("$ token story\nrc=%d\n%s\n%s" % (r.returncode, r.stdout.decode(errors="replace"),
                                                 "" if r.returncode == 0 else r.stderr.decode(errors="replace")))
    return out


# Lock through the v3lock service as the certificate's user (carol: read
# and write on /cn/ only), before auth is disabled: the service's own calls
# act as the caller, as etcd's in-process client does.
CN_LOCK = r'''
import sys, grpc
ep, ca, cert, key = sys.argv[1:5]
creds = grpc.ssl_channel_credentials(open(ca, "rb").read(), open(key, "rb").read(), open(cert, "rb").read())
ch = grpc.secure_channel(ep.split("://")[-1], creds)
lock = ch.unary_unary("/v3lockpb.Lock/Lock", request_serializer=lambda b: b, response_deserializer=lambda b: b)
for name in [b"/cn/l", b"/other"]:
    try:
        lock(b"\x0a" + bytes([len(name)]) + name, timeout=10)
        print(name.decode(), "locked")
    except grpc.RpcError as e:
        print(name.decode(), e.code(), e.details())
'''


def run_cn_transcript(server, certs, deadline):
    out = []
    for cn, args in CN_STEPS:
        if args == ["auth", "disable"]:
            r = subprocess.run(["/usr/bin/python3", "-c", CN_LOCK, server.endpoint, certs.ca] + list(certs.carol),
                               capture_output=True, timeout=60)
            out.append("$ [CN=carol] v3lock Lock\nrc=%d\n%s\n%s" % (
                r.returncode, r.stdout.decode(errors="replace"),
                "" if r.returncode == 0 else r.stderr.decode(errors="replace")))
        if time.monotonic() > deadline:
            raise RuntimeError("out of time")
        cert, key = (certs.client, certs.client_key) if cn == "root" else certs.carol
        cmd = ["etcdctl", "--endpoints", server.endpoint, "--command-timeout=5s"]
        cmd += certs.etcdctl_flags(cert=cert, key=key) + args
        r = subprocess.run(cmd, capture_output=True, env=ctl_env(), timeout=30)
        out.append("$ [CN=%s] etcdctl %s\nrc=%d\n%s\n%s" % (
            cn, " ".join(args), r.returncode, normalize(r.stdout.decode(errors="replace")),
            normalize(r.stderr.decode(errors="replace"))))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    ap.add_argument("--base-port", type=int, default=28100)
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--transcript", help="also write ketcd's transcript here")
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    workdir = tempfile.mkdtemp(prefix="ketcd-auth-")
    transcripts = {}
    try:
        for i, (label, binary) in enumerate([("etcd", args.etcd), ("ketcd", args.server)]):
            srv = Server(binary, label, args.base_port + 10 * i + 1, args.base_port + 10 * i + 2, workdir)
            try:
                srv.start(deadline)
                log("%s up on %s" % (label, srv.endpoint))
                transcripts[label] = run_transcript(srv, workdir, deadline)
            finally:
                srv.stop()
        certs = harness.Certs(os.path.join(workdir, "certs"), client_cn="root")
        certs.carol = certs.leaf("carol", "carol", certs.ca, certs.ca_key)
        for i, (label, binary) in enumerate([("etcd", args.etcd), ("ketcd", args.server)]):
            srv = Server(binary, label + "-tls", args.base_port + 10 * i + 5, args.base_port + 10 * i + 6,
                         workdir, certs)
            try:
                srv.start(deadline)
                log("%s up on %s (client certificates)" % (label, srv.endpoint))
                transcripts[label] += run_cn_transcript(srv, certs, deadline)
            finally:
                srv.stop()
    except Exception as e:  # harness trouble, not a verdict
        log("ERROR: %s" % e)
        for name in os.listdir(workdir):
            if name.endswith(".log"):
                with open(os.path.join(workdir, name), errors="replace") as f:
                    log("%s tail:\n%s" % (name, "".join(f.readlines()[-20:])))
        shutil.rmtree(workdir, ignore_errors=True)
        return 2
    shutil.rmtree(workdir, ignore_errors=True)
    if args.transcript:
        with open(args.transcript, "w") as f:
            f.write("\n".join(transcripts["ketcd"]))
    bad = 0
    for want, got in zip(transcripts["etcd"], transcripts["ketcd"]):
        if want != got:
            bad += 1
            print("---- differs\netcd:\n%s\nketcd:\n%s" % (want, got))
    log("%d steps, %d differ" % (len(transcripts["etcd"]), bad))
    if bad == 0:
        print(transcripts["ketcd"][-1])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
