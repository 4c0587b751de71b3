#!/usr/bin/env python3
"""ketcd's backup library against Debian's etcd 3.4, both ways.

  etcd_backup_interop.py --tool build/tests/storage/backup_test_tool --mode MODE

MODE
  ketcd-to-etcd  a random history (binary and long keys, 100 KiB values,
                 txns, deletes, a lease, a compaction) encoded by ketcd:
                 `etcdctl snapshot status` reports the revision, key count,
                 hash and size ketcd computed; `etcdctl snapshot restore` and
                 etcd on the restored dir serve every key with its value,
                 create/mod revision, version and lease, the history above
                 the compaction, the compaction itself, and the next write
                 gets the next revision.
  etcd-to-ketcd  a backup made by etcd (make_etcd_backups.py) decoded by
                 ketcd: the same status as etcdctl's, and the facts etcd
                 wrote (revisions kept by the compaction, live keys, lease,
                 member, cluster version, consistent index, auth records);
                 re-encoded by ketcd they hash as etcd's file does (the
                 same bytes in every bucket).
  checked-in     the same checks on the backup checked in under testdata/
                 (made by make_etcd_backups.py with Debian's etcd 3.4.23),
                 with no etcd needed.
  random-bbolt   random bbolt files from ketcd's writer (nested, inline and
                 deep buckets, overflow pages) pass `etcdctl snapshot status`
                 (bbolt's own consistency check) with the expected hash.
Exit 0 pass, 1 failure, 77 when Debian's etcd/etcdctl are missing. Each mode
bounds itself (--timeout) and removes its processes and temp dirs.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import etcd_process as ep  # noqa: E402
from make_etcd_backups import make_backup  # noqa: E402

LEASE_ID = 7
TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")


def check(cond, what):
    if not cond:
        raise ep.Failure(what)


def log(msg):
    print("[backup-interop] %s" % msg, flush=True)


def run_tool(tool, *args, stdin=None):
    p = subprocess.run([tool] + list(args), input=stdin, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise ep.Failure("%s %s failed: %s" % (tool, " ".join(args), p.stderr.strip()))
    return json.loads(p.stdout)


def kept_by_compaction(changes, compact_rev):
    """etcd's compaction: all changes above the revision, and for each key its
    newest change at or below it unless that is a deletion."""
    newest = {}
    for c in changes:
        if c["main"] <= compact_rev:
            newest[c["key"]] = c
    return [c for c in changes
            if c["main"] > compact_rev or (newest.get(c["key"]) is c and not c["tombstone"])]


def state_at(changes, rev):
    """key -> change: the live keys after replaying changes up to rev."""
    live = {}
    for c in changes:
        if c["main"] > rev:
            break
        if c["tombstone"]:
            live.pop(c["key"], None)
        else:
            live[c["key"]] = c
    return live


def kv_tuple(kv):
    """An etcdctl JSON kv as comparable bytes and numbers."""
    return (ep.unb64(kv["key"]), ep.unb64(kv.get("value")), kv.get("create_revision", 0),
            kv.get("mod_revision", 0), kv.get("version", 0), kv.get("lease", 0))


def change_tuple(c):
    return (c["key"], c["value"], c["create"], c["main"], c["version"], c["lease"])


def status_fields(st):
    return {k: st[k] for k in ("hash", "revision", "totalKey", "totalSize")}


# ---------------------------------------------------------------- ketcd -> etcd
def random_history(rng, revisions):
    keys = [b"plain/a", b"plain/b"] + [b"plain/%03d" % i for i in range(60)]
    keys += [bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))) for _ in range(60)]
    keys += [b"long/" + bytes([97 + i % 26]) * rng.randint(500, 2000) for i in range(20)]
    changes, live = [], {}
    for main in range(2, revisions + 2):
        subs = 1 if rng.random() < 0.8 else rng.randint(2, 5)
        for sub, key in enumerate(rng.sample(keys, subs) if main > 2 else [b"plain/a"]):
            c = {"main": main, "sub": sub, "key": key, "tombstone": False,
                 "value": b"", "create": 0, "version": 0, "lease": 0}
            if key in live and rng.random() < 0.2:
                c["tombstone"] = True
                del live[key]
            else:
                size = 100 * 1024 if rng.random() < 0.01 else rng.randint(0, 300)
                c["value"] = bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64 + 1)
                c["value"] = c["value"][:size]
                prev = live.get(key)
                c["create"] = prev["create"] if prev else main
                c["version"] = prev["version"] + 1 if prev else 1
                c["lease"] = LEASE_ID if rng.random() < 0.1 else 0
                live[key] = c
            changes.append(c)
    return changes


def backup_spec(changes, compact_rev):
    lines = ["index 1000", "compact %d" % compact_rev, "cluster 3.5.0",
             "lease %d 3600 0" % LEASE_ID, "lease 9 60 0",
             "member 8e9e05c52164694d ketcd-m1 http://127.0.0.1:2380 http://127.0.0.1:2379"]
    for c in changes:
        if c["tombstone"]:
            lines.append("del %d %d %s" % (c["main"], c["sub"], c["key"].hex()))
        else:
            lines.append("put %d %d %s %s %d %d %d" % (c["main"], c["sub"], c["key"].hex(),
                                                      c["value"].hex() or "-", c["create"],
                                                      c["version"], c["lease"]))
    return "\n".join(lines) + "\n"


def check_served(member, kept, rev):
    out = ep.etcdctl_json("get", "", "--prefix", "--rev=%d" % rev, endpoint=member.client)
    got = sorted(kv_tuple(kv) for kv in out.get("kvs", []))
    want = sorted(change_tuple(c) for c in state_at(kept, rev).values())
    if got != want:
        diff = next((g, w) for g, w in zip(got + [None], want + [None]) if g != w)
        raise ep.Failure("at revision %d etcd serves %d keys, expected %d (first difference: %.300s)"
                         % (rev, len(got), len(want), diff))
    return out


def ketcd_to_etcd(tool, ws):
    rng = random.Random(13)
    changes = random_history(rng, 400)
    head = changes[-1]["main"]
    compact_rev = head // 2
    kept = kept_by_compaction(changes, compact_rev)
    backup = ws.path("ketcd.db")
    ours = run_tool(tool, "write-backup", backup, stdin=backup_spec(kept, compact_rev))
    log("ketcd wrote %s: %s" % (backup, ours))
    theirs = ep.etcdctl_json("snapshot", "status", backup)
    check(status_fields(theirs) == ours, "etcdctl snapshot status %s, ketcd computed %s" % (theirs, ours))
    check(ours["revision"] == head and ours["totalKey"] > len(kept), "status %s" % ours)
    # Restore as the guide does it, and serve.
    peer_port = ep.free_port()
    data_dir = ws.path("restored")
    ep.etcdctl("snapshot", "restore", backup, "--name", "m1", "--data-dir", data_dir,
               "--initial-cluster", "m1=%s" % ep.peer_url(peer_port),
               "--initial-advertise-peer-urls", ep.peer_url(peer_port),
               "--initial-cluster-token", "backup-test")
    member = ep.start_etcd(ws, data_dir, name="m1", peer_port=peer_port)
    out = check_served(member, kept, head)
    check(out["header"]["revision"] == head, "etcd at revision %s, backup at %d" % (out["header"], head))
    for rev in sorted(rng.sample(range(compact_rev, head), 5)):
        check_served(member, kept, rev)
    code, _, err = ep.etcdctl("get", "plain/a", "--rev=%d" % (compact_rev - 1), endpoint=member.client,
                              check=False)
    check(code != 0 and "compacted" in err, "a read below the compaction: %d %s" % (code, err))
    ttl = ep.etcdctl_json("lease", "timetolive", "%x" % LEASE_ID, "--keys", endpoint=member.client)
    leased = sorted(c["key"] for c in state_at(kept, head).values() if c["lease"] == LEASE_ID)
    check(ttl.get("granted-ttl") == 3600 and sorted(map(ep.unb64, ttl.get("keys", []))) == leased,
          "lease %d after restore: %s (expected %d keys)" % (LEASE_ID, ttl, len(leased)))
    after = ep.etcdctl_json("put", "after-restore", "x", endpoint=member.client)
    check(after["header"]["revision"] == head + 1, "a write after restore got %s" % after["header"])
    log("etcd serves the restored backup: %d revisions kept, head %d, compacted at %d"
        % (len(kept), head, compact_rev))


# ---------------------------------------------------------------- etcd -> ketcd
def etcd_to_ketcd(tool, ws):
    check_decoded(tool, ws, make_backup(ws, ws.path("etcd.db")))


def checked_in(tool, ws):
    with open(os.path.join(TESTDATA, "etcd34.expected.json")) as f:
        exp = json.load(f)
    exp["backup"] = os.path.join(TESTDATA, exp["backup"])
    check_decoded(tool, ws, exp)


def check_decoded(tool, ws, exp):
    """ketcd's decoder on etcd's backup exp["backup"] against the facts
    make_etcd_backups.py recorded."""
    dump = run_tool(tool, "dump", exp["backup"])
    check(dump["check"] == "OK", "bbolt check of etcd's backup: %s" % dump["check"])
    check(dump["status"] == status_fields(exp["status"]),
          "ketcd's status %s, etcdctl's %s" % (dump["status"], exp["status"]))
    facts = dump["facts"]
    check(facts["compactRev"] == exp["compact_rev"] == facts["scheduledCompactRev"], "compaction %s" % facts)
    check({"id": exp["lease"]["id"], "ttl": 3600, "remainingTtl": 0} in facts["leases"],
          "leases %s, expected %s" % (facts["leases"], exp["lease"]))
    members = [json.loads(bytes.fromhex(m)) for m in facts["members"]]
    m = exp["member"]
    check(len(members) == 1 and members[0]["name"] == m["name"] and members[0]["peerURLs"] == [m["peer"]]
          and members[0]["clientURLs"] == [m["client"]], "members %s, expected %s" % (members, m))
    check(bytes.fromhex(facts["clusterVersion"]).startswith(b"3.4"), "cluster version %s" % facts)
    check(0 < facts["consistentIndex"] <= exp["raft_index"], "consistent index %s" % facts)
    auth = exp["auth"]
    check((facts["authEnabled"], facts["authRevision"], facts["users"], facts["roles"]) ==
          (auth["enabled"], auth["revision"], auth["users"], auth["roles"]), "auth %s, expected %s" % (facts, auth))
    revs = dump["revisions"]
    got = [(r["main"], r["sub"], bytes.fromhex(r["key"]), r["tombstone"]) for r in revs]
    changes = [{"main": c[0], "sub": c[1], "key": c[2].encode(), "tombstone": c[3]} for c in exp["changes"]]
    want = [(c["main"], c["sub"], c["key"], c["tombstone"]) for c in kept_by_compaction(changes, exp["compact_rev"])]
    check(got == want, "revisions in etcd's backup %s, expected %s" % (got, want))
    live = {}
    for r in revs:
        key = bytes.fromhex(r["key"])
        if r["tombstone"]:
            live.pop(key, None)
        else:
            live[key] = (key, bytes.fromhex(r["value"]), r["create"], r["mod"], r["version"], r["lease"])
    check(sorted(live.values()) == sorted(kv_tuple(kv) for kv in exp["live"]),
          "the live keys decoded differ from what etcd served")
    # Re-encoded by ketcd, the same facts hash the same: every bucket's bytes
    # (KeyValue and Lease protobufs, member JSON, meta) are etcd's own.
    again = run_tool(tool, "reencode", exp["backup"], ws.path("reencoded.db"))
    check({k: again[k] for k in ("hash", "revision", "totalKey")} ==
          {k: exp["status"][k] for k in ("hash", "revision", "totalKey")},
          "ketcd's re-encoding of etcd's backup: %s, etcd's: %s" % (again, exp["status"]))
    log("ketcd decodes etcd's backup: %d revisions, compaction %d, status %s"
        % (len(revs), exp["compact_rev"], dump["status"]))


# ---------------------------------------------------------------- random bbolt
def random_bbolt(tool, ws):
    for seed in range(1, 9):
        path = ws.path("random-%d.db" % seed)
        ours = run_tool(tool, "random-bbolt", path, str(seed))
        theirs = ep.etcdctl_json("snapshot", "status", path)
        check(status_fields(theirs) == ours, "seed %d: etcdctl says %s, expected %s" % (seed, theirs, ours))
        log("seed %d: etcdctl snapshot status agrees: %s" % (seed, ours))


MODES = {"ketcd-to-etcd": ketcd_to_etcd, "etcd-to-ketcd": etcd_to_ketcd, "random-bbolt": random_bbolt,
         "checked-in": checked_in}
# Modes that need no etcd process.
OFFLINE = {"checked-in"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--mode", required=True, choices=sorted(MODES))
    ap.add_argument("--timeout", type=int, default=150)
    args = ap.parse_args()
    if args.mode not in OFFLINE and not ep.have_etcd():
        log("SKIP: needs /usr/bin/etcd and /usr/bin/etcdctl")
        return 77

    def on_alarm(*_):
        raise ep.Failure("timed out after %ds" % args.timeout)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.timeout)
    try:
        with ep.Workspace() as ws:
            MODES[args.mode](args.tool, ws)
    except ep.Failure as e:
        log("FAIL: %s" % e)
        return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
