#!/usr/bin/env python3
"""Day-2 maintenance calls with etcdctl 3.4; the same script runs against
ketcd and, to check the test itself, Debian's etcd 3.4:

    /usr/bin/python3 maintenance_test.py --server BUILD/server/ketcd
    /usr/bin/python3 maintenance_test.py --server /usr/bin/etcd

On a 3-member cluster:
  - `move-leader` to each member in turn: etcdctl's message, and every
    member then reports the new leader; to an unknown id: etcd's "bad
    leader transferee"; a MoveLeader sent to a follower: "not leader";
  - `defrag --cluster` while a writer keeps writing: every member
    defragmented, no write fails, and after 2,000 1 KiB keys were written,
    deleted and compacted the leader's db size shrinks;
  - Maintenance.Hash (the older whole-store hash client libraries call):
    equal on every member once they applied the same writes.
Every process is stopped by PID; the temp dir is removed; bounded by
--timeout.
"""

import json
import os
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))

from scenario_lib import log, soft_check as check  # noqa: E402
import scenario_lib  # noqa: E402
import grpc  # noqa: E402
import etcd3.etcdrpc as etcdrpc  # noqa: E402


def etcdctl(endpoints, *args, timeout=60):
    return scenario_lib.etcdctl(endpoints, [], *args, timeout=timeout, command_timeout="30s")


FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]


def status(m):
    rc, out, err = etcdctl(m.endpoint, "endpoint", "status", "-w", "json")
    if rc != 0:
        return None
    return json.loads(out)[0]["Status"]


def leader_of(c):
    for m in c.members:
        s = status(m)
        if s and s.get("leader", 0) == s["header"]["member_id"]:
            return m, s["header"]["member_id"]
    return None, 0


def move_leader(c):
    ids = {}
    for m in c.members:
        ids[m.name] = status(m)["header"]["member_id"]
    for target in c.members:
        leader, lid = leader_of(c)
        if leader is None:
            check("a leader before move-leader", False)
            return
        rc, out, err = etcdctl(leader.endpoint, "move-leader", "%x" % ids[target.name])
        if target is leader:
            # etcd: moving to the current leader succeeds at once.
            check("move-leader to the leader itself", rc == 0, err)
            continue
        check("move-leader %s -> %s" % (leader.name, target.name),
              rc == 0 and "Leadership transferred from %x to %x" % (lid, ids[target.name]) in out, out + err)
        seen = {m.name: (status(m) or {}).get("leader") for m in c.members}
        check("every member reports %s as leader" % target.name,
              all(v == ids[target.name] for v in seen.values()), str(seen))
    leader, _ = leader_of(c)
    rc, out, err = etcdctl(leader.endpoint, "move-leader", "1234abcd")
    check("move-leader to an unknown id", rc != 0 and "etcdserver: bad leader transferee" in err, err)
    follower = [m for m in c.members if m is not leader][0]
    with grpc.insecure_channel(follower.endpoint) as ch:
        stub = etcdrpc.MaintenanceStub(ch)
        try:
            stub.MoveLeader(etcdrpc.MoveLeaderRequest(targetID=ids[follower.name]), timeout=5)
            check("MoveLeader on a follower is refused", False, "accepted")
        except grpc.RpcError as e:
            check("MoveLeader on a follower is refused",
                  e.code() == grpc.StatusCode.FAILED_PRECONDITION and e.details() == "etcdserver: not leader",
                  "%s %s" % (e.code(), e.details()))


def defrag(c):
    leader, _ = leader_of(c)
    ep = leader.endpoint
    value = "x" * 1024
    with grpc.insecure_channel(ep) as ch:
        kv = etcdrpc.KVStub(ch)
        for i in range(2000):
            kv.Put(etcdrpc.PutRequest(key=b"big/%05d" % i, value=value.encode()), timeout=5)
        kv.DeleteRange(etcdrpc.DeleteRangeRequest(key=b"big/", range_end=b"big0"), timeout=5)
        rev = kv.Range(etcdrpc.RangeRequest(key=b"x"), timeout=5).header.revision
        kv.Compact(etcdrpc.CompactionRequest(revision=rev, physical=True), timeout=30)
    time.sleep(1)
    before = status(leader)["dbSize"]
    stop = threading.Event()
    errors = []
    writes = [0]

    def writer():
        with grpc.insecure_channel(ep) as ch:
            kv = etcdrpc.KVStub(ch)
            while not stop.is_set():
                try:
                    kv.Put(etcdrpc.PutRequest(key=b"load/%d" % (writes[0] % 100), value=b"v"), timeout=5)
                    writes[0] += 1
                except grpc.RpcError as e:
                    errors.append(e.details())
    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.3)
    eps = ",".join(m.endpoint for m in c.members)
    rc, out, err = etcdctl(eps, "defrag", "--cluster")
    time.sleep(0.3)
    stop.set()
    t.join(10)
    check("defrag --cluster", rc == 0 and out.count("Finished defragmenting etcd member") == 3, out + err)
    check("no write failed during defrag (%d writes)" % writes[0], not errors and writes[0] > 0, str(errors[:3]))
    after = status(leader)["dbSize"]
    log("db size of the leader: %d before defrag, %d after" % (before, after))
    check("defrag shrinks the db after deletes and compaction", after < before, "%d -> %d" % (before, after))


def hashes(c):
    def all_hashes():
        out = []
        for m in c.members:
            with grpc.insecure_channel(m.endpoint) as ch:
                out.append(etcdrpc.MaintenanceStub(ch).Hash(etcdrpc.HashRequest(), timeout=5).hash)
        return out
    deadline = time.monotonic() + 10
    hs = []
    while time.monotonic() < deadline:
        hs = all_hashes()
        if len(set(hs)) == 1:
            break
        time.sleep(0.2)
    check("Maintenance.Hash equal on every member", len(set(hs)) == 1, str(hs))


def scenario(c):
    move_leader(c)
    defrag(c)
    hashes(c)


if __name__ == "__main__":
    sys.exit(scenario_lib.soft_main(scenario, FLAGS, default_timeout=150))
