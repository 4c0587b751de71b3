#!/usr/bin/python3
"""The lease client and the compactor of a robustness run (client.py's companions),
each its own process.

    aux_clients.py leases    --id N --endpoints A,B,C --prefix /rb/l/ --seed S --out F
                             --stop-file P [--leases 3] [--timeout 2] [--max-seconds 600]
    aux_clients.py compactor --endpoints A,B,C --prefix /rb/ --seed S --out F --history H
                             --stop-file P [--every 3] [--age 3] [--timeout 2]
(both take --endpoints-file E, as client.py does)

leases: grants leases with short TTLs under ids it chooses (so a grant whose answer
is lost still names its lease), attaches one or two keys PREFIX<lease hex>/a|b to
each, and gives each lease a fate: kept alive for a while (then revoked or left to
expire), revoked soon, or left to expire. Meanwhile it reads the keys of recent
leases (linearizable gets) and asks LeaseTimeToLive(keys) about them. Records
(one line when sent, one when answered, as client.py): id, c, ep, op, lease, t0, t1,
st, err and
  lgrant  ttl (granted), rev        lput  k, rev          lka  ttl (0: not found)
  lrevoke rev                       lget  k, kv, rev      lttl ttl, granted, keys
and term (the answer's raft term), which tells the checker of leader changes.
The records of lput and lget have client.py's shape, so the revision-order check
takes them too.

compactor: every --every seconds it learns the current revision (a linearizable
count-only range) and compacts at the revision it learnt --age seconds before.
Before compacting at C it reads every revision up to C of the key set PREFIX
(serializable ranges at that revision) into --history, because the run's final
read-back can no longer see what compaction removes. After each compaction it
reads the key set at a few old revisions around C (linearizable ranges at a
revision), and watches from C - 1 (compacted: must be canceled) and from C.
Records: op compact (rev), oget (at; kvs or err, rev = header) and owatch (at;
canceled, crev = compact_revision, first = the first event's revision).
"""

import argparse
import json
import os
import random
import sys
import threading
import time

import grpc
import etcd3.etcdrpc as rpc

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from client import Endpoints, kv_tuple, prefix_end  # noqa: E402

COMPACTED = "required revision has been compacted"


class Conn:
    """One member at a time; the next one after any error; with endpoints_file (the
    member fault changes the member set) as client.py's Endpoints has it."""

    def __init__(self, endpoints, first, endpoints_file=""):
        self.members = Endpoints(endpoints, first, endpoints_file)
        self.ch = None

    @property
    def ep(self):
        return self.members.ep

    def refresh(self):
        """To the client's own member of a new member list (between operations only:
        a record's ep is the member its call went to)."""
        if self.members.changed() and self.ch is not None:
            self.ch.close()
            self.ch = None

    def get(self):
        if self.ch is None:
            self.ch = grpc.insecure_channel(self.members.ep)
        return self.ch

    def drop(self):
        if self.ch is not None:
            self.ch.close()
        self.ch = None
        self.members.move()


class Recorder:
    def __init__(self, path, who):
        self.out = open(path, "a", buffering=1)
        self.who, self.n = who, 0

    def op(self, conn, kind, fn, expect=None, **fields):
        """Runs fn(op) (which fills in results) between the two records; returns the op.
        An error holding `expect` keeps the connection; any other moves to the next member."""
        self.n += 1
        conn.refresh()
        op = {"id": "%s-%d" % (self.who, self.n), "c": self.who, "ep": conn.ep, "sess": 0,
              "op": kind}
        op.update(fields)
        op["t0"], op["st"] = time.monotonic(), "sent"
        self.out.write(json.dumps(op) + "\n")
        try:
            r = fn(op)
            if isinstance(r, dict):
                op.update(r)
            elif r is not None:
                op["term"] = r.header.raft_term
            op["st"] = "ok"
        except grpc.RpcError as e:
            op["st"], op["err"] = "err", "%s: %s" % (e.code().name, (e.details() or "")[:120])
        op["t1"] = time.monotonic()
        self.out.write(json.dumps(op) + "\n")
        if op["st"] == "err" and not (expect and expect in op["err"]):
            conn.drop()
        return op


class LeaseClient:
    FATES = (("keep", 4), ("revoke", 3), ("expire", 3))

    def __init__(self, args):
        self.args = args
        self.rng = random.Random("leases-%s-%d" % (args.seed, args.id))
        self.conn = Conn(args.endpoints, args.id, args.endpoints_file)
        self.rec = Recorder(args.out, "L%d" % args.id)
        self.leases = []    # dicts: id, ttl, keys, fate, next_ka, keep_until, revoke_at, end
        self.n = 0
        self.last_grant = 0.0

    def call(self, kind, fn, **fields):
        return self.rec.op(self.conn, kind, fn, **fields)

    def grant(self, now):
        self.n += 1
        lid = ((self.args.id + 1) << 40) | self.n
        ttl = self.rng.choice((2, 3))
        t = self.args.timeout

        def fn(op):
            r = rpc.LeaseStub(self.conn.get()).LeaseGrant(rpc.LeaseGrantRequest(TTL=ttl, ID=lid),
                                                          timeout=t)
            op["ttl"], op["rev"] = r.TTL, r.header.revision
            if r.error:
                op["gerr"] = r.error
            return r
        op = self.call("lgrant", fn, lease=lid, req_ttl=ttl)
        self.last_grant = now
        if op["st"] != "ok":
            return
        fate = self.rng.choices([f for f, _ in self.FATES], [w for _, w in self.FATES])[0]
        lease = {"id": lid, "ttl": op["ttl"], "keys": [], "fate": fate, "end": None,
                 "next_ka": 0.0, "keep_until": 0.0, "revoke_at": None}
        for suffix in ("a", "b")[:self.rng.choice((1, 2))]:
            k = "%s%x/%s" % (self.args.prefix, lid, suffix)

            def put(op, k=k):
                r = rpc.KVStub(self.conn.get()).Put(
                    rpc.PutRequest(key=k.encode(), value=op["v"].encode(), lease=lid), timeout=t)
                op["rev"] = r.header.revision
                return r
            self.call("lput", put, lease=lid, k=k, v="%s.%s" % (lid, suffix))
            lease["keys"].append(k)
        now = time.monotonic()
        if fate == "keep":
            lease["keep_until"] = now + self.rng.uniform(2.0, 6.0)
            if self.rng.random() < 0.5:
                lease["revoke_at"] = lease["keep_until"]
        elif fate == "revoke":
            lease["revoke_at"] = now + self.rng.uniform(0.2, 1.5)
        self.leases.append(lease)

    def keepalive(self, lease):
        def fn(op):
            stream = rpc.LeaseStub(self.conn.get()).LeaseKeepAlive(
                iter([rpc.LeaseKeepAliveRequest(ID=lease["id"])]), timeout=self.args.timeout)
            r = next(stream)
            op["ttl"], op["rev"] = r.TTL, r.header.revision
            stream.cancel()
            return r
        self.call("lka", fn, lease=lease["id"])
        lease["next_ka"] = time.monotonic() + lease["ttl"] / 3.0

    def revoke(self, lease):
        def fn(op):
            r = rpc.LeaseStub(self.conn.get()).LeaseRevoke(
                rpc.LeaseRevokeRequest(ID=lease["id"]), timeout=self.args.timeout)
            op["rev"] = r.header.revision
            return r
        self.call("lrevoke", fn, lease=lease["id"])

    def read(self, lease):
        t = self.args.timeout
        if self.rng.random() < 0.6:
            k = self.rng.choice(lease["keys"])

            def fn(op):
                r = rpc.KVStub(self.conn.get()).Range(rpc.RangeRequest(key=k.encode()), timeout=t)
                op["kv"], op["rev"] = kv_tuple(r.kvs), r.header.revision
                return r
            self.call("lget", fn, lease=lease["id"], k=k)
        else:
            def fn(op):
                r = rpc.LeaseStub(self.conn.get()).LeaseTimeToLive(
                    rpc.LeaseTimeToLiveRequest(ID=lease["id"], keys=True), timeout=t)
                op["ttl"], op["granted"] = r.TTL, r.grantedTTL
                op["keys"], op["rev"] = sorted(x.decode() for x in r.keys), r.header.revision
                return r
            self.call("lttl", fn, lease=lease["id"])

    def step(self):
        now = time.monotonic()
        live = [x for x in self.leases if x["end"] is None]
        if len(live) < self.args.leases and now - self.last_grant > 0.3:
            self.grant(now)
        for lease in live:
            now = time.monotonic()
            if lease["revoke_at"] is not None and now >= lease["revoke_at"]:
                self.revoke(lease)
                lease["end"] = now
            elif lease["fate"] == "keep" and now < lease["keep_until"]:
                if now >= lease["next_ka"]:
                    self.keepalive(lease)
            elif lease["revoke_at"] is None:
                lease["end"] = now  # left to expire
        # recent leases (live, or ended less than TTL + 6 s ago) are read
        self.leases = [x for x in self.leases if x["end"] is None or now - x["end"] < x["ttl"] + 6]
        if self.leases and self.rng.random() < 0.5:
            self.read(self.rng.choice(self.leases))

    def run(self):
        deadline = time.monotonic() + self.args.max_seconds
        while time.monotonic() < deadline and not os.path.exists(self.args.stop_file):
            self.step()
            time.sleep(0.03)


def watch_once(ch, key, end, start, timeout):
    """A watch from `start`: (canceled, compact revision, first event's revision)."""
    stop = threading.Event()

    def requests():
        yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=key, range_end=end, start_revision=start))
        stop.wait(timeout + 1)

    call = rpc.WatchStub(ch).Watch(requests(), timeout=timeout)
    out = {"canceled": False, "crev": 0, "first": None}
    try:
        for resp in call:
            if resp.canceled:
                out.update(canceled=True, crev=resp.compact_revision)
                break
            if resp.events:
                out["first"] = resp.events[0].kv.mod_revision
                break
    finally:
        stop.set()
        call.cancel()
    return out


def compactor(args):
    rng = random.Random("compactor-%s" % args.seed)
    conn = Conn(args.endpoints, 0, args.endpoints_file)
    rec = Recorder(args.out, "X")
    hist = open(args.history, "a", buffering=1)
    pfx, end = args.prefix.encode(), prefix_end(args.prefix)
    t = args.timeout
    samples, read_to, compacted = [], 0, 0
    deadline = time.monotonic() + args.max_seconds

    def stopped():
        return time.monotonic() > deadline or os.path.exists(args.stop_file)

    while not stopped():
        time.sleep(args.every)
        conn.refresh()
        try:
            r = rpc.KVStub(conn.get()).Range(rpc.RangeRequest(key=pfx, range_end=end,
                                                              count_only=True), timeout=t)
            samples.append((time.monotonic(), r.header.revision))
        except grpc.RpcError:
            conn.drop()
            continue
        old = [rev for when, rev in samples if when <= time.monotonic() - args.age]
        target = old[-1] if old else 0
        if target <= compacted:
            continue
        try:  # the history up to the target first: compaction removes it
            kv = rpc.KVStub(conn.get())
            while read_to < target and not stopped():
                rev = read_to + 1
                r = kv.Range(rpc.RangeRequest(key=pfx, range_end=end, revision=rev,
                                              serializable=True), timeout=t)
                state = {x.key.decode(): [x.value.decode(), x.mod_revision, x.create_revision,
                                          x.version] for x in r.kvs}
                hist.write(json.dumps([rev, state]) + "\n")
                read_to = rev
        except grpc.RpcError:
            conn.drop()
            continue
        if read_to < target:
            break

        def compact(op, target=target):
            rpc.KVStub(conn.get()).Compact(rpc.CompactionRequest(revision=target), timeout=t)
        if rec.op(conn, "compact", compact, rev=target)["st"] != "ok":
            continue
        compacted = target
        for at in (target - 1, target, rng.randint(max(1, target - 100), samples[-1][1])):
            def oget(op, at=at):
                r = rpc.KVStub(conn.get()).Range(rpc.RangeRequest(key=pfx, range_end=end,
                                                                  revision=at), timeout=t)
                op["rev"] = r.header.revision
                op["kvs"] = {x.key.decode(): [x.value.decode(), x.mod_revision,
                                              x.create_revision, x.version] for x in r.kvs}
            if at < 1:
                continue
            op = rec.op(conn, "oget", oget, expect=COMPACTED, at=at)
            if op["st"] != "ok" and COMPACTED not in op["err"]:
                break
        for at in (target - 1, target) if target > 1 else ():
            rec.op(conn, "owatch", lambda op, at=at: watch_once(conn.get(), pfx, end, at, t),
                   at=at)
    hist.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["leases", "compactor"])
    ap.add_argument("--id", type=int, default=0)
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--endpoints-file", default="")
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--seed", default="0")
    ap.add_argument("--out", required=True)
    ap.add_argument("--history", default="")
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--leases", type=int, default=3)
    ap.add_argument("--every", type=float, default=3.0)
    ap.add_argument("--age", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--max-seconds", type=float, default=600)
    args = ap.parse_args()
    if args.mode == "leases":
        LeaseClient(args).run()
    else:
        compactor(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
