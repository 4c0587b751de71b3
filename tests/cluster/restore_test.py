#!/usr/bin/env python3
"""`ketcdctl snapshot restore`: a backup (made by ketcd or by Debian's etcd
3.4) becomes a ketcd data dir that `ketcd` serves, checked against what
`etcdctl snapshot restore` + Debian's etcd make of the same file:

    /usr/bin/python3 restore_test.py --server BUILD/server/ketcd

(ketcd only: etcd cannot serve a ketcd data dir; the comparison with
Debian's etcd is built into each scenario.)

ketcdctl is $KETCDCTL, else BUILD/tools/ketcdctl next to BUILD/server/ketcd.
KETCD_TEST_PORTS=24000-24999 takes the ports from that range (default: any
free port).

Scenarios:
  - roundtrip: a ketcd member with puts, an overwrite, deletes, a txn, two
    leases (one holding two keys), a compaction; `etcdctl snapshot save`
    and `ketcdctl snapshot save`; each file restored with ketcdctl and
    served by ketcd: the same keys, values, create/mod revisions and
    versions, the leases with their granted TTL and keys, a remaining TTL
    counted anew from the restored leader's start (the source ran them 6 s
    before the save), a revision below the compaction gives etcd's
    compacted error, the next put takes the next revision. The
    etcdctl-saved file restored by etcdctl and served by etcd gives the
    same answers (remaining TTLs within 3 s) and the same member and
    cluster ids;
  - migration: the same with Debian's etcd as the source (plus an auth user
    and role, listed as etcd lists them after its own restore);
  - auth: a ketcd member with root, alice (role reader: READ on data/) and
    auth enabled; `snapshot save --user root:...` with etcdctl and ketcdctl
    (ketcdctl's --user/--password refusals as etcdctl's); each backup
    restored with ketcdctl and served by ketcd, and the etcdctl one with
    etcdctl + etcd 3.4: the same users, roles, `user get`/`role get`,
    logins with the same passwords, alice's permission enforced (read
    data/, no write, no other/), no read without a user, AuthStatus on at
    the same auth revision; and an etcd 3.4 member set up the same way,
    saved as root, restored with ketcdctl: the same answers;
  - drill (the HA guide's recovery): a 3-member ketcd cluster with data, a
    backup from one member, all stopped, each restored from the backup with
    its own --name and --initial-advertise-peer-urls (same --initial-cluster,
    a new token), started: endpoint health, the same data on every member,
    equal `endpoint hashkv`, a write replicated to all;
  - errors: a truncated file, a flipped byte, files that are not backups, an
    existing non-empty data dir, an own name missing from --initial-cluster:
    non-zero exit, "Error: ...", nothing left behind (no data dir, no
    temporary dir); etcdctl's exact messages and exit codes for the flag
    errors; the success output next to etcdctl's; an empty target dir and a
    stale temporary dir are taken.
Every process is stopped by PID; temp dirs are removed; bounded by --timeout.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scenario_lib import check, etcdctl as ctl, harness, log, main  # noqa: E402
from ketcdctl_test import KETCDCTL, Result, damaged  # noqa: E402

ETCD = "/usr/bin/etcd"
FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]
COMPACTED = "Error: etcdserver: mvcc: required revision has been compacted"
_next_port = [0]


def take_ports(n):
    """n ports: from KETCD_TEST_PORTS (lo-hi), each checked free, else any free ones."""
    spec = os.environ.get("KETCD_TEST_PORTS")
    if not spec:
        return harness.free_ports(n)
    lo, hi = (int(x) for x in spec.split("-"))
    out = []
    while len(out) < n:
        port = lo + _next_port[0] % (hi - lo + 1)
        _next_port[0] += 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((harness.HOST, port))
            except OSError:
                continue
        out.append(port)
    return out


def run(tool, *args, timeout=120):
    r = subprocess.run([tool] + list(args), capture_output=True, stdin=subprocess.DEVNULL,
                       timeout=timeout, env=harness.etcdctl_env())
    return Result(r)


def etcdctl(server, *args, ok=True):
    r = ctl(server.endpoint, [], *args, timeout=30)
    if ok:
        check("etcdctl " + " ".join(args[:2]), r[0] == 0, r[2][-500:])
    return r


def txn(server, ops):
    r = subprocess.run([harness.ETCDCTL, "--endpoints", server.endpoint, "txn"],
                       input=("\n" + "".join(op + "\n" for op in ops) + "\n\n").encode(),
                       capture_output=True, timeout=30, env=harness.etcdctl_env())
    check("txn", r.returncode == 0, r.stderr[-300:])


def workload(s):
    """Revisions 2..11, a compaction at 6, two leases; returns the last revision."""
    etcdctl(s, "put", "a", "1")                      # 2
    etcdctl(s, "put", "b", "2")                      # 3
    etcdctl(s, "put", "a", "3")                      # 4
    etcdctl(s, "put", "c", "4")                      # 5
    etcdctl(s, "del", "c")                           # 6
    txn(s, ["put d 5", "put e 6"])                   # 7
    lease = etcdctl(s, "lease", "grant", "600")[1].split()[1]
    etcdctl(s, "lease", "grant", "300")              # a lease with no keys
    etcdctl(s, "put", "l1", "x", "--lease", lease)   # 8
    etcdctl(s, "put", "l2", "y", "--lease", lease)   # 9
    etcdctl(s, "compact", "6", "--physical")
    etcdctl(s, "put", "f", "7")                      # 10
    etcdctl(s, "del", "b")                           # 11
    return 11


def kvs(server, *flags):
    return json.loads(etcdctl(server, "get", "", "--prefix", "-w", "json", *flags)[1]).get("kvs", [])


def leases(server, ttls=None):
    """{lease id: (granted TTL, attached keys)}; remaining TTLs are checked on
    the way and put in `ttls` ({lease id: remaining TTL}) when given."""
    out = {}
    for line in etcdctl(server, "lease", "list")[1].splitlines()[1:]:
        j = json.loads(etcdctl(server, "lease", "timetolive", line.strip(), "--keys", "-w", "json")[1])
        check("lease %s: remaining TTL in (0, granted]" % line.strip(),
              0 < j["ttl"] <= j["granted-ttl"], j)
        out[j["id"]] = (j["granted-ttl"], sorted(j.get("keys") or []))
        if ttls is not None:
            ttls[j["id"]] = j["ttl"]
    return out


def state(server, rev):
    """What a restored member serves, as comparable values."""
    st = {"kvs": kvs(server), "ttls": {}}
    st["leases"] = leases(server, st["ttls"])
    for r in (3, 5):
        err = etcdctl(server, "get", "a", "--rev", str(r), ok=False)[2].strip()
        st["get --rev %d" % r] = err.splitlines()[-1] if err else ""  # etcdctl's retry log aside
    st["get --rev 6"] = etcdctl(server, "get", "a", "--rev", "6")[1]
    st["users"] = etcdctl(server, "user", "list")[1]
    st["roles"] = etcdctl(server, "role", "list")[1]
    put = json.loads(etcdctl(server, "put", "g", "8", "-w", "json")[1])["header"]
    st["put revision"] = put["revision"]
    st["ids"] = (put["member_id"], put["cluster_id"])
    # revoking the lease that holds l1 and l2 deletes them: still attached
    holder = [lid for lid, (_, keys) in st["leases"].items() if keys]
    for lid in holder:
        etcdctl(server, "lease", "revoke", "%x" % lid)
    st["keys after revoke"] = [kv["key"] for kv in kvs(server)]
    check("revoking the restored lease deletes its keys",
          len(holder) == 1 and len(st["keys after revoke"]) == len(st["kvs"]) + 1 - 2, st)
    check("a compacted revision stays compacted", st["get --rev 3"] == COMPACTED, st["get --rev 3"])
    check("the next put takes revision %d" % (rev + 1), put["revision"] == rev + 1, put)
    return st


def restore(tool, snap, server, token, *extra):
    """Restores `snap` with `tool` into the data dir of `server` (not running)."""
    return run(tool, "snapshot", "restore", snap, "--data-dir", server.data_dir, "--name", server.name,
               "--initial-cluster", "%s=%s" % (server.name, server.peer_url),
               "--initial-cluster-token", token, "--initial-advertise-peer-urls", server.peer_url, *extra)


def log_messages(stderr):
    """The msg of each JSON log line."""
    msgs = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            msgs.append(json.loads(line).get("msg"))
    return msgs


def serve_restored(binary, tool, snap, ports, tag, rev, token="restored", probe=None):
    """Restores `snap` with `tool`, serves it with `binary` on `ports`; its
    state (probe(server) when given: the server is then waited for with
    root's credentials, as auth is on)."""
    srv = harness.Server(binary, name="restored", extra_flags=FLAGS, ports=ports, label=tag)
    srv.cluster_flags = lambda: ["--initial-cluster", "%s=%s" % (srv.name, srv.peer_url),
                                 "--initial-cluster-token", token]
    try:
        r = restore(tool, snap, srv, token)
        check(tag + ": snapshot restore", r.returncode == 0, r.stderr[-800:])
        if tool == KETCDCTL:
            check(tag + ": nothing on stdout, etcdctl's log lines on stderr, no warning",
                  r.stdout == "" and log_messages(r.stderr)[0] == "restoring snapshot"
                  and log_messages(r.stderr)[-1] == "restored snapshot"
                  and '"level":"warn"' not in r.stderr, r.stdout + r.stderr)
            check(tag + ": no temporary dir left", not os.path.exists(srv.data_dir + ".restore.tmp"))
        if probe:
            srv.spawn()
            wait_as_root(srv, 30)
            return probe(srv)
        srv.start(health_timeout=30)
        st = state(srv, rev)
        st["restore stderr"] = r.stderr
        return st
    finally:
        srv.cleanup()


def compare(tag, ketcd_state, etcd_state):
    # Remaining TTLs as etcd restores them: each restored server counts
    # from its own start (both were read a moment after it).
    check("%s: remaining TTLs as etcd's restore gives them (within 3 s)" % tag,
          ketcd_state["ttls"].keys() == etcd_state["ttls"].keys() and
          all(abs(ttl - etcd_state["ttls"][lid]) <= 3 for lid, ttl in ketcd_state["ttls"].items()),
          "ketcd: %s\netcd:  %s" % (ketcd_state["ttls"], etcd_state["ttls"]))
    for key in ("kvs", "leases", "get --rev 3", "get --rev 5", "get --rev 6", "put revision", "ids",
                "keys after revoke"):
        check("%s: %s as etcd restores it" % (tag, key), ketcd_state[key] == etcd_state[key],
              "ketcd: %s\netcd:  %s" % (ketcd_state[key], etcd_state[key]))


def source_and_backups(binary, tmp, tag, before_save=None):
    """Runs the workload on `binary`; saves with etcdctl (and ketcdctl).
    Returns (revision, kvs, leases, {tool name: file})."""
    files = {}
    with harness.Server(binary, name="src", extra_flags=FLAGS, ports=take_ports(2), label=tag) as s:
        s.start(health_timeout=30)
        rev = workload(s)
        if before_save:
            before_save(s)
        want, want_leases = kvs(s), leases(s)
        for name, tool in (("etcdctl", harness.ETCDCTL), ("ketcdctl", KETCDCTL)):
            snap = os.path.join(tmp, "%s-%s.db" % (tag, name))
            r = run(tool, "snapshot", "save", snap, "--endpoints", s.endpoint)
            check("%s: %s snapshot save" % (tag, name), r.returncode == 0, r.stderr[-500:])
            files[name] = snap
    return rev, want, want_leases, files


def check_restored(tag, st, want, want_leases):
    check(tag + ": same keys, values, create/mod revisions and versions", st["kvs"] == want,
          "got %s\nwant %s" % (st["kvs"], want))
    check(tag + ": same leases (granted TTL, attached keys)", st["leases"] == want_leases,
          "got %s\nwant %s" % (st["leases"], want_leases))


AGE = 6  # seconds the source's leases run before the save


def roundtrip(binary, tmp):
    rev, want, want_leases, files = source_and_backups(binary, tmp, "roundtrip",
                                                       lambda s: time.sleep(AGE))
    ports = take_ports(2)
    got = {}
    for saver, snap in files.items():
        tag = "roundtrip (%s save)" % saver
        got[saver] = serve_restored(binary, KETCDCTL, snap, ports, tag, rev)
        check_restored(tag, got[saver], want, want_leases)
        # Not checkpointed (etcd checkpoints every 5 minutes): a restored
        # lease starts its whole TTL again when the new leader takes it, as
        # etcd's Promote; the source's time is not taken off.
        check(tag + ": restored leases count their TTL from the restored leader's start",
              all(ttl > want_leases[lid][0] - AGE + 2 for lid, ttl in got[saver]["ttls"].items()),
              (got[saver]["ttls"], want_leases))
    etcd_state = serve_restored(ETCD, harness.ETCDCTL, files["etcdctl"], ports, "etcd restore", rev)
    compare("roundtrip", got["etcdctl"], etcd_state)


def migration(binary, tmp):
    def auth(s):
        etcdctl(s, "user", "add", "alice:secret", "--interactive=false")
        etcdctl(s, "role", "add", "reader")
    rev, want, want_leases, files = source_and_backups(ETCD, tmp, "migration", auth)
    ports = take_ports(2)
    st = serve_restored(binary, KETCDCTL, files["etcdctl"], ports, "migration", rev)
    check_restored("migration", st, want, want_leases)
    etcd_state = serve_restored(ETCD, harness.ETCDCTL, files["etcdctl"], ports, "etcd restore", rev)
    compare("migration", st, etcd_state)
    for key, names in (("users", ["alice"]), ("roles", ["reader"])):
        check("migration: the auth %s as etcd restores them" % key,
              st[key].split() == names and st[key] == etcd_state[key], (st[key], etcd_state[key]))


def start_all(members):
    for m in members:
        m.spawn()
    for m in members:
        m.wait_healthy(30)


def drill(binary, tmp):
    ports = take_ports(6)
    members = [harness.Server(binary, name="m%d" % (i + 1), extra_flags=FLAGS,
                              ports=(ports[2 * i], ports[2 * i + 1]), label="m%d" % (i + 1),
                              tmpdir=os.path.join(tmp, "m%d" % (i + 1)))
               for i in range(3)]
    ic = ",".join("%s=%s" % (m.name, m.peer_url) for m in members)
    token = ["drill-before"]
    for m in members:
        os.makedirs(m.tmpdir)
        m.cluster_flags = lambda: ["--initial-cluster", ic, "--initial-cluster-token", token[0]]
    endpoints = ",".join(m.endpoint for m in members)
    snap = os.path.join(tmp, "drill.db")
    try:
        start_all(members)
        rev = workload(members[0])
        txn(members[0], ["put many/%03d %s" % (i, "v" * 100) for i in range(100)])
        rev += 1
        want = kvs(members[0])
        r = run(harness.ETCDCTL, "--endpoints", members[1].endpoint, "snapshot", "save", snap)
        check("drill: snapshot save from a live member", r.returncode == 0, r.stderr[-500:])
        for m in members:
            m.stop()
        token[0] = "drill-restored"
        for m in members:
            shutil.rmtree(m.data_dir)
            r = run(KETCDCTL, "snapshot", "restore", snap, "--name", m.name, "--initial-cluster", ic,
                    "--initial-cluster-token", token[0], "--initial-advertise-peer-urls", m.peer_url,
                    "--data-dir", m.data_dir)
            check("drill: restore %s" % m.name, r.returncode == 0, r.stderr[-500:])
        start_all(members)
        r = ctl(endpoints, [], "endpoint", "health")
        check("drill: endpoint health on all three",
              r[0] == 0 and (r[1] + r[2]).count("is healthy") == 3, r[1] + r[2])
        for m in members:
            check("drill: %s serves the backup's data" % m.name, kvs(m, "--consistency=s") == want)
        ids = sorted(int(x["ID"]) for x in json.loads(etcdctl(members[0], "member", "list", "-w", "json")[1])["members"])
        check("drill: three members", len(ids) == 3, ids)
        put = json.loads(etcdctl(members[2], "put", "after", "restore", "-w", "json")[1])["header"]
        check("drill: a write after the restore takes revision %d" % (rev + 1), put["revision"] == rev + 1, put)
        hashes = {}
        for m in members:
            for _ in range(100):  # until the write has reached this member
                if any(kv["key"] == "YWZ0ZXI=" for kv in kvs(m, "--consistency=s")):  # "after"
                    break
                time.sleep(0.05)
            j = json.loads(etcdctl(m, "endpoint", "hashkv", "--rev", str(rev + 1), "-w", "json")[1])
            h = j[0]["HashKV"]
            hashes[m.name] = (h["hash"], h.get("compact_revision", 0))
        check("drill: endpoint hashkv equal on all three", len(set(hashes.values())) == 1, hashes)
    finally:
        for m in members:
            m.stop()


def listing(d):
    return sorted(os.listdir(d))


def refused(tag, args, target, parent, expect=None):
    """A restore that must fail and leave `parent` as it was."""
    before = listing(parent)
    r = run(KETCDCTL, "snapshot", "restore", *args, "--data-dir", target)
    check("%s: exit 1 with a message" % tag,
          r.returncode == 1 and r.stdout == "" and r.stderr.splitlines()[-1].startswith("Error: "),
          "exit %d %r %r" % (r.returncode, r.stdout, r.stderr))
    if expect:
        check("%s: says %r" % (tag, expect), expect in r.stderr.splitlines()[-1], r.stderr)
    check("%s: nothing left behind" % tag, listing(parent) == before,
          "before %s after %s" % (before, listing(parent)))
    return r


def flag_errors(tmp):
    """etcdctl's messages and exit codes, byte for byte (its log lines aside)."""
    def last(r):
        lines = [line for line in r.stderr.splitlines() if not line.startswith("{")]
        return lines[-1] if lines else ""
    missing = os.path.join(tmp, "missing.db")
    cases = [[], ["a", "b"], [missing], [missing, "--name", "nope"], [missing, "--name", "x", "--name", "default"],
             [missing, "--initial-advertise-peer-urls", "http://localhost:2381"],
             [missing, "--initial-advertise-peer-urls", "bad"],
             [missing, "--initial-advertise-peer-urls", "http://localhost"],
             [missing, "--initial-advertise-peer-urls", "http://localhost:2380/x"],
             [missing, "--initial-cluster", "default=http://localhost:2380,b=http://localhost:2380"],
             [missing, "--initial-cluster", "default=http://localhost:2380,default=http://localhost:2381"],
             [missing, "--name", "x", "--initial-cluster", "x=http://localhost:2380",
              "--initial-advertise-peer-urls", "http://localhost:2380,http://localhost:2381"]]
    for args in cases:
        target = os.path.join(tmp, "flags.etcd")
        k = run(KETCDCTL, "snapshot", "restore", *args, "--data-dir", target)
        e = run(harness.ETCDCTL, "snapshot", "restore", *args, "--data-dir", target)
        shutil.rmtree(target, ignore_errors=True)  # etcdctl may leave one
        check("restore %s: etcdctl's message and exit code %d" % (" ".join(args[1:]) or args, e.returncode),
              k.returncode == e.returncode and last(k) == last(e) and k.stdout == e.stdout == "",
              "ketcdctl %d %r\netcdctl %d %r" % (k.returncode, k.stderr, e.returncode, e.stderr))


def make_backup(binary, tmp):
    snap = os.path.join(tmp, "good.db")
    with harness.Server(binary, name="src", extra_flags=FLAGS, ports=take_ports(2), label="src") as s:
        s.start(health_timeout=30)
        workload(s)
        r = run(KETCDCTL, "snapshot", "save", snap, "--endpoints", s.endpoint)
        check("save a backup", r.returncode == 0, r.stderr[-300:])
    return snap


def errors(binary, tmp):
    flag_errors(tmp)
    snap = make_backup(binary, tmp)
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    target = os.path.join(work, "member.etcd")
    cut, flip = damaged(tmp, snap)
    refused("truncated backup", [cut], target, work, "sha256")
    refused("flipped byte", [flip], target, work, "sha256 mismatch")
    text = os.path.join(tmp, "text.db")
    with open(text, "w") as f:
        f.write("not a backup\n" * 1000)
    refused("a text file", [text], target, work)
    refused("a text file, --skip-hash-check", [text, "--skip-hash-check"], target, work)
    noise = os.path.join(tmp, "noise.db")
    body = os.urandom(8192)
    with open(noise, "wb") as f:
        f.write(body + hashlib.sha256(body).digest())  # a valid trailer on random bytes
    refused("random bytes with a valid sha256 trailer", [noise], target, work)
    refused("own name missing from --initial-cluster", [snap, "--name", "nope"], target, work,
            'couldn\'t find local name "nope" in the initial cluster configuration')

    os.makedirs(target)
    with open(os.path.join(target, "keep"), "w") as f:
        f.write("mine")
    r = refused("existing non-empty data dir", [snap], target, work, 'data-dir "%s" exists' % target)
    e = run(harness.ETCDCTL, "snapshot", "restore", snap, "--data-dir", target)
    check("existing non-empty data dir: etcdctl's message",
          e.returncode == 1 and e.stderr.splitlines()[-1] == r.stderr.splitlines()[-1], e.stderr)
    check("existing non-empty data dir: untouched",
          listing(target) == ["keep"] and open(os.path.join(target, "keep")).read() == "mine")
    shutil.rmtree(target)

    # success, next to etcdctl's: both print nothing on stdout and log the
    # same messages with the same paths; the same member id
    out = {}
    for name, tool in (("ketcdctl", KETCDCTL), ("etcdctl", harness.ETCDCTL)):
        d = os.path.join(work, name + ".etcd")
        r = run(tool, "snapshot", "restore", snap, "--data-dir", d, "--name", "m1",
                "--initial-cluster", "m1=http://127.0.0.1:1,m2=http://127.0.0.1:2",
                "--initial-advertise-peer-urls", "http://127.0.0.1:1")
        check("success: %s exits 0 with nothing on stdout" % name, r.returncode == 0 and r.stdout == "",
              r.stdout + r.stderr)
        lines = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
        out[name] = {j["msg"]: j for j in lines}
        out[name]["order"] = [j["msg"] for j in lines]
        out[name]["added ids"] = sorted(j["added-peer-id"] for j in lines if j["msg"] == "added member")
        shutil.rmtree(d)
    k, e = out["ketcdctl"], out["etcdctl"]
    for msg in ("restoring snapshot", "restored snapshot"):
        check("success: %r as etcdctl logs it" % msg,
              all(k[msg][f].replace("ketcdctl", "etcdctl") == e[msg][f] for f in ("path", "wal-dir", "data-dir")),
              (k[msg], e[msg]))
    check("success: first and last log lines as etcdctl's",
          k["order"][0] == e["order"][0] and k["order"][-1] == e["order"][-1], (k["order"], e["order"]))
    check("success: the added members' ids as etcdctl's (two)",
          len(k["added ids"]) == 2 and k["added ids"] == e["added ids"], (k["added ids"], e["added ids"]))

    # taken, where etcdctl refuses: an empty target dir (a volume mounted
    # for it); a temporary dir a crashed restore left behind
    os.makedirs(target)
    os.makedirs(target + ".restore.tmp/member/db")
    r = run(KETCDCTL, "snapshot", "restore", snap, "--data-dir", target)
    check("an empty target dir and a stale temporary dir: restored", r.returncode == 0, r.stderr)
    check("the stale temporary dir is gone", listing(work) == ["member.etcd"], listing(work))


# ---- auth carried through backups
ROOT = "root:rootpw"
ALICE = "alice:alicepw"
# etcd's auth revision: 1 for a fresh store, one more per change of users,
# roles or permissions (the seven below); AuthEnable keeps it.
AUTH_REVISION = 8


def as_user(server, user, *args):
    """(exit code, stdout, etcdctl's last non-log stderr line) with --user."""
    r = ctl(server.endpoint, [], *(["--user", user] if user else []), *args, timeout=30)
    lines = [line for line in r[2].splitlines() if line.strip() and not line.startswith("{")]
    return r[0], r[1], lines[-1] if lines else ""


def wait_as_root(server, timeout):
    deadline = time.monotonic() + timeout
    r = None
    while time.monotonic() < deadline and server.alive():
        r = as_user(server, ROOT, "get", "__probe__")
        if r[0] == 0:
            return
        time.sleep(0.2)
    check("%s serves root within %ds" % (server.label, timeout), False, "%s\n%s" % (r, server.log_tail()))


def auth_setup(s):
    """root (role root), alice with role reader (READ on data/), keys, auth on."""
    for args in (["user", "add", ROOT, "--interactive=false"], ["role", "add", "root"],
                 ["user", "grant-role", "root", "root"], ["user", "add", ALICE, "--interactive=false"],
                 ["role", "add", "reader"], ["role", "grant-permission", "reader", "read", "data/", "--prefix"],
                 ["user", "grant-role", "alice", "reader"], ["put", "data/x", "secret-x"],
                 ["put", "other/y", "y"], ["auth", "enable"]):
        etcdctl(s, *args)


def auth_revision(server):
    """ketcd's AuthStatus (etcd 3.5's RPC; etcdctl 3.4 has no `auth status`):
    (enabled, authRevision)."""
    import grpc
    with grpc.insecure_channel(server.endpoint) as ch:
        raw = ch.unary_unary("/etcdserverpb.Auth/AuthStatus", request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)(b"", timeout=10)
    fields, i = {}, 0
    def varint():
        nonlocal i
        v = shift = 0
        while True:
            b = raw[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v
    while i < len(raw):
        tag = varint()
        if tag & 7 == 2:
            n = varint()
            i += n
        else:
            fields[tag >> 3] = varint()
    return bool(fields.get(2, 0)), fields.get(3, 0)


def auth_state(server):
    """What a client sees of the auth state, with the checks it must pass."""
    st = {}
    for user, args in ((ROOT, ("user", "list")), (ROOT, ("role", "list")),
                       (ROOT, ("user", "get", "alice")), (ROOT, ("user", "get", "root")),
                       (ROOT, ("role", "get", "reader")), (ROOT, ("role", "get", "root")),
                       (ALICE, ("get", "data/", "--prefix")), (ALICE, ("put", "data/z", "1")),
                       (ALICE, ("get", "other/y")), ("alice:wrong", ("get", "data/x")),
                       (None, ("get", "data/x")), (ROOT, ("get", "other/y", "--print-value-only"))):
        st["%s %s" % ((user or "nobody").split(":")[0], " ".join(args))] = as_user(server, user, *args)
    tag = server.label
    check(tag + ": users root and alice", st["root user list"][1].split() == ["alice", "root"], st)
    check(tag + ": alice reads data/ with her password",
          st["alice get data/ --prefix"][0] == 0 and "secret-x" in st["alice get data/ --prefix"][1], st)
    denied = "Error: etcdserver: permission denied"
    check(tag + ": alice may not write data/ nor read other/",
          st["alice put data/z 1"][2] == denied and st["alice get other/y"][2] == denied, st)
    check(tag + ": a wrong password fails",
          st["alice get data/x"][2] == "Error: etcdserver: authentication failed, invalid user ID or password", st)
    check(tag + ": auth is on: no user, no read", st["nobody get data/x"][2] == "Error: etcdserver: user name is empty", st)
    check(tag + ": root reads all", st["root get other/y --print-value-only"][1].strip() == "y", st)
    return st


def auth(binary, tmp):
    ports = take_ports(2)
    files = {}
    with harness.Server(binary, name="src", extra_flags=FLAGS, ports=take_ports(2), label="auth source") as s:
        s.start(health_timeout=30)
        auth_setup(s)
        want = auth_state(s)
        check("auth source: AuthStatus", auth_revision(s) == (True, AUTH_REVISION), auth_revision(s))
        r = run(harness.ETCDCTL, "snapshot", "save", os.path.join(tmp, "nouser.db"), "--endpoints", s.endpoint)
        check("auth source: snapshot save without a user is refused",
              r.returncode != 0 and "user name is empty" in r.stderr, r.stderr[-300:])
        for name, tool in (("etcdctl", harness.ETCDCTL), ("ketcdctl", KETCDCTL)):
            files[name] = os.path.join(tmp, "auth-%s.db" % name)
            r = run(tool, "snapshot", "save", files[name], "--endpoints", s.endpoint, "--user", ROOT)
            check("auth source: %s snapshot save as root" % name, r.returncode == 0, r.stderr[-500:])
        # ketcdctl's --user/--password as etcdctl's: refusals word for word
        for args in (["--user", "root:wrong"], ["--user", ALICE], ["--user", "root", "--password", "rootpw"]):
            out = []
            for tool in (KETCDCTL, harness.ETCDCTL):
                snap = os.path.join(tmp, "auth-flags.db")
                r = run(tool, "snapshot", "save", snap, "--endpoints", s.endpoint, *args)
                lines = [x for x in r.stderr.splitlines() if x.strip() and not x.startswith("{")]
                out.append((r.returncode, lines[-1] if r.returncode else r.stdout.strip()))
                if os.path.exists(snap):
                    os.remove(snap)
            check("auth source: snapshot save %s as etcdctl" % " ".join(args), out[0] == out[1], out)
    for saver, snap in files.items():
        tag = "auth roundtrip (%s save)" % saver
        got = serve_restored(binary, KETCDCTL, snap, ports, tag, 0,
                             probe=lambda srv: (auth_state(srv), auth_revision(srv)))
        check(tag + ": the same auth state", got[0] == want, "got %s\nwant %s" % (got[0], want))
        check(tag + ": auth on at the same auth revision", got[1] == (True, AUTH_REVISION), got[1])
    got = serve_restored(ETCD, harness.ETCDCTL, files["etcdctl"], ports, "auth to etcd", 0, probe=auth_state)
    check("auth: etcd 3.4 serves the ketcd backup's auth state", got == want, "got %s\nwant %s" % (got, want))

    # from etcd 3.4: its bcrypt hashes, roles and flag served by ketcd
    snap = os.path.join(tmp, "auth-etcd.db")
    with harness.Server(ETCD, name="src", extra_flags=FLAGS, ports=take_ports(2), label="etcd auth source") as s:
        s.start(health_timeout=30)
        auth_setup(s)
        want_etcd = auth_state(s)
        r = run(harness.ETCDCTL, "snapshot", "save", snap, "--endpoints", s.endpoint, "--user", ROOT)
        check("etcd auth source: snapshot save as root", r.returncode == 0, r.stderr[-500:])
    check("auth: ketcd and etcd 3.4 sources agree", want_etcd == want, "ketcd %s\netcd %s" % (want, want_etcd))
    got = serve_restored(binary, KETCDCTL, snap, ports, "auth from etcd", 0,
                         probe=lambda srv: (auth_state(srv), auth_revision(srv)))
    check("auth from etcd: the same auth state", got[0] == want_etcd, "got %s\nwant %s" % (got[0], want_etcd))
    check("auth from etcd: auth on at etcd's auth revision", got[1] == (True, AUTH_REVISION), got[1])


if __name__ == "__main__":
    sys.exit(main({"roundtrip": roundtrip, "migration": migration, "drill": drill, "errors": errors,
                   "auth": auth}))
