#!/usr/bin/env python3
"""`etcdctl snapshot save` against a member, then Debian's etcd 3.4 serves
what `etcdctl snapshot restore` makes of the file. The same script runs
against ketcd and, to check the test itself, Debian's etcd:

    /usr/bin/python3 backup_test.py --server BUILD/server/ketcd
    /usr/bin/python3 backup_test.py --server /usr/bin/etcd

On one member (plain, then mTLS with harness.Certs):
  - puts, an overwrite, a delete, a txn, a lease with two keys, a
    compaction at the delete's revision, more writes;
  - `snapshot save` succeeds; `snapshot status -w json` reports the last
    revision and the key count etcd's compaction leaves;
  - the restored data dir, served by /usr/bin/etcd on free ports, holds the
    same keys, values, create/mod revisions, versions and leases; a
    revision below the compaction is compacted; the next put takes the
    next revision;
  - (plain only) a save while a bounded writer keeps writing succeeds and
    restores.
Every process is stopped by PID; temp dirs are removed; bounded by --timeout.
"""

import json
import os
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scenario_lib import check, etcdctl as ctl, harness, log, main  # noqa: E402

ETCD = "/usr/bin/etcd"
FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]


def etcdctl(server, *args, ok=True, timeout=60):
    """etcdctl against `server` (its TLS flags added): (exit code, stdout, stderr)."""
    r = ctl(server.endpoint, server.etcdctl_tls(), "--command-timeout=%ds" % (timeout - 5),
            *args, timeout=timeout)
    if ok:
        check("etcdctl " + " ".join(args[:2]), r[0] == 0, r[2][-500:])
    return Result(*r)


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(argv, stdin=b""):
    r = subprocess.run(argv, capture_output=True, input=stdin, timeout=60, env=harness.etcdctl_env())
    return Result(r.returncode, r.stdout, r.stderr)


def txn(server, ops):
    """An etcdctl txn of `ops` (lines) with no compares."""
    argv = [harness.ETCDCTL, "--endpoints", server.endpoint] + server.etcdctl_tls() + ["txn"]
    return run(argv, ("\n" + "".join(op + "\n" for op in ops) + "\n\n").encode())


def offline(*args):
    """etcdctl's file commands (no endpoint)."""
    return run([harness.ETCDCTL] + list(args))


def kvs(server):
    out = json.loads(etcdctl(server, "get", "", "--prefix", "-w", "json").stdout)
    return out.get("kvs", [])


def workload(s):
    """Writes revisions 2..11 with a compaction at 6; returns what the
    snapshot must hold: (revision, key-bucket entries)."""
    etcdctl(s, "put", "a", "1")                      # 2
    etcdctl(s, "put", "b", "2")                      # 3
    etcdctl(s, "put", "a", "3")                      # 4
    etcdctl(s, "put", "c", "4")                      # 5
    etcdctl(s, "del", "c")                           # 6
    r = txn(s, ["put d 5", "put e 6"])
    check("txn", r.returncode == 0, r.stderr[-300:])  # 7
    lease = etcdctl(s, "lease", "grant", "600").stdout.split()[1]
    etcdctl(s, "put", "l1", "x", "--lease", lease)   # 8
    etcdctl(s, "put", "l2", "y", "--lease", lease)   # 9
    etcdctl(s, "compact", "6", "--physical")
    etcdctl(s, "put", "f", "7")                      # 10
    etcdctl(s, "del", "b")                           # 11
    # etcd's compaction at 6 keeps a@4, b@3 (c's newest is the delete at
    # 6: gone) and the 6 revisions above 6.
    return 11, 8


def restore_and_serve(snap, check_state, tag):
    """Restores `snap` into a fresh etcd 3.4 data dir and runs check_state(etcd)."""
    etcd = harness.Server(ETCD, name="restored", extra_flags=FLAGS, label="restored etcd")
    try:
        r = offline("snapshot", "restore", snap, "--data-dir", etcd.data_dir, "--name", etcd.name,
                    "--initial-cluster", "%s=%s" % (etcd.name, etcd.peer_url),
                    "--initial-advertise-peer-urls", etcd.peer_url)
        check(tag + ": snapshot restore", r.returncode == 0, r.stderr[-500:])
        if r.returncode != 0:
            return
        etcd.start(health_timeout=30)
        check_state(etcd)
    finally:
        etcd.cleanup()


def status_of(snap):
    r = offline("snapshot", "status", snap, "-w", "json")
    if r.returncode != 0:
        return None, r.stderr[-300:]
    return json.loads(r.stdout), ""


def save(s, snap, tag):
    r = etcdctl(s, "snapshot", "save", snap, ok=False, timeout=120)
    check(tag + ": snapshot save", r.returncode == 0, r.stderr[-500:])
    return r.returncode == 0


def backup_and_restore(binary, tmp, certs, tag):
    snap = os.path.join(tmp, tag + ".db")
    with harness.Server(binary, name="src", extra_flags=FLAGS, certs=certs, label=tag) as s:
        s.start(health_timeout=30)
        rev, key_entries = workload(s)
        want = kvs(s)
        if not save(s, snap, tag):
            return
    st, err = status_of(snap)
    check(tag + ": snapshot status", st is not None, err)
    if st is None:
        return
    check(tag + ": status revision %d" % rev, st["revision"] == rev, st)
    # The key bucket's entries plus the 7 other keys etcd 3.4 writes for one
    # member with one lease after a compaction (Debian's etcd agrees).
    log("%s: status %s" % (tag, st))
    check(tag + ": status key count", st["totalKey"] == key_entries + 7, st)

    def state(etcd):
        got = kvs(etcd)
        check(tag + ": restored keys, values, revisions, versions", got == want,
              "got %s want %s" % (got, want))
        r = etcdctl(etcd, "get", "a", "--rev", "3", ok=False)
        check(tag + ": below the compaction is compacted",
              r.returncode != 0 and "compacted" in r.stderr, r.stderr[-300:])
        r = etcdctl(etcd, "get", "a", "--rev", "6", ok=False)
        check(tag + ": the compaction revision reads", r.returncode == 0, r.stderr[-300:])
        out = json.loads(etcdctl(etcd, "put", "g", "8", "-w", "json").stdout)
        check(tag + ": next put takes revision %d" % (rev + 1),
              out["header"]["revision"] == rev + 1, out)
        leases = etcdctl(etcd, "lease", "list").stdout
        check(tag + ": lease restored", len(leases.strip().splitlines()) == 2, leases)
    restore_and_serve(snap, state, tag)


def save_while_writing(binary, tmp):
    tag = "busy"
    snap = os.path.join(tmp, tag + ".db")
    with harness.Server(binary, name="src", extra_flags=FLAGS, label=tag) as s:
        s.start(health_timeout=30)
        value = "v" * 2000
        # some history first: 3 txns of 100 puts of 2 KB (about 600 KiB)
        for _ in range(3):
            r = txn(s, ["put pre/%d %s" % (i, value) for i in range(100)])
            check(tag + ": prefill txn", r.returncode == 0, r.stderr[-300:])
        stop = threading.Event()
        writes = [0]

        def writer():
            while not stop.is_set() and writes[0] < 2000:
                etcdctl(s, "put", "busy/%d" % (writes[0] % 100), value, ok=False, timeout=20)
                writes[0] += 1
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        while writes[0] < 5 and t.is_alive():  # the writer is under way
            stop.wait(0.05)
        try:
            ok = save(s, snap, tag)
        finally:
            stop.set()
            t.join(timeout=60)
        log("busy: %d writes during the save" % writes[0])
        final = json.loads(etcdctl(s, "get", "x", "-w", "json").stdout)["header"]["revision"]
    if not ok:
        return
    st, err = status_of(snap)
    check(tag + ": snapshot status", st is not None and 1 < st["revision"] <= final, (st, err))

    def state(etcd):
        got = kvs(etcd)
        check(tag + ": restored etcd serves the keys", len(got) >= 50, len(got))
    restore_and_serve(snap, state, tag)


def plain(binary, tmp):
    backup_and_restore(binary, tmp, None, "plain")


def tls(binary, tmp):
    backup_and_restore(binary, tmp, harness.Certs(os.path.join(tmp, "certs")), "tls")


if __name__ == "__main__":
    sys.exit(main({"plain": plain, "tls": tls, "busy": save_while_writing}))
