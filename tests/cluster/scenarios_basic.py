"""Cluster scenarios: bootstrap, readwrite, leader_kill, kill_all, partition."""

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


def sc_bootstrap(ctx):
    c = ctx.cluster()
    ctx.start(c)
    lm, term = check_one_leader(c, c.members, "bootstrap")
    log("leader %s (%x), term %d" % (lm.name, lm.id, term))
    want_eps = sorted(m.client_url for m in c.members)
    # endpoint status --cluster needs the members' client URLs: bounded wait for them
    deadline = time.monotonic() + 15
    for m in c.members:
        while True:
            r = ctl(m, ["endpoint", "status", "--cluster", "-w", "json"])
            problem = None
            if r.rc != 0:
                problem = "etcdctl failed: %r" % r
            else:
                try:
                    j = json.loads(r.out)
                    eps = sorted(e["Endpoint"] for e in j)
                    leaders = {e["Status"].get("leader", 0) for e in j}
                    terms = {e["Status"]["raftTerm"] for e in j}
                    ids = sorted(e["Status"]["header"]["member_id"] for e in j)
                    if eps != want_eps:
                        problem = "endpoints %s, want %s" % (eps, want_eps)
                    elif ids != sorted(mm.id for mm in c.members):
                        problem = "member ids %s, want %s" % (ids, sorted(mm.id for mm in c.members))
                    elif leaders != {lm.id}:
                        problem = "leaders %s, want {%d}" % (leaders, lm.id)
                    elif terms != {term}:
                        problem = "raft terms %s, want {%d}" % (terms, term)
                except (ValueError, KeyError, TypeError) as e:
                    problem = "bad JSON (%s): %r" % (e, r.out[:500])
            if problem is None:
                break
            if time.monotonic() >= deadline:
                raise Failure("endpoint status --cluster via %s: %s" % (m.name, problem))
            time.sleep(0.2)
        log("endpoint status --cluster via %s: 3 endpoints, leader %x, term %d"
            % (m.name, lm.id, term))
    r = ctl_ok(c.members[0], ["endpoint", "status", "--cluster", "-w", "table"], "status table")
    print(r.out, end="", flush=True)
    ml = ctl_json(c.members, ["member", "list"], "member list")
    got = sorted((x.get("name"), tuple(x.get("peerURLs") or []), tuple(x.get("clientURLs") or []),
                  x["ID"]) for x in ml.get("members", []))
    want = sorted((m.name, (m.peer_url,), (m.client_url,), m.id) for m in c.members)
    if got != want:
        raise Failure("member list: got %s, want %s" % (got, want))
    r = ctl_ok(c.members, ["member", "list", "-w", "table"], "member list table")
    print(r.out, end="", flush=True)
    r = ctl_ok(c.members[1], ["endpoint", "health", "--cluster"], "endpoint health")
    healthy = [ln for ln in (r.out + r.err).splitlines() if "is healthy" in ln]
    if len(healthy) != 3:
        raise Failure("endpoint health --cluster: %d healthy endpoints: %r" % (len(healthy), r))
    print(r.out + r.err, end="", flush=True)


def sc_readwrite(ctx):
    c = ctx.cluster()
    ctx.start(c)
    lm, term = check_one_leader(c, c.members, "readwrite")
    log("leader %s, term %d" % (lm.name, term))
    expect = {}  # key -> (value, mod_revision, version) or None (deleted)
    n_per_member = 15
    # unique keys through each member; read each back linearizably through another member
    for i, m in enumerate(c.members):
        other = c.members[(i + 1) % 3]
        for n in range(n_per_member):
            k, v = "rw/%s/%03d" % (m.name, n), "val-%s-%d-%d" % (m.name, n, random.getrandbits(32))
            rev = ctl_json(m, ["put", k, v], "put via %s" % m.name)["header"]["revision"]
            expect[k] = (v, rev, 1)
            g = ctl_json(other, ["get", k], "linearizable get via %s" % other.name)
            kvs = g.get("kvs") or []
            if len(kvs) != 1 or b64(kvs[0]["value"]) != v or kvs[0]["mod_revision"] != rev:
                raise Failure("read-after-write: put %s=%s via %s acked at rev %d, linearizable "
                              "get via %s returned %s" % (k, v, m.name, rev, other.name, g))
    # one key overwritten through every member in turn
    for rnd in range(3):
        for i, m in enumerate(c.members):
            v = "shared-%d-%s" % (rnd, m.name)
            rev = ctl_json(m, ["put", "rw/shared", v], "put via %s" % m.name)["header"]["revision"]
            ver = rnd * 3 + i + 1
            expect["rw/shared"] = (v, rev, ver)
    # deletes and a txn through followers and the leader
    for i, m in enumerate(c.members):
        k = "rw/%s/%03d" % (c.members[(i + 2) % 3].name, 0)
        j = ctl_json(m, ["del", k], "delete via %s" % m.name)
        if j.get("deleted", 0) != 1:
            raise Failure("delete %s via %s: %s" % (k, m.name, j))
        expect[k] = None
    txn_m = c.members[(c.members.index(lm) + 1) % 3]
    stdin = b'value("rw/shared") = "shared-2-%s"\n\nput rw/txn yes\n\nput rw/txn no\n\n' % (
        c.members[2].name.encode())
    r = ctl_ok(txn_m, ["txn", "-w", "json"], "txn via %s" % txn_m.name, stdin=stdin)
    j = json.loads(r.out)
    if not j.get("succeeded"):
        raise Failure("txn via %s: compare should succeed: %s" % (txn_m.name, r.out))
    expect["rw/txn"] = ("yes", j["header"]["revision"], 1)
    final_rev = j["header"]["revision"]
    log("%d puts, 3 deletes, 1 txn through all members; last revision %d"
        % (n_per_member * 3 + 9, final_rev))

    def mismatches(d):
        rev, kvs = d
        bad = []
        for k, e in sorted(expect.items()):
            kv = kvs.get(k)
            if e is None:
                if kv is not None:
                    bad.append("%s deleted but present: %s" % (k, kv))
            elif kv is None:
                bad.append("%s missing (want %s)" % (k, e))
            elif (kv["value"], kv["mod_revision"], kv["version"]) != e:
                bad.append("%s: got (value, mod_revision, version) = %s, want %s"
                           % (k, (kv["value"], kv["mod_revision"], kv["version"]), e))
        extra = sorted(set(kvs) - set(expect))
        if extra:
            bad.append("unexpected keys %s" % extra[:5])
        if rev != final_rev:
            bad.append("header revision %d, want %d" % (rev, final_rev))
        return bad

    # linearizable: immediately exact, through every member
    for m in c.members:
        bad = mismatches(dump(m, "l", "linearizable get"))
        if bad:
            raise Failure("linearizable read via %s misses acknowledged writes:\n  %s"
                          % (m.name, "\n  ".join(bad[:20])))
    log("linearizable reads through all 3 members see every acknowledged write")
    # serializable: converge within a bound
    t0 = time.monotonic()
    for m in c.members:
        while True:
            bad = mismatches(dump(m, "s", "serializable get"))
            if not bad:
                break
            if time.monotonic() - t0 > 10:
                raise Failure("serializable read via %s not converged after 10s:\n  %s"
                              % (m.name, "\n  ".join(bad[:20])))
            time.sleep(0.1)
    log("serializable reads converged on all members after %.2fs" % (time.monotonic() - t0))




def sc_leader_kill(ctx):
    c = ctx.cluster()
    ctx.start(c)
    old, term, _ = wait_leader(c, c.members, 10)
    log("leader %s (%x), term %d" % (old.name, old.id, term))
    ld = ctx.load(c, "lk")
    ld.wait_acks(300, 30, "load before the kill")
    survivors = [m for m in c.members if m is not old]
    poller = ctx.poller(c, survivors, "leader-kill")
    before = ld.acks()
    t_kill = time.monotonic()
    old.kill9()
    log("SIGKILL leader %s (pid %d) after %d acknowledged writes" % (old.name, old.proc.pid, before))
    lid, _, t_first, t_all = poller.wait_new_leader(t_kill, old.id, 10,
                                                    "after killing the leader")
    poller.stop()
    elect = t_first - t_kill
    new, new_term, _ = wait_leader(c, survivors, 10, exclude_id=old.id,
                                   what="after killing the leader")
    if new.id != lid:
        raise Failure("the survivors first agreed on leader %x, then on %s" % (lid, new.name))
    bound = 3 * ELECTION_MS / 1000.0
    if lib.INJECT == "election_bound":  # self-test: an impossible bound
        bound = 0.001
    log("new leader %s, term %d: elected %.3fs after the kill (first survivor reporting it; "
        "bound: 3 election timeouts = %.1fs), both survivors agree after %.3fs"
        % (new.name, new_term, elect, bound, t_all - t_kill))
    if new_term <= term:
        raise Failure("new leader's term %d is not above the old term %d" % (new_term, term))
    if elect > bound:
        raise Failure("new leader only after %.3fs > %.1fs (3 election timeouts)" % (elect, bound))
    ld.wait_acks(ld.acks() + 100, 20, "writes after the leader kill")
    log("writes continue: %d acknowledged after the kill" % (ld.acks() - before))
    t = time.monotonic()
    old.start(health_timeout=30)
    log("old leader %s restarted on its data dir, serves linearizable reads after %.2fs"
        % (old.name, time.monotonic() - t))
    time.sleep(2.0)  # keep the load running while it catches up
    ld.stop()
    total = ld.acks()
    log("load stopped: %d acknowledged writes (%d after the kill)" % (total, total - before))
    if total - before <= 0:
        raise Failure("no acknowledged write after the kill")
    d, secs = wait_converged(c.members, 30, "after restart of the old leader")
    log("all 3 members identical after %.2fs: %d keys, revision %d" % (secs, len(d[1]), d[0]))
    verify_acks(ld, d, "lk")
    check_hashkv(c.members, "after restart of the old leader")
    check_one_leader(c, c.members, "end of leader_kill")


def sc_kill_all(ctx):
    c = ctx.cluster()
    ctx.start(c)
    wait_leader(c, c.members, 10)
    ld = ctx.load(c, "ka")
    ld.wait_acks(500, 30, "load before the kill")
    for m in c.members:
        m.kill9()
    log("SIGKILL all 3 members after %d acknowledged writes" % ld.acks())
    ld.stop()
    t = time.monotonic()
    c.start(health_timeout=30)
    log("all 3 restarted on their data dirs, serve linearizable reads after %.2fs"
        % (time.monotonic() - t))
    lm, term = check_one_leader(c, c.members, "after the restart")
    log("leader %s, term %d" % (lm.name, term))
    for m in c.members:  # and the restarted cluster takes writes through every member
        ctl_ok(m, ["put", "ka-after/" + m.name, "x"], "put after restart via %s" % m.name)
    d, secs = wait_converged(c.members, 30, "after restart of all members")
    log("all 3 members identical after %.2fs: %d keys, revision %d" % (secs, len(d[1]), d[0]))
    verify_acks(ld, d, "ka")
    check_hashkv(c.members, "after restart of all members")




def sc_partition(ctx):
    require_failpoints(ctx)
    c = ctx.cluster(env_extra={"KETCD_TEST_FAILPOINTS": "1"})
    ctx.start(c)
    lm, term = check_one_leader(c, c.members, "before the partition")
    time.sleep(1.0)  # a steady leader
    lm2, term2, _ = wait_leader(c, c.members, 5)
    if (lm2, term2) != (lm, term):
        raise Failure("leader not steady: %s term %d, then %s term %d" % (lm.name, term, lm2.name, term2))
    fol = [m for m in c.members if m is not lm]
    f, o = fol[0], fol[1]
    ctl_ok(lm, ["put", "p/before", "1"], "put before the partition")
    wait_converged(c.members, 10, "before the partition")
    log("leader %s, term %d; isolating follower %s (SIGUSR1)" % (lm.name, term, f.name))
    f.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    # linearizable get and put through the isolated follower fail within a bound
    for what, args in (("linearizable get", ["get", "p/before"]),
                       ("put", ["put", "p/isolated", "x"])):
        r = ctl(f, args, cmd_timeout="3s", timeout=15)
        if r.rc == 0:
            raise Failure("%s through isolated follower %s succeeded: %r" % (what, f.name, r))
        if r.rc is None:
            raise Failure("%s through isolated follower %s: no answer within 15s (etcdctl "
                          "--command-timeout=3s)" % (what, f.name))
        log("%s through isolated %s fails after %.2fs: %s"
            % (what, f.name, r.elapsed, (r.err.strip().splitlines() or ["?"])[-1][:200]))
    r = ctl(f, ["get", "p/before", "--consistency=s", "--print-value-only"], cmd_timeout="3s")
    if r.rc != 0 or r.out.strip() != "1":
        raise Failure("serializable get through isolated follower %s: %r" % (f.name, r))
    log("serializable get through isolated %s answers" % f.name)
    for i in range(10):  # the majority keeps serving writes
        for m in (lm, o):
            ctl_ok(m, ["put", "p/maj/%s/%d" % (m.name, i), "v%d" % i],
                   "put via %s during the partition" % m.name, cmd_timeout="3s")
    time.sleep(3.0)  # 6 election timeouts: the isolated member would campaign without pre-vote
    lm2, term2, _ = wait_leader(c, [lm, o], 5, what="majority during the partition")
    if (lm2, term2) != (lm, term):
        raise Failure("majority: leader %s term %d changed to %s term %d during the follower's "
                      "partition" % (lm.name, term, lm2.name, term2))
    log("majority served 20 puts; leader %s term %d unchanged" % (lm.name, term))
    st = status(f)  # Status is local: answers while cut off
    if st is not None:
        log("isolated %s reports term %d, leader %x (with pre-vote its term stays %d)"
            % (f.name, st["term"], st["leader"], term))
    if not f.alive():
        raise Failure("isolated member %s exited (%s)" % (f.name, f.proc.returncode))
    f.send_signal(signal.SIGUSR2)
    log("healed %s (SIGUSR2)" % f.name)
    d, secs = wait_converged(c.members, 20, "after the follower rejoined")
    log("members identical %.2fs after the heal (%d keys, revision %d)" % (secs, len(d[1]), d[0]))
    if "p/isolated" in d[1]:
        log("note: the put through the isolated follower was applied after the heal "
            "(allowed: the client got an error, the outcome is unknown)")
    time.sleep(1.0)
    lm2, term2, _ = wait_leader(c, c.members, 5, what="after the follower rejoined")
    if (lm2, term2) != (lm, term):
        raise Failure("the rejoining follower disrupted the leader: was %s term %d, now %s term %d "
                      "(pre-vote should prevent it)" % (lm.name, term, lm2.name, term2))
    log("after the rejoin: leader %s term %d unchanged" % (lm.name, term))
    ctl_ok(f, ["put", "p/after-rejoin", "ok"], "put via the rejoined follower")

    # now isolate the leader
    old = lm
    others = [m for m in c.members if m is not old]
    poller = ctx.poller(c, others, "leader-isolated")
    t0 = time.monotonic()
    old.send_signal(signal.SIGUSR1)
    log("isolating the leader %s (SIGUSR1)" % old.name)
    lid, _, t_first, t_all = poller.wait_new_leader(t0, old.id, 10,
                                                    "after isolating the leader")
    poller.stop()
    new, new_term, _ = wait_leader(c, others, 10, exclude_id=old.id,
                                   what="after isolating the leader")
    log("new leader %s term %d, elected %.3fs after isolating the leader, both others "
        "agree after %.3fs" % (new.name, new_term, t_first - t0, t_all - t0))
    if new_term <= term:
        raise Failure("new term %d not above %d" % (new_term, term))
    for i in range(5):
        for m in others:
            ctl_ok(m, ["put", "p/maj2/%s/%d" % (m.name, i), "w%d" % i],
                   "put via %s with the old leader isolated" % m.name, cmd_timeout="3s")
    log("the new majority served 10 puts")
    st = status(old)
    if st is not None:
        log("isolated old leader %s reports term %d, leader %x (%s)"
            % (old.name, st["term"], st["leader"],
               "still claims leadership: no check-quorum step-down" if st["leader"] == old.id
               else "stepped down"))
    r = ctl(old, ["put", "p/old-leader", "x"], cmd_timeout="3s", timeout=15)
    if r.rc == 0:
        raise Failure("put through the isolated old leader %s succeeded: %r" % (old.name, r))
    log("put through the isolated old leader fails after %.2fs" % r.elapsed)
    old.send_signal(signal.SIGUSR2)
    log("healed %s (SIGUSR2)" % old.name)
    d, secs = wait_converged(c.members, 20, "after the old leader rejoined")
    lm3, term3 = check_one_leader(c, c.members, "after the old leader rejoined")
    log("one leader %s term %d; members identical %.2fs after the heal (%d keys, revision %d)"
        % (lm3.name, term3, secs, len(d[1]), d[0]))
    for k in ["p/before", "p/after-rejoin"] + ["p/maj/%s/%d" % (m.name, i) for m in (lm, o)
                                                for i in range(10)] + \
             ["p/maj2/%s/%d" % (m.name, i) for m in others for i in range(5)]:
        if k not in d[1]:
            raise Failure("acknowledged put %s missing after the heal" % k)
