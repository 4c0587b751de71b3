#!/usr/bin/env python3
"""Generated permission matrix (issue 15): every user x every operation,
run against Debian's etcd 3.4 and against ketcd (one single-member server
each, auth on); each cell's outcome (OK with a small result signature, or
the gRPC code and message; a watch's created/canceled/reason) must be the
same on both.

The matrix is built from its dimensions, not listed by hand:
  users   = nobody (no token), a bad token, a forged delegation (nobody),
            root, a user without roles, one
            user per access (READ, WRITE, READWRITE) x permission shape (a
            key, a range, a prefix, from a key), and a user whose two roles
            cover a range only together;
  targets = keys, ranges, prefixes and from-keys inside, across and outside
            those permissions;
  ops     = get / serializable get / delete (with and without prev_kv) on
            every target, put on every key target (prev_kv, a lease holding
            a key elsewhere), txns generated from compare x then x else
            choices (nested txns included), watch creation on targets,
            lease grant / revoke (keys attached inside and outside) /
            time-to-live with keys / leases, compaction, member list / add /
            remove / update / promote, status, defragment, hash, hashkv,
            alarm list, snapshot, move-leader, lock and campaign on names
            inside and outside the permissions, election leader.
Every cell that changes something is prepared and cleaned up as root, so
rows do not depend on each other.

Usage: /usr/bin/python3 tests/cluster/auth_matrix_test.py --server build/server/ketcd
       [--etcd /usr/bin/etcd] [--timeout 420] [--only-ketcd]
Exit 0 when every cell matches, 1 when some differ, 2 on a harness error.
"""

import argparse
import itertools
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
PROTO_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto"))
CALL_TIMEOUT = 5


def log(msg):
    print("[auth-matrix] %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def compile_protos(out):
    os.makedirs(out, exist_ok=True)
    subprocess.run(["protoc", "-I", PROTO_DIR, "--python_out", out, "etcdserverpb/rpc.proto",
                    "mvccpb/kv.proto", "authpb/auth.proto", "v3lockpb/v3lock.proto",
                    "v3electionpb/v3election.proto"], check=True)
    sys.path.insert(0, out)
    global pb, authpb, L, E
    from etcdserverpb import rpc_pb2 as pb  # noqa: F401
    from authpb import auth_pb2 as authpb  # noqa: F401
    from v3lockpb import v3lock_pb2 as L  # noqa: F401
    from v3electionpb import v3election_pb2 as E  # noqa: F401


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


# ---------------------------------------------------------------- dimensions
ZERO = b"\0"
# The permission shapes every access is granted on (key, range_end).
SHAPES = {
    "key": (b"/m/b", b""),
    "range": (b"/m/b", b"/m/d"),
    "prefix": (b"/m/", b"/m0"),
    "fromkey": (b"/m/c", ZERO),
}
ACCESS = {"R": 0, "W": 1, "RW": 2}  # authpb.Permission.Type: READ, WRITE, READWRITE
# Keys and ranges the operations touch (key, range_end).
KEYS = {"k/m/b": (b"/m/b", b""), "k/m/c": (b"/m/c", b""), "k/m/e": (b"/m/e", b""),
        "k/a": (b"/a", b""), "k/z": (b"/z", b"")}
RANGES = {"r[/m/b,/m/c)": (b"/m/b", b"/m/c"), "r[/m/b,/m/d)": (b"/m/b", b"/m/d"),
          "r[/m/b,/m/e)": (b"/m/b", b"/m/e"), "p/m/": (b"/m/", b"/m0"), "p/m/c/": (b"/m/c/", b"/m/c0"),
          "f/m/c": (b"/m/c", ZERO), "f/a": (b"/a", ZERO), "all": (ZERO, ZERO)}
TARGETS = dict(KEYS, **RANGES)
SEED = [b"/m/b", b"/m/c", b"/m/c/x", b"/m/e", b"/a", b"/z"]
LOCK_NAMES = [b"/m/c", b"/a"]


def users():
    """(name, password or None for nobody/bad token, roles: [(role, [(perm, key, end)])])."""
    out = [("nobody", None, []), ("badtoken", None, []), ("forged", None, []), ("root", "rootpw", [("root", [])]),
           ("noroles", "pw", [])]
    for (shape, (key, end)), (acc, perm) in itertools.product(SHAPES.items(), ACCESS.items()):
        name = "u_%s_%s" % (acc, shape)
        out.append((name, "pw", [("r_" + name, [(perm, key, end)])]))
    # Two roles whose ranges only together cover [/m/b, /m/e).
    out.append(("u_RW_two", "pw", [("r_two_a", [(2, b"/m/b", b"/m/c")]),
                                   ("r_two_b", [(2, b"/m/c", b"/m/e")])]))
    return out


class Api:
    """Generic gRPC calls on one endpoint; `md` is the caller's metadata."""

    def __init__(self, endpoint, md=None):
        self.ch = grpc.insecure_channel(endpoint)
        self.md = md or []

    def call(self, path, req, resp_type, timeout=CALL_TIMEOUT):
        f = self.ch.unary_unary(path, request_serializer=type(req).SerializeToString,
                                response_deserializer=resp_type.FromString)
        return f(req, metadata=self.md, timeout=timeout)

    def stream(self, path, req, resp_type, timeout=CALL_TIMEOUT):
        f = self.ch.unary_stream(path, request_serializer=type(req).SerializeToString,
                                 response_deserializer=resp_type.FromString)
        return f(req, metadata=self.md, timeout=timeout)

    def kv(self, method, req):
        resp = {"Range": pb.RangeResponse, "Put": pb.PutResponse, "DeleteRange": pb.DeleteRangeResponse,
                "Txn": pb.TxnResponse, "Compact": pb.CompactionResponse}[method]
        return self.call("/etcdserverpb.KV/" + method, req, resp)

    def lease(self, method, req):
        resp = getattr(pb, method + "Response")
        return self.call("/etcdserverpb.Lease/" + method, req, resp)

    def cluster(self, method, req):
        return self.call("/etcdserverpb.Cluster/" + method, req, getattr(pb, method + "Response"))

    def maint(self, method, req):
        resp = {"Defragment": pb.DefragmentResponse, "Hash": pb.HashResponse, "HashKV": pb.HashKVResponse,
                "Status": pb.StatusResponse, "Alarm": pb.AlarmResponse,
                "MoveLeader": pb.MoveLeaderResponse}[method]
        return self.call("/etcdserverpb.Maintenance/" + method, req, resp)

    def auth(self, method, req):
        resp = {"Authenticate": pb.AuthenticateResponse, "AuthEnable": pb.AuthEnableResponse,
                "UserAdd": pb.AuthUserAddResponse, "UserGrantRole": pb.AuthUserGrantRoleResponse,
                "RoleAdd": pb.AuthRoleAddResponse,
                "RoleGrantPermission": pb.AuthRoleGrantPermissionResponse}[method]
        return self.call("/etcdserverpb.Auth/" + method, req, resp)

    def watch_first(self, key, end):
        req = pb.WatchRequest(create_request=pb.WatchCreateRequest(key=key, range_end=end))
        f = self.ch.stream_stream("/etcdserverpb.Watch/Watch", request_serializer=pb.WatchRequest.SerializeToString,
                                  response_deserializer=pb.WatchResponse.FromString)
        it = f(iter([req]), metadata=self.md, timeout=CALL_TIMEOUT)
        try:
            r = next(it)
        finally:
            it.cancel()
        return r

    def close(self):
        self.ch.close()


# ------------------------------------------------------------------ ops
def put(key, value=b"v", **kw):
    return pb.PutRequest(key=key, value=value, **kw)


def op_req(kind, target):
    key, end = TARGETS[target]
    if kind == "put":
        return pb.RequestOp(request_put=put(key))
    if kind == "get":
        return pb.RequestOp(request_range=pb.RangeRequest(key=key, range_end=end))
    if kind == "del":
        return pb.RequestOp(request_delete_range=pb.DeleteRangeRequest(key=key, range_end=end))
    raise ValueError(kind)


def reseed(root, keys=SEED):
    for key in keys:
        root.kv("Put", put(key, b"seed"))


def reseed_compared(root):
    reseed(root, [b"/m/b", b"/a"])


def txn_ops():
    """Txn shapes: compare x then x else (nested txns in the then branch);
    the keys are reseeded first, so the compares pick either branch."""
    compares = {"-": [], "k/m/b==seed": [("k/m/b", b"seed")], "k/a==nope": [("k/a", b"nope")]}
    thens = {"put k/m/b": [op_req("put", "k/m/b")], "put k/a": [op_req("put", "k/a")],
             "get k/m/c": [op_req("get", "k/m/c")], "del r[/m/b,/m/d)": [op_req("del", "r[/m/b,/m/d)")],
             "txn{cmp k/m/b; put k/m/b}": "nested-in", "txn{get k/a}": "nested-out",
             # The nested shapes' ops lifted into the branch (STRICTER below).
             "get k/m/b, put k/m/b": [op_req("get", "k/m/b"), op_req("put", "k/m/b")],
             "get k/a, get k/a": [op_req("get", "k/a"), op_req("get", "k/a")]}
    elses = {"-": [], "put k/m/e": [op_req("put", "k/m/e")], "get k/a": [op_req("get", "k/a")]}
    out = []
    for (cn, cmps), (tn, then), (en, els) in itertools.product(compares.items(), thens.items(), elses.items()):
        def build(cmps=cmps, then=then, els=els):
            cs = [pb.Compare(key=KEYS[c][0], target=pb.Compare.VALUE, result=pb.Compare.EQUAL, value=v)
                  for c, v in cmps]
            if then == "nested-in":
                inner = pb.TxnRequest(compare=[pb.Compare(key=b"/m/b", target=pb.Compare.VALUE,
                                                          result=pb.Compare.EQUAL, value=b"seed")],
                                      success=[op_req("put", "k/m/b")])
                then = [pb.RequestOp(request_txn=inner)]
            elif then == "nested-out":
                then = [pb.RequestOp(request_txn=pb.TxnRequest(success=[op_req("get", "k/a")]))]
            return pb.TxnRequest(compare=cs, success=then, failure=els)
        out.append(("txn[%s | %s | %s]" % (cn, tn, en), reseed_compared,
                    lambda api, _c, b=build: "OK succeeded=%s" % api.kv("Txn", b()).succeeded, None))
    return out


def lease_with_key(root, key):
    lid = root.lease("LeaseGrant", pb.LeaseGrantRequest(TTL=300)).ID
    if key is not None:
        root.kv("Put", put(key, lease=lid))
    return lid


def revoke(root, lid):
    try:
        root.lease("LeaseRevoke", pb.LeaseRevokeRequest(ID=lid))
    except grpc.RpcError:
        pass


def kv_ops():
    out = []
    for t, (key, end) in TARGETS.items():
        out.append(("get " + t, None, lambda api, _c, k=key, e=end:
                    "OK count=%d" % api.kv("Range", pb.RangeRequest(key=k, range_end=e)).count, None))
    out.append(("get k/m/b serializable", None, lambda api, _c:
                "OK count=%d" % api.kv("Range", pb.RangeRequest(key=b"/m/b", serializable=True)).count, None))
    for t, (key, _) in KEYS.items():
        out.append(("put " + t, None, lambda api, _c, k=key: ok(api.kv("Put", put(k))), None))
    out.append(("put k/m/b prev_kv", None, lambda api, _c: ok(api.kv("Put", put(b"/m/b", prev_kv=True))), None))
    out.append(("put k/m/b on a lease holding k/a", lambda root: lease_with_key(root, b"/a"),
                lambda api, lid: ok(api.kv("Put", put(b"/m/b", lease=lid))), revoke))
    for t, (key, end) in TARGETS.items():
        out.append(("del " + t, None, lambda api, _c, k=key, e=end:
                    ok(api.kv("DeleteRange", pb.DeleteRangeRequest(key=k, range_end=e))), None))
    for t in ["k/m/b", "r[/m/b,/m/d)"]:
        key, end = TARGETS[t]
        out.append(("del %s prev_kv" % t, None, lambda api, _c, k=key, e=end:
                    ok(api.kv("DeleteRange", pb.DeleteRangeRequest(key=k, range_end=e, prev_kv=True))), None))
    for t in ["k/m/b", "k/a", "r[/m/b,/m/d)", "r[/m/b,/m/e)", "p/m/", "f/m/c", "f/a", "all"]:
        key, end = TARGETS[t]
        out.append(("watch " + t, None, lambda api, _c, k=key, e=end: watch_outcome(api.watch_first(k, e)), None))
    return out


def ok(_resp):
    return "OK"


def watch_outcome(r):
    return "created=%s canceled=%s reason=%r" % (r.created, r.canceled, r.cancel_reason)


def compact_prepare(root):
    return root.kv("Put", put(b"/compact", b"x")).header.revision


def learner_cleanup(root, _ctx):
    for m in root.cluster("MemberList", pb.MemberListRequest()).members:
        if m.isLearner:
            root.cluster("MemberRemove", pb.MemberRemoveRequest(ID=m.ID))


def snapshot(api, _c):
    n = 0
    for _ in api.stream("/etcdserverpb.Maintenance/Snapshot", pb.SnapshotRequest(), pb.SnapshotResponse):
        n += 1
    return "OK" if n > 0 else "EMPTY"


def admin_ops():
    unknown = 0x1234567
    out = [
        ("lease grant", None, lambda api, _c: ok(api.lease("LeaseGrant", pb.LeaseGrantRequest(TTL=60))), None),
        ("lease revoke, no keys", lambda root: lease_with_key(root, None),
         lambda api, lid: ok(api.lease("LeaseRevoke", pb.LeaseRevokeRequest(ID=lid))), revoke),
        ("lease revoke, key k/m/b", lambda root: lease_with_key(root, b"/m/b"),
         lambda api, lid: ok(api.lease("LeaseRevoke", pb.LeaseRevokeRequest(ID=lid))), revoke),
        ("lease revoke, key k/a", lambda root: lease_with_key(root, b"/a"),
         lambda api, lid: ok(api.lease("LeaseRevoke", pb.LeaseRevokeRequest(ID=lid))), revoke),
        ("lease ttl keys, key k/a", lambda root: lease_with_key(root, b"/a"),
         lambda api, lid: "OK keys=%d" % len(api.lease("LeaseTimeToLive",
                                                       pb.LeaseTimeToLiveRequest(ID=lid, keys=True)).keys), revoke),
        ("lease ttl, key k/m/b", lambda root: lease_with_key(root, b"/m/b"),
         lambda api, lid: ok(api.lease("LeaseTimeToLive", pb.LeaseTimeToLiveRequest(ID=lid))), revoke),
        ("lease leases", None, lambda api, _c: ok(api.lease("LeaseLeases", pb.LeaseLeasesRequest())), None),
        ("compact", compact_prepare,
         lambda api, rev: ok(api.kv("Compact", pb.CompactionRequest(revision=rev))), None),
        ("member list", None, lambda api, _c: ok(api.cluster("MemberList", pb.MemberListRequest())), None),
        ("member add learner", None, lambda api, _c: ok(api.cluster("MemberAdd", pb.MemberAddRequest(
            peerURLs=["http://127.0.0.1:1"], isLearner=True))), learner_cleanup),
        ("member remove unknown", None,
         lambda api, _c: ok(api.cluster("MemberRemove", pb.MemberRemoveRequest(ID=unknown))), None),
        ("member update unknown", None, lambda api, _c: ok(api.cluster("MemberUpdate", pb.MemberUpdateRequest(
            ID=unknown, peerURLs=["http://127.0.0.1:2"]))), None),
        ("member promote unknown", None,
         lambda api, _c: ok(api.cluster("MemberPromote", pb.MemberPromoteRequest(ID=unknown))), None),
        ("status", None, lambda api, _c: ok(api.maint("Status", pb.StatusRequest())), None),
        ("defragment", None, lambda api, _c: ok(api.maint("Defragment", pb.DefragmentRequest())), None),
        ("hash", None, lambda api, _c: ok(api.maint("Hash", pb.HashRequest())), None),
        ("hashkv", None, lambda api, _c: ok(api.maint("HashKV", pb.HashKVRequest())), None),
        ("alarm list", None, lambda api, _c: "OK alarms=%d" % len(api.maint(
            "Alarm", pb.AlarmRequest(action=pb.AlarmRequest.GET)).alarms), None),
        ("snapshot", None, snapshot, None),
        ("move-leader unknown", None,
         lambda api, _c: ok(api.maint("MoveLeader", pb.MoveLeaderRequest(targetID=unknown))), None),
    ]
    for name in LOCK_NAMES:
        out.append(("lock %s" % name.decode(), lambda root: lease_with_key(root, None),
                    lambda api, lid, n=name: ok(api.call("/v3lockpb.Lock/Lock", L.LockRequest(name=n, lease=lid),
                                                         L.LockResponse)), revoke))
        out.append(("campaign %s" % name.decode(), lambda root: lease_with_key(root, None),
                    lambda api, lid, n=name: ok(api.call("/v3electionpb.Election/Campaign", E.CampaignRequest(
                        name=n, lease=lid, value=b"v"), E.CampaignResponse)), revoke))
    out.append(("election leader /m/c (none)", None, lambda api, _c: ok(api.call(
        "/v3electionpb.Election/Leader", E.LeaderRequest(name=b"/m/c"), E.LeaderResponse)), None))
    return out


def all_ops():
    return kv_ops() + txn_ops() + admin_ops()


# ------------------------------------------------------------------ servers
class Server:
    def __init__(self, binary, name, workdir):
        cport, pport = free_ports(2)
        self.endpoint = "127.0.0.1:%d" % cport
        curl, purl = "http://127.0.0.1:%d" % cport, "http://127.0.0.1:%d" % pport
        self.args = [binary, "--name", name, "--data-dir", os.path.join(workdir, name + ".data"),
                     "--listen-client-urls", curl, "--advertise-client-urls", curl,
                     "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                     "--initial-cluster", "%s=%s" % (name, purl), "--bcrypt-cost", "4"]
        self.log_path = os.path.join(workdir, name + ".log")
        self.proc = None

    def start(self, deadline):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, env=env)
        api = Api(self.endpoint)
        try:
            while time.monotonic() < deadline:
                try:
                    api.kv("Put", put(b"/ready", b"1"))
                    return
                except grpc.RpcError:
                    if self.proc.poll() is not None:
                        raise RuntimeError("%s exited with %s" % (self.args[0], self.proc.returncode))
                    time.sleep(0.2)
        finally:
            api.close()
        raise RuntimeError("%s did not start" % self.args[0])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def setup_auth(endpoint):
    """Users and roles, auth on; returns {user: metadata}."""
    api = Api(endpoint)
    everyone = users()
    for name, pw, roles in everyone:
        if pw is None:
            continue
        api.auth("UserAdd", pb.AuthUserAddRequest(name=name, password=pw))
        for role, perms in roles:
            api.auth("RoleAdd", pb.AuthRoleAddRequest(name=role))
            for perm, key, end in perms:
                api.auth("RoleGrantPermission", pb.AuthRoleGrantPermissionRequest(
                    name=role, perm=authpb.Permission(permType=perm, key=key, range_end=end)))
            api.auth("UserGrantRole", pb.AuthUserGrantRoleRequest(user=name, role=role))
    api.auth("AuthEnable", pb.AuthEnableRequest())
    # "forged": no token, but the metadata ketcd's own Lock and Election
    # calls carry a certificate user in, with a guessed secret: nobody.
    mds = {"nobody": [], "badtoken": [("token", "notatoken.1")],
           "forged": [("ketcd-delegated-user-bin", b"root"), ("ketcd-delegated-secret", "0" * 32)]}
    for name, pw, _ in everyone:
        if pw is not None:
            tok = api.auth("Authenticate", pb.AuthenticateRequest(name=name, password=pw)).token
            mds[name] = [("token", tok)]
    api.close()
    return mds


def outcome(fn, api, ctx):
    try:
        return fn(api, ctx)
    except grpc.RpcError as e:
        return "ERR %s %s" % (e.code().name, e.details())


def run_matrix(server, ops, deadline):
    mds = setup_auth(server.endpoint)
    root = Api(server.endpoint, mds["root"])
    cells = {}
    try:
        for name, _, _ in users():
            api = Api(server.endpoint, mds[name])
            reseed(root)
            for op_name, prepare, run, cleanup in ops:
                if time.monotonic() > deadline:
                    raise RuntimeError("out of time")
                ctx = prepare(root) if prepare else None
                cells[(name, op_name)] = outcome(run, api, ctx)
                if cleanup:
                    cleanup(root, ctx)
            api.close()
    finally:
        root.close()
    return cells


# Where ketcd is deliberately stricter than etcd 3.4, whose checks have two
# holes (fixed in later etcd releases): the ops of a nested txn are not
# checked at all (apply_auth.go's checkTxnReqsPermission skips RequestTxn),
# and a from-key watch (range_end "\0") is checked as a watch on its start
# key alone (watch.go turns the range end into an empty one first). For
# those cells ketcd must answer what etcd answers for the same access made
# plainly: the txn with the nested ops lifted into its branch, the get of
# the same from-key range.
NESTED_TWIN = {"txn{cmp k/m/b; put k/m/b}": "get k/m/b, put k/m/b", "txn{get k/a}": "get k/a, get k/a"}
GO_CODES = {"PERMISSION_DENIED": "PermissionDenied", "INVALID_ARGUMENT": "InvalidArgument",
            "UNAUTHENTICATED": "Unauthenticated"}


def stricter_expectation(cells_etcd, user, op_name):
    """What ketcd must answer in a STRICTER cell; None for an ordinary cell."""
    for nested, flat in NESTED_TWIN.items():
        if nested in op_name:
            return cells_etcd[(user, op_name.replace(nested, flat))]
    if op_name.startswith("watch f/"):
        got = cells_etcd[(user, "get " + op_name[len("watch "):])]
        if got.startswith("OK"):
            return "created=True canceled=False reason=''"
        _, code, msg = got.split(" ", 2)
        return "created=True canceled=True reason=%r" % ("rpc error: code = %s desc = %s" % (GO_CODES[code], msg))
    return None


def report(cells_etcd, cells_ketcd, ops):
    names = [u[0] for u in users()]
    bad = stricter = 0
    for op_name, _, _, _ in ops:
        diffs = []
        for u in names:
            want, got = cells_etcd[(u, op_name)], cells_ketcd[(u, op_name)]
            strict = stricter_expectation(cells_etcd, u, op_name)
            if strict is not None and want != strict:
                stricter += 1
                want = "%s (etcd 3.4: %s)" % (strict, want)
                if got == strict:
                    continue
            if want != got:
                diffs.append((u, want, got))
        if diffs:
            bad += len(diffs)
            print("---- %s" % op_name)
            for u, want, got in diffs:
                print("  %-14s etcd: %s\n  %-14s ketcd: %s" % (u, want, "", got))
    log("%d cells where etcd 3.4's hole is closed in ketcd (expected the plain access's outcome)" % stricter)
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    ap.add_argument("--timeout", type=float, default=420)
    ap.add_argument("--dump", help="write both matrices here (tab-separated)")
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    workdir = tempfile.mkdtemp(prefix="ketcd-authm-")
    results = {}
    try:
        compile_protos(os.path.join(workdir, "py"))
        ops = all_ops()
        log("matrix: %d users x %d operations = %d cells" % (len(users()), len(ops), len(users()) * len(ops)))
        for label, binary in [("etcd", args.etcd), ("ketcd", args.server)]:
            srv = Server(binary, label, workdir)
            try:
                srv.start(deadline)
                t0 = time.monotonic()
                results[label] = run_matrix(srv, ops, deadline)
                log("%s: %d cells in %.1fs" % (label, len(results[label]), time.monotonic() - t0))
            finally:
                srv.stop()
    except Exception as e:  # harness trouble, not a verdict
        log("ERROR: %r" % e)
        for name in os.listdir(workdir):
            if name.endswith(".log"):
                with open(os.path.join(workdir, name), errors="replace") as f:
                    log("%s tail:\n%s" % (name, "".join(f.readlines()[-20:])))
        shutil.rmtree(workdir, ignore_errors=True)
        return 2
    shutil.rmtree(workdir, ignore_errors=True)
    etcd, ketcd = results["etcd"], results["ketcd"]
    if args.dump:
        with open(args.dump, "w") as f:
            for (u, op) in sorted(etcd):
                f.write("%s\t%s\t%s\t%s\n" % (u, op, etcd[(u, op)], ketcd[(u, op)]))
    # The matrix must discriminate: etcd both allows and refuses.
    allowed = sum(1 for v in etcd.values() if v.startswith("OK") or v.startswith("created=True canceled=False"))
    if allowed == 0 or allowed == len(etcd):
        log("etcd's matrix does not discriminate (%d of %d allowed)" % (allowed, len(etcd)))
        return 2
    bad = report(etcd, ketcd, ops)
    log("%d cells (%d allowed on etcd), %d differ" % (len(etcd), allowed, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
