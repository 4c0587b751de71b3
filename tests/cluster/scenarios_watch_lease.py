"""Cluster scenario: watch_lease_failover."""

import argparse
import base64
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib


sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))
sys.path.insert(0, HERE)

import harness  # noqa: E402,F401
import cluster_lib as lib  # noqa: E402
from cluster_lib import *  # noqa: E402,F401,F403


def grant(member, ttl):
    r = ctl_ok(member, ["lease", "grant", str(ttl)], "lease grant via %s" % member.name)
    m = re.match(r"lease ([0-9a-f]+) granted", r.out)
    if not m:
        raise Failure("lease grant printed %r" % r.out)
    return m.group(1)


def count_prefix(member, prefix):
    """Keys under prefix in the member's own state (serializable)."""
    j = ctl_json(member, ["get", prefix, "--prefix", "--consistency=s"],
                 "get %s via %s" % (prefix, member.name))
    return len(j.get("kvs") or [])


WL_WRITES, WL_WATCHERS, WL_TTL = 10000, 100, 4


def sc_watch_lease_failover(ctx):
    """100 watchers (a third on each member) see every one of 10,000 writes in
    order while the leader is killed half-way; those on the dead leader re-watch
    from their last revision + 1 elsewhere. A lease with keys expires across the
    leader change within bounds; a kept-alive lease outlives it."""
    c = ctx.cluster()
    ctx.start(c)
    lm, term, _ = wait_leader(c, c.members, 10)
    f1, f2 = [m for m in c.members if m is not lm]
    lb = grant(f1, WL_TTL)
    ctl_ok(f2, ["put", "--lease=" + lb, "lb/1", "x"], "put with lease B")
    keeper = subprocess.Popen([harness.ETCDCTL, "--endpoints=%s,%s" % (f1.endpoint, f2.endpoint),
                               "lease", "keep-alive", lb], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=harness.etcdctl_env(),
                              preexec_fn=harness._die_with_parent)
    wdir = os.path.join(c.tmpdir, "watch")
    os.makedirs(wdir, exist_ok=True)
    until = os.path.join(wdir, "UNTIL")
    start_rev = dump(lm)[0] + 1
    # Four client processes of 25 watchers (Python parses ~10^6 events here).
    per = WL_WATCHERS // 4
    outs = [os.path.join(wdir, "events%d.json" % p) for p in range(4)]
    watchers = [subprocess.Popen(
        [harness.PYTHON, os.path.join(HERE, "watch_client.py"),
         "--endpoints", ",".join(m.endpoint for m in (f1, lm, f2)), "--prefix", "wl/",
         "--start-rev", str(start_rev), "--watchers", str(per), "--index-base", str(p * per),
         "--out", outs[p], "--until-file", until, "--max-seconds", "170"],
        stdin=subprocess.DEVNULL, env=harness.clean_env({"PYTHONDONTWRITEBYTECODE": "1"}),
        preexec_fn=harness._die_with_parent) for p in range(4)]
    try:
        time.sleep(1.0)  # the watchers are in place
        # Four writers: on 2 cores the servers also feed 100 watchers and
        # four Python clients parse ~10^6 responses.
        ld = ctx.load(c, "wl", workers=4)
        ld.wait_acks(WL_WRITES * 3 // 10, 60, "writes before the kill")
        # Lease A is granted 1 s before the kill: it expires during the
        # leader change, and the new leader must revoke it.
        la = grant(f1, WL_TTL)
        for i in range(3):
            ctl_ok(f1, ["put", "--lease=" + la, "la/%d" % i, "x"], "put with lease A")
        time.sleep(1.0)
        if count_prefix(f2, "la/") != 3:
            raise Failure("lease A's keys are not on %s before the kill" % f2.name)
        t_kill = time.monotonic()
        lm.kill9()
        log("SIGKILL leader %s after %d acknowledged writes; lease A (TTL %ds) is not kept alive"
            % (lm.name, ld.acks(), WL_TTL))
        new, _, _ = wait_leader(c, [f1, f2], 10, exclude_id=lm.id, what="after the kill")
        t_elected = time.monotonic()
        # Lease A: as in etcd, the new leader gives every lease its TTL plus
        # an election timeout from its promotion; its keys must be gone on
        # both survivors within that, plus 3.5 s: the lessor's leadership
        # poll and expiry checks (0.5 s each), its read barrier, the revoke's
        # round trip, and this loop's own polling (two etcdctl runs, up to
        # ~1 s on a loaded 2-core machine).
        bound = WL_TTL + ELECTION_MS / 1000.0 + 3.5
        while True:
            left = [count_prefix(m, "la/") for m in (f1, f2)]
            if left == [0, 0]:
                break
            if time.monotonic() - t_elected > bound:
                raise Failure("lease A's keys still on the survivors %.1fs after the new leader "
                              "(bound %.1fs): %s" % (time.monotonic() - t_elected, bound, left))
            time.sleep(0.2)
        log("lease A's keys gone from both survivors %.2fs after the kill, %.2fs after the new "
            "leader was known (bound %.1fs)" % (time.monotonic() - t_kill,
                                                time.monotonic() - t_elected, bound))
        ld.wait_acks(WL_WRITES, 150, "all writes")
        ld.stop()
        final_rev = dump(new, "l")[0]
        with open(until, "w") as f:
            f.write(str(final_rev))
        res = {"revs": [], "deletes": [], "key_crcs": [], "reconnects": []}
        for p, w in enumerate(watchers):
            try:
                w.wait(timeout=180)
            except subprocess.TimeoutExpired:
                raise Failure("watch client %d did not finish" % p)
            with open(outs[p]) as f:
                part = json.load(f)
            for k in res:
                res[k] += part[k]
        # The write history of wl/: every key is written once (a create).
        d = dump(new, "l")
        hist = sorted((kv["mod_revision"], k) for k, kv in d[1].items()
                      if k.startswith("wl/") and kv["mod_revision"] >= start_rev)
        want_revs = [r for r, _ in hist]
        want_crc = zlib.crc32(b"".join(k.encode() + b"\0" for _, k in hist))
        bad = []
        for i, revs in enumerate(res["revs"]):
            if revs != want_revs or res["key_crcs"][i] != want_crc or res["deletes"][i] != 0:
                dups = len(revs) - len(set(revs))
                bad.append("watcher %d (started on %s, %d reconnects): %d events, want %d; "
                           "%d duplicates, first difference at %s, keys %s" % (
                               i, (f1, lm, f2)[i % 3].name, res["reconnects"][i], len(revs),
                               len(want_revs), dups,
                               next((j for j, (a, b) in enumerate(zip(revs, want_revs)) if a != b),
                                    min(len(revs), len(want_revs))),
                               "equal" if res["key_crcs"][i] == want_crc else "differ"))
        want = want_revs
        if bad:
            raise Failure("%d of %d watchers did not see exactly the write history:\n  %s"
                          % (len(bad), WL_WATCHERS, "\n  ".join(bad[:5])))
        moved = sum(1 for i, n in enumerate(res["reconnects"]) if n > 0 and i % 3 == 1)
        log("all %d watchers saw exactly the %d writes in order (final revision %d); %d of the "
            "watchers on the killed leader re-watched on a survivor"
            % (WL_WATCHERS, len(want), final_rev, moved))
        if moved == 0:
            raise Failure("no watcher on the killed leader re-watched: the failover went untested")
        # Lease B outlived the leader change, kept alive through the survivors.
        for m in (f1, f2):
            if count_prefix(m, "lb/") != 1:
                raise Failure("lease B's key is gone on %s though it was kept alive" % m.name)
        log("kept-alive lease B and its key survived the leader change (%.1fs after the kill)"
            % (time.monotonic() - t_kill))
        lm.start(health_timeout=30)
        d2, _ = wait_converged(c.members, 30, "after the old leader's return")
        if any(k.startswith("la/") for k in d2[1]) or "lb/1" not in d2[1]:
            raise Failure("after its return, %s disagrees on the leases' keys" % lm.name)
        check_hashkv(c.members, "after the old leader's return")
    finally:
        for p in [keeper] + watchers:
            if p.poll() is None:
                p.kill()
                p.wait()
