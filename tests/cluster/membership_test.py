#!/usr/bin/env python3
"""Membership changes as the HA guide and kubeadm make them, with etcdctl
3.4; the same script runs against ketcd and, to check the test itself,
Debian's etcd 3.4 (every expected string is etcd's):

    /usr/bin/python3 membership_test.py --server BUILD/server/ketcd
    /usr/bin/python3 membership_test.py --server /usr/bin/etcd

On a 3-member cluster with data:
  - refusals, each etcd's message, nothing changed: a peer URL already in
    use, removing or updating an unknown id, promoting a voter, a bad URL;
  - a learner (kubeadm's join): `member add --learner`, started from the
    ETCD_* lines etcdctl prints with --initial-cluster-state existing; it
    refuses linearizable reads ("rpc not supported for learner") and serves
    serializable ones once caught up; a second learner is refused; promote
    (retried while it lags) makes it a voter that serves linearizable reads;
  - the replacement drill: a member killed for good, `member remove`,
    `member add` of a new empty member started from the printed variables:
    it serves every key linearizably; HashKV equal on all members;
  - removing a live member: it stops by itself; it is listed no more;
  - strict reconfiguration: with a voter down, adding a voter is refused
    ("unhealthy cluster") and removing another live voter too;
  - `member update` of a peer URL shows in `member list`.
Every process is stopped by PID; the temp dir is removed; bounded by
--timeout.
"""

import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))

import harness  # noqa: E402
from scenario_lib import soft_check as check  # noqa: E402
import scenario_lib  # noqa: E402


def etcdctl(endpoints, *args, timeout=60):
    return scenario_lib.etcdctl(endpoints, [], *args, timeout=timeout, command_timeout="5s")


FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]
# etcd's strict reconfiguration wants every voter connected for 5 s.
HEALTH_INTERVAL = 5.5


def members(endpoint):
    rc, out, err = etcdctl(endpoint, "member", "list", "-w", "json")
    if rc != 0:
        raise harness.HarnessError("member list failed: " + err)
    return {m["ID"]: m for m in json.loads(out).get("members", [])}


def refused(what, endpoint, args, message):
    rc, out, err = etcdctl(endpoint, *args)
    check(what, rc != 0 and message in err, "rc=%d out=%r err=%r" % (rc, out, err))


def add_member(c, endpoint, name, learner):
    """`member add`; returns (joiner, member id) or (None, error text)."""
    ports = harness.free_ports(2)
    peer_url = "http://127.0.0.1:%d" % ports[1]
    args = ["member", "add", name, "--peer-urls=" + peer_url] + (["--learner"] if learner else [])
    rc, out, err = etcdctl(endpoint, *args)
    if rc != 0:
        return None, err
    printed = dict(re.findall(r'^(ETCD_[A-Z_]+)="(.*)"$', out, re.M))
    m = re.search(r"Member +([0-9a-f]+) added to cluster", out)
    # The harness passes --name and the peer URLs as flags (the same
    # values); etcd refuses a flag and its variable together.
    env = {k: printed[k] for k in ("ETCD_INITIAL_CLUSTER", "ETCD_INITIAL_CLUSTER_STATE") if k in printed}
    j = harness.Member(c.binary, name, c, os.path.join(c.tmpdir, name), ports, FLAGS, env_extra=env)
    j.cluster_flags = lambda: []
    c.members.append(j)  # cleaned up with the cluster
    check("member add %s prints etcd's variables" % name,
          m is not None and printed.get("ETCD_NAME") == name
          and printed.get("ETCD_INITIAL_CLUSTER_STATE") == "existing"
          and printed.get("ETCD_INITIAL_ADVERTISE_PEER_URLS") == peer_url
          and ("%s=%s" % (name, peer_url)) in printed.get("ETCD_INITIAL_CLUSTER", ""), out)
    return j, int(m.group(1), 16) if m else 0


def wait(what, pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = pred()
        if ok:
            return True, last
        time.sleep(step)
    return False, last


def settle(c):
    """Waits until every live member reports the same live leader: an
    operator acts after a crash, not in the election it causes (a change
    proposed to a leader that just died is lost, in etcd as in ketcd, and
    the client times out)."""
    def agreed():
        live = [m for m in c.members if m.alive()]
        ids, leaders = set(), set()
        for m in live:
            rc, out, err = etcdctl(m.endpoint, "endpoint", "status", "-w", "json")
            if rc != 0:
                return False, err
            s = json.loads(out)[0]["Status"]
            ids.add(s["header"]["member_id"])
            # JSON leaves out a zero: a member without a leader (mid-election).
            leaders.add(s.get("leader", 0))
        return len(leaders) == 1 and leaders <= ids, leaders
    ok, last = wait("leader", agreed, 20)
    check("the live members agree on a live leader", ok, str(last))


def refusals(c):
    ep = c.members[0].endpoint
    refused("member add with a peer URL in use", ep,
            ["member", "add", "x", "--peer-urls=" + c.members[1].peer_url], "etcdserver: Peer URLs already exists")
    refused("member remove of an unknown id", ep, ["member", "remove", "1234abcd"], "etcdserver: member not found")
    refused("member update of an unknown id", ep,
            ["member", "update", "1234abcd", "--peer-urls=http://127.0.0.1:1"], "etcdserver: member not found")
    voter = sorted(members(ep))[0]
    refused("member promote of a voter", ep, ["member", "promote", "%x" % voter],
            "etcdserver: can only promote a learner member")
    check("nothing changed after the refusals", len(members(ep)) == 3)


def learner(c):
    ep = c.members[0].endpoint
    j, mid = add_member(c, ep, "learner1", learner=True)
    if j is None:
        check("member add --learner", False, mid)
        return None
    listed = members(ep).get(mid, {})
    check("the added learner is listed unstarted, as a learner",
          listed.get("isLearner") is True and not listed.get("name"), str(listed))
    j2, err = add_member(c, ep, "learner2", learner=True)
    check("a second learner is refused", j2 is None and "etcdserver: too many learner members in cluster" in str(err),
          str(err))
    if j2 is not None:
        c.members.remove(j2)
    j.spawn()
    ok, last = wait("learner serializable read", lambda: (lambda r: (r[0] == 0 and r[1].strip() == "v1", r))(
        etcdctl(j.endpoint, "get", "k1", "--print-value-only", "--consistency=s")), 30)
    check("the learner catches up and serves a serializable read", ok, str(last) + j.log_tail(15))
    rc, out, err = etcdctl(j.endpoint, "get", "k1")
    check("the learner refuses a linearizable read", rc != 0 and "etcdserver: rpc not supported for learner" in err,
          "rc=%d %r" % (rc, err))
    rc, out, err = etcdctl(j.endpoint, "put", "k9", "x")
    check("the learner refuses a write", rc != 0 and "etcdserver: rpc not supported for learner" in err,
          "rc=%d %r" % (rc, err))
    # Through a follower: only the leader can tell whether the learner is in
    # sync, so the follower forwards the call.
    follower = ep
    for m in c.members[:3]:
        rc, out, err = etcdctl(m.endpoint, "endpoint", "status", "-w", "json")
        if rc == 0:
            h = json.loads(out)[0]["Status"]
            if h.get("leader", 0) != h["header"]["member_id"]:
                follower = m.endpoint
                break
    ok, last = wait("promote", lambda: (lambda r: (r[0] == 0, r))(
        etcdctl(follower, "member", "promote", "%x" % mid)), 30, step=0.5)
    check("member promote of the caught-up learner", ok and "promoted" in last[1], str(last))
    ok, last = wait("promoted reads", lambda: (lambda r: (r[0] == 0 and r[1].strip() == "v1", r))(
        etcdctl(j.endpoint, "get", "k1", "--print-value-only")), 15)
    check("the promoted member serves linearizable reads", ok, str(last))
    check("member list shows it as a started voter",
          members(ep).get(mid, {}).get("isLearner") is not True and members(ep).get(mid, {}).get("name") == "learner1",
          str(members(ep).get(mid)))
    return j


def replacement(c, dead):
    """The HA guide's drill: `dead` is gone for good; replace it."""
    live = [m for m in c.members if m.alive()]
    ep = live[0].endpoint
    ids = members(ep)
    dead_id = [i for i, m in ids.items() if m.get("name") == dead.name][0]
    rc, out, err = etcdctl(ep, "member", "remove", "%x" % dead_id)
    check("member remove of the dead member", rc == 0 and "removed from cluster" in out, err or out)
    time.sleep(HEALTH_INTERVAL)
    j, mid = add_member(c, ep, "new1", learner=False)
    if j is None:
        check("member add of the replacement", False, mid)
        return None
    j.spawn()
    ok, last = wait("replacement reads", lambda: (lambda r: (r[0] == 0 and r[1].strip() == "v50", r))(
        etcdctl(j.endpoint, "get", "k50", "--print-value-only")), 30)
    check("the replacement serves linearizable reads of the old data", ok, str(last))
    rc, out, err = etcdctl(j.endpoint, "get", "k", "--prefix", "--keys-only")
    keys = [k for k in out.split("\n") if k]
    check("the replacement has every key", rc == 0 and len(keys) == 50, "%d keys %s" % (len(keys), err))
    rc, out, err = etcdctl(j.endpoint, "put", "after-join", "1")
    check("a write through the replacement", rc == 0, err)
    return j


def hashkv_equal(c, what):
    live = [m for m in c.members if m.alive()]
    eps = ",".join(m.endpoint for m in live)
    rc, out, err = etcdctl(live[0].endpoint, "get", "after-join", "-w", "json")
    rev = json.loads(out)["header"]["revision"] if rc == 0 else 0

    def same():
        rc, out, err = etcdctl(eps, "endpoint", "hashkv", "--rev=%d" % rev, "-w", "json")
        if rc != 0:
            return False, err
        hashes = {e["HashKV"]["hash"] for e in json.loads(out)}
        return len(hashes) == 1 and len(json.loads(out)) == len(live), out
    ok, last = wait(what, same, 15)
    check(what, ok, str(last))


def remove_live(c, victim):
    ep = [m for m in c.members if m.alive() and m is not victim][0].endpoint
    vid = [i for i, m in members(ep).items() if m.get("name") == victim.name][0]
    time.sleep(HEALTH_INTERVAL)
    rc, out, err = etcdctl(ep, "member", "remove", "%x" % vid)
    check("member remove of a live member", rc == 0, err)
    ok, _ = wait("removed member exits", lambda: (not victim.alive(), None), 15)
    check("the removed member stops by itself", ok, victim.log_tail(10))
    check("the removed member is not listed", vid not in members(ep))
    # It applied its own removal; restarted on its data dir it must stop again
    # (etcd: its peers refuse its streams), never serve as a lone member.
    victim.spawn()
    ok, _ = wait("restarted removed member exits", lambda: (not victim.alive(), None), 20)
    check("a removed member restarted on its data dir stops by itself", ok, victim.log_tail(10))
    if victim.alive():
        victim.kill9()


def with_voter_down(c, what, attempt):
    """Kills the last live member, runs attempt(endpoint) (which checks), restarts it."""
    live = [m for m in c.members if m.alive()]
    down = live[-1]
    down.kill9()
    settle(c)
    time.sleep(1)  # the poll of peer connections (0.5 s) has seen it go
    attempt(live[0].endpoint, live)
    down.spawn()
    down.wait_healthy(20)


def strict_add(ep, live):
    rc, out, err = etcdctl(ep, "member", "add", "x", "--peer-urls=http://127.0.0.1:%d" % harness.free_ports(1)[0])
    check("with a voter down, adding a voter is refused", rc != 0 and "etcdserver: unhealthy cluster" in err,
          "rc=%d %r %r" % (rc, out, err))


def strict_remove(ep, live):
    # Three voters, one down: removing a live one would leave one of two.
    other = [i for i, m in members(ep).items() if m.get("name") == live[1].name][0]
    rc, out, err = etcdctl(ep, "member", "remove", "%x" % other)
    check("with one of three voters down, removing a live voter is refused",
          rc != 0 and "etcdserver: unhealthy cluster" in err, "rc=%d %r %r" % (rc, out, err))


def update(c):
    ep = c.members[0].endpoint
    target = [m for m in c.members if m.alive()][-1]
    tid = [i for i, m in members(ep).items() if m.get("name") == target.name][0]
    # The same URL again: a no-op change etcd accepts.
    rc, out, err = etcdctl(ep, "member", "update", "%x" % tid, "--peer-urls=" + target.peer_url)
    check("member update with the member's own peer URL", rc == 0 and "updated in cluster" in out, err)
    rc, out, err = etcdctl(ep, "member", "update", "%x" % tid, "--peer-urls=" + c.members[0].peer_url)
    check("member update to another member's URL is refused",
          rc != 0 and "etcdserver: Peer URLs already exists" in err, err)


def scenario(c):
    ep = c.members[0].endpoint
    for i in range(1, 51):
        etcdctl(ep, "put", "k%d" % i, "v%d" % i)
    time.sleep(HEALTH_INTERVAL)
    refusals(c)
    learner(c)
    dead = c.members[2]
    dead.kill9()
    settle(c)
    replacement(c, dead)
    # Removed while it was down: back up on its old data dir, it learns
    # from its peers that it was removed and stops.
    dead.spawn()
    ok, _ = wait("removed member exits", lambda: (not dead.alive(), None), 20)
    check("a member removed while down stops when it comes back", ok, dead.log_tail(10))
    if dead.alive():
        dead.kill9()
    hashkv_equal(c, "HashKV equal on every member after the replacement")
    update(c)
    with_voter_down(c, "add", strict_add)
    remove_live(c, c.members[1])
    check("three voters left", len(members(c.members[0].endpoint)) == 3)
    time.sleep(HEALTH_INTERVAL)
    with_voter_down(c, "remove", strict_remove)
    hashkv_equal(c, "HashKV equal after removing a live member")


if __name__ == "__main__":
    sys.exit(scenario_lib.soft_main(scenario, FLAGS, default_timeout=250))
