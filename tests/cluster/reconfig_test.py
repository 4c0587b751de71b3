#!/usr/bin/env python3
"""Membership changes under load and under crashes, with etcdctl 3.4; the
same script runs against ketcd and, to check the test itself, Debian's etcd
3.4:

    /usr/bin/python3 reconfig_test.py --server BUILD/server/ketcd [--seeds 12]
    /usr/bin/python3 reconfig_test.py --server /usr/bin/etcd

Writers put distinct keys through the three original members the whole
time (moving to the next member on an error, as a client would).
  - a member started with --initial-cluster-state existing that nobody
    added refuses to start ("error validating peerURLs"), nothing changes;
  - scale 3 -> 5 -> 3: two members added with `member add` and started from
    the ETCD_* lines it prints, each serving linearizable reads before the
    next change, then both removed (each stops by itself); the writers see
    no error but etcd's retriable ones (UNAVAILABLE, a deadline);
  - for each seed, the leader is killed -9 at a seeded moment while a
    `member add` (even seeds) or a `member remove` of the fourth member
    (odd seeds) is in flight, then restarted: every member then lists the
    same members, an acknowledged change is in that list, the cluster
    serves writes, and the fourth member is brought back to a known state
    (started, or removed) for the next seed;
  - at the end: no acknowledged put lost (each read back with its value and
    revision), HashKV equal on every member.
Every process is stopped by PID; the temp dir is removed; bounded by
--timeout.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import scenario_lib  # noqa: E402
from scenario_lib import log, soft_check as check  # noqa: E402
import membership_test as mt  # noqa: E402
import grpc  # noqa: E402
import etcd3.etcdrpc as etcdrpc  # noqa: E402

# Without the strict check's 5 s of connectivity after each restart; the
# seeds' changes come right after a crash, which is the point.
FLAGS = mt.FLAGS + ["--strict-reconfig-check=false"]
# What etcd's clients retry or report as an indefinite outcome.
RETRIABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class Writers:
    """Threads putting distinct keys through the original members."""

    def __init__(self, endpoints, count=2):
        self.endpoints = endpoints
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.attempts, self.acks, self.errors = {}, [], {}
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(10)

    def unexpected_errors(self):
        return {k: n for k, n in self.errors.items() if k[0] not in RETRIABLE}

    def _run(self, wid):
        idx, n, stub, channel = wid, 0, None, None
        while not self.stop.is_set():
            if stub is None:
                channel = grpc.insecure_channel(self.endpoints[idx % len(self.endpoints)])
                stub = etcdrpc.KVStub(channel)
            key, value = "load/w%d/%06d" % (wid, n), "v%d.%d" % (wid, n)
            n += 1
            with self.lock:
                self.attempts[key] = value
            try:
                r = stub.Put(etcdrpc.PutRequest(key=key.encode(), value=value.encode()), timeout=3)
            except grpc.RpcError as e:
                with self.lock:
                    k = (e.code(), e.details())
                    self.errors[k] = self.errors.get(k, 0) + 1
                channel.close()
                stub, idx = None, idx + 1
                time.sleep(0.05)
                continue
            with self.lock:
                self.acks.append({"k": key, "v": value, "rev": r.header.revision})
            time.sleep(0.01)
        if channel is not None:
            channel.close()


def leader(c):
    """The live member the live members name as leader, or None."""
    by_id, named = {}, set()
    for m in c.members:
        if m.alive():
            rc, out, err = mt.etcdctl(m.endpoint, "endpoint", "status", "-w", "json")
            if rc == 0:
                s = json.loads(out)[0]["Status"]
                by_id[s["header"]["member_id"]] = m
                named.add(s.get("leader", 0))
    return by_id.get(named.pop()) if len(named) == 1 else None


def join(c, ep, name):
    """member add + start; returns (member, id) once it serves a linearizable read."""
    j, mid = mt.add_member(c, ep, name, learner=False)
    if j is None:
        check("member add %s" % name, False, mid)
        return None, 0
    j.spawn()
    ok, last = mt.wait("%s serves" % name, lambda: (lambda r: (r[0] == 0, r))(
        mt.etcdctl(j.endpoint, "get", "load", "--prefix", "--limit=1")), 30)
    check("%s joins and serves linearizable reads" % name, ok, str(last) + j.log_tail(10))
    return j, mid


def remove(c, ep, m, mid):
    rc, out, err = mt.etcdctl(ep, "member", "remove", "%x" % mid)
    check("member remove %s" % m.name, rc == 0, err)
    ok, _ = mt.wait("%s exits" % m.name, lambda: (not m.alive(), None), 15)
    check("%s stops by itself once removed" % m.name, ok, m.log_tail(10))
    if m.alive():
        m.kill9()


def unannounced_joiner(c, originals):
    """A member started with --initial-cluster-state existing that nobody
    added: it must refuse to start (etcd: "error validating peerURLs")."""
    ports = harness.free_ports(2)
    url = "http://127.0.0.1:%d" % ports[1]
    env = {"ETCD_INITIAL_CLUSTER": ",".join(["%s=%s" % (m.name, m.peer_url) for m in originals] + ["x=" + url]),
           "ETCD_INITIAL_CLUSTER_STATE": "existing"}
    j = harness.Member(c.binary, "x", c, os.path.join(c.tmpdir, "x"), ports, FLAGS, env_extra=env)
    j.cluster_flags = lambda: []
    c.members.append(j)
    j.spawn()
    ok, _ = mt.wait("unannounced joiner exits", lambda: (not j.alive(), None), 20)
    tail = j.log_tail(20)
    check("a member nobody added refuses to join, naming the mismatch",
          ok and j.proc.returncode != 0 and "error validating peerURLs" in tail, tail)
    if j.alive():
        j.kill9()
    c.members.remove(j)
    check("the cluster still lists three members", len(mt.members(originals[0].endpoint)) == 3)


def scale(c, originals):
    ep = originals[0].endpoint
    j4, id4 = join(c, ep, "m4")
    j5, id5 = join(c, ep, "m5") if j4 else (None, 0)
    listed = mt.members(ep)
    check("five members listed, all started", len(listed) == 5 and all(m.get("name") for m in listed.values()),
          str(listed))
    time.sleep(2)  # writes go on with five voters
    for j, mid in ((j5, id5), (j4, id4)):
        if j:
            remove(c, ep, j, mid)
    check("three members listed after scaling down", len(mt.members(ep)) == 3)


def agreed_members(c):
    """Every live member's linearizable member list, once they agree."""
    def same():
        views = []
        for m in c.members:
            if m.alive():
                rc, out, err = mt.etcdctl(m.endpoint, "member", "list", "-w", "json")
                if rc != 0:
                    return False, err
                views.append(sorted((x["ID"], tuple(x.get("peerURLs", []))) for x in json.loads(out)["members"]))
        return all(v == views[0] for v in views), views
    ok, views = mt.wait("member lists agree", same, 20, step=0.5)
    return ok, {i for i, _ in views[0]} if ok else set()


def crash_seed(c, originals, seed, fourth):
    """One seed; `fourth` is (member, id) or None. Returns the new `fourth`."""
    rnd = random.Random(seed)
    mt.settle(c)
    chief = leader(c)
    if chief is None:
        check("seed %d: a leader" % seed, False)
        return fourth
    ep = ",".join(m.endpoint for m in originals if m is not chief)
    adding = fourth is None
    if adding:
        port = harness.free_ports(2)
        name = "s%d" % seed
        args = ["member", "add", name, "--peer-urls=http://127.0.0.1:%d" % port[1]]
    else:
        args = ["member", "remove", "%x" % fourth[1]]
    proc = subprocess.Popen([harness.ETCDCTL, "--endpoints=" + ep, "--dial-timeout=2s", "--command-timeout=10s"]
                            + args, env=harness.etcdctl_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # etcdctl takes some tens of ms to start: some changes are acknowledged
    # before the kill, some are cut off before or after their commit.
    time.sleep(rnd.uniform(0.0, 0.12))
    chief.kill9()
    out, err = proc.communicate(timeout=30)
    acked = proc.returncode == 0
    log("seed %d: %s with the leader %s killed: %s" % (seed, args[1], chief.name,
                                                       "acknowledged" if acked else err.decode().strip().splitlines()[-1][-100:]))
    chief.spawn()
    chief.wait_healthy(20)
    ok, ids = agreed_members(c)
    check("seed %d: every member lists the same members after the crash" % seed, ok)
    if adding:
        names = {i: m.get("name") for i, m in mt.members(originals[0].endpoint).items()}
        new = [i for i in ids if not names.get(i)]
        check("seed %d: an acknowledged add is in the list" % seed, not acked or len(new) == 1, str(names))
        log("seed %d: the add %s applied" % (seed, "was" if new else "was not"))
        for i in new:  # added but never started: take it out again
            rc, _, e = mt.etcdctl(originals[0].endpoint, "member", "remove", "%x" % i)
            check("seed %d: the unstarted member is removed" % seed, rc == 0, e)
    else:
        present = fourth[1] in ids
        check("seed %d: an acknowledged remove is not in the list" % seed, not (acked and present), str(ids))
        log("seed %d: the remove %s applied" % (seed, "was not" if present else "was"))
        if present:
            remove(c, originals[0].endpoint, fourth[0], fourth[1])
        else:
            mt.wait("%s exits" % fourth[0].name, lambda: (not fourth[0].alive(), None), 15)
            check("seed %d: the removed member stops" % seed, not fourth[0].alive(), fourth[0].log_tail(10))
            if fourth[0].alive():
                fourth[0].kill9()
        fourth = None
    # Within an election timeout or two (a removal can move the leadership).
    ok, last = mt.wait("writes", lambda: (lambda r: (r[0] == 0, r))(
        mt.etcdctl(",".join(m.endpoint for m in originals), "put", "seed/%d" % seed, "ok")), 15, step=0.5)
    check("seed %d: the cluster takes writes" % seed, ok, str(last))
    if adding:
        mt.settle(c)
        j, mid = join(c, originals[0].endpoint, "f%d" % seed)
        fourth = (j, mid) if j else None
    return fourth


def final_checks(c, originals, writers):
    writers.finish()
    log("writers: %d acknowledged of %d attempted; errors %s" % (
        len(writers.acks), len(writers.attempts),
        {"%s %s" % (k[0].name, k[1]): n for k, n in writers.errors.items()}))
    check("the writers saw only retriable errors", not writers.unexpected_errors(), str(writers.unexpected_errors()))
    check("writes were acknowledged throughout", len(writers.acks) > 50, str(len(writers.acks)))
    channel = grpc.insecure_channel(originals[0].endpoint)
    r = etcdrpc.KVStub(channel).Range(etcdrpc.RangeRequest(key=b"load/", range_end=b"load0"), timeout=30)
    channel.close()
    present = {kv.key.decode(): {"value": kv.value.decode(), "create_revision": kv.create_revision,
                                 "mod_revision": kv.mod_revision} for kv in r.kvs}
    problems, unacked, _ = harness.check_acks(writers.attempts, writers.acks, present, r.header.revision)
    check("no acknowledged put lost (%d present, %d unacknowledged among them)" % (len(present), unacked),
          not problems, "\n".join(problems[:20]))
    mt.hashkv_equal(c, "HashKV equal on every member at the end")


def run(c, seeds):
    originals = list(c.members)
    for i in range(1, 21):
        mt.etcdctl(originals[0].endpoint, "put", "k%d" % i, "v%d" % i)
    mt.etcdctl(originals[0].endpoint, "put", "after-join", "x")  # hashkv_equal reads its revision
    writers = Writers([m.endpoint for m in originals])
    writers.start()
    unannounced_joiner(c, originals)
    scale(c, originals)
    fourth = None
    for seed in range(seeds):
        fourth = crash_seed(c, originals, seed, fourth)
    mt.etcdctl(originals[0].endpoint, "put", "after-join", "y")
    final_checks(c, originals, writers)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--seeds", type=int, default=12)
    known, rest = ap.parse_known_args()
    sys.argv = [sys.argv[0]] + rest
    sys.exit(scenario_lib.soft_main(lambda c: run(c, known.seeds), FLAGS, default_timeout=400))
