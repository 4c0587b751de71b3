#!/usr/bin/env python3
"""Makes a backup with Debian's etcd 3.4, and writes down what it must hold.

  make_etcd_backups.py OUTDIR    -> OUTDIR/etcd34.db, OUTDIR/etcd34.expected.json

Starts a fresh etcd on 127.0.0.1, writes through etcdctl (puts, a txn of
several puts, deletes, a lease with a key attached, a physical compaction,
then writes after it; users alice and root, roles reader and root, auth
enabled), saves `etcdctl snapshot save` as root, and records: every change
with its revision (from the responses), the compaction revision, the lease,
the member, the live keys as etcdctl reads them, the raft index, the auth
facts and `etcdctl snapshot status`. etcd_backup_interop.py uses
make_backup() to check ketcd's decoder against those facts (etcd-to-ketcd),
and the checked-in pair in testdata/ (checked-in), which this script made:

  make_etcd_backups.py tests/storage/testdata
"""

import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import etcd_process as ep  # noqa: E402

ROOT = "root:rootpw"

def _put(member, key, value, *extra):
    out = ep.etcdctl_json("put", key, value, *extra, endpoint=member.client)
    return out["header"]["revision"]


def _txn_puts(member, pairs):
    """One txn putting every pair: one revision, subs 0..n-1."""
    # No compares, a blank line, the success ops, a blank line, no failure ops.
    script = "\n" + "".join("put %s %s\n" % kv for kv in pairs) + "\n\n"
    cmd = [ep.ETCDCTL, "--endpoints", member.client, "txn", "-w", "json"]
    p = subprocess.run(cmd, input=script, env=dict(os.environ, ETCDCTL_API="3"),
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise ep.Failure("txn failed: %s" % p.stderr)
    return json.loads(p.stdout)["header"]["revision"]


def _workload(member, changes):
    """Writes the keys; appends (main, sub, key, tombstone) to changes."""
    lease = ep.etcdctl_json("lease", "grant", "3600", endpoint=member.client)
    lease_id = lease["ID"]

    def put(key, value, *extra):
        changes.append((_put(member, key, value, *extra), 0, key, False))

    def delete(key):
        rev = ep.etcdctl_json("del", key, endpoint=member.client)["header"]["revision"]
        changes.append((rev, 0, key, True))

    put("k1", "v1")
    put("k2", "v2")
    put("k1", "v1b")
    delete("k2")
    put("leased", "vL", "--lease=%x" % lease_id)
    put("big", "B" * 16 * 1024)  # overflow pages
    for batch in range(3):
        pairs = [("many/%03d/%03d" % (batch, i), "value-%d-%d" % (batch, i)) for i in range(100)]
        rev = _txn_puts(member, pairs)
        changes.extend((rev, sub, k, False) for sub, (k, _) in enumerate(pairs))
    compact_rev = changes[-1][0] - 1
    ep.etcdctl("compact", str(compact_rev), "--physical", endpoint=member.client)
    put("k3", "v3")
    delete("k1")
    put("many/000/000", "rewritten")
    # Auth records, then auth on: two users, two roles, a permission.
    changes_of_auth = (["user", "add", "alice:secret", "--interactive=false"], ["role", "add", "reader"],
                       ["role", "grant-permission", "reader", "read", "many/", "--prefix"],
                       ["user", "grant-role", "alice", "reader"],
                       ["user", "add", ROOT, "--interactive=false"], ["role", "add", "root"],
                       ["user", "grant-role", "root", "root"])
    for args in changes_of_auth:
        ep.etcdctl(*args, endpoint=member.client)
    ep.etcdctl("auth", "enable", endpoint=member.client)
    # etcd's auth revision: 1 at start, one more per change; enable keeps it.
    auth = {"enabled": True, "revision": 1 + len(changes_of_auth), "users": 2, "roles": 2}
    return compact_rev, lease_id, auth


def make_backup(ws, out_path):
    """Runs the workload on a fresh etcd in workspace ws, saves the backup
    at out_path and returns the expected facts (a JSON-able dict)."""
    member = ep.start_etcd(ws, ws.path("etcd-source"), name="m1")
    changes = []
    compact_rev, lease_id, auth = _workload(member, changes)
    live = ep.etcdctl_json("get", "", "--prefix", "--user", ROOT, endpoint=member.client)
    raft_index = ep.etcdctl_json("endpoint", "status", "--user", ROOT,
                                 endpoint=member.client)[0]["Status"]["raftIndex"]
    ep.etcdctl("snapshot", "save", out_path, "--user", ROOT, endpoint=member.client)
    status = ep.etcdctl_json("snapshot", "status", out_path)
    ep.stop(member.proc)
    return {
        "backup": out_path,
        "compact_rev": compact_rev,
        "changes": changes,
        "lease": {"id": lease_id, "ttl": 3600},
        "member": {"name": member.name, "peer": member.peer, "client": member.client},
        "live": live.get("kvs", []),
        "head": live["header"]["revision"],
        "raft_index": raft_index,
        "status": status,
        "auth": auth,
    }


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if not ep.have_etcd():
        print("needs /usr/bin/etcd and /usr/bin/etcdctl (Debian etcd-server, etcd-client)", file=sys.stderr)
        return 77
    outdir = os.path.abspath(sys.argv[1])
    os.makedirs(outdir, exist_ok=True)
    with ep.Workspace() as ws:
        facts = make_backup(ws, os.path.join(outdir, "etcd34.db"))
    print("wrote %s and etcd34.expected.json" % facts["backup"])
    facts["backup"] = "etcd34.db"  # beside the JSON
    with open(os.path.join(outdir, "etcd34.expected.json"), "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
