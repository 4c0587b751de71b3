#!/usr/bin/python3
"""Load clients and watchers of a robustness run, each its own process (the GIL
would serialise threads; processes use both cores and the servers' parallelism).

    client.py client  --id N --endpoints A,B,C --keys K1,K2,.. --seed S --out F
                      --stop-file P [--timeout 2] [--max-seconds 600] [--endpoints-file E]
    client.py watcher --id N --endpoints A,B,C --prefix P --out F --until-file U
                      [--prev-kv] [--progress] [--max-seconds 600] [--endpoints-file E]

A client works with one member at a time (client N starts on member N % 3) and
moves to the next member after any error. With --endpoints-file (the member fault
changes the member set) the list of members is read again from that file (one
endpoint a line) at each move and every 0.2 s; when it changed, the client or
watcher goes to its own member of the new list (N % count), as one given a new
endpoint list would, so that new members take load and watches too.
Every operation is written twice: when it is sent (st "sent": if the process
dies before the answer, the outcome stays unknown) and when it returns (st "ok"
or "err"); the reader keeps the last record of each id. Every write carries a
value unique to the run, so the final history tells whether a write with an
unknown outcome took effect.

Record fields: id, c (client), ep, sess (connection number), op, k, v, exp (cas),
t0/t1 (CLOCK_MONOTONIC, comparable across processes), st, err, and results:
get/sget kv [found, value, mod, create, version] and rev (header); put/mput rev;
del n, rev; cas ok, rev, kv (the failure branch's read).
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

# A WatchRequest holding an empty progress_request (field 3).
PROGRESS_REQUEST = b"\x1a\x00"

OPS = [("get", 30), ("sget", 10), ("put", 25), ("cas", 15), ("del", 8), ("mput", 12)]


def prefix_end(p):
    b = bytearray(p.encode())
    b[-1] += 1
    return bytes(b)


def next_endpoint(eps, idx, fresh=()):
    """(endpoints, index) of the member to move to from eps[idx]: the one after it in
    the list `fresh` (when not empty), else in eps."""
    cur = eps[idx % len(eps)]
    if fresh:
        if cur not in fresh:  # removed: the member now at its place in the list
            return list(fresh), idx % len(fresh)
        eps = list(fresh)
    return eps, (eps.index(cur) + 1) % len(eps)


class Endpoints:
    """The member list of one client: its current member `ep`, move() after an
    error, changed() when the list file (if any) names other members: then the
    current member is the client's own of the new list (home % count)."""

    CHECK_EVERY = 0.2  # s

    def __init__(self, endpoints, home, path=""):
        self.eps = endpoints.split(",")
        self.home, self.path = home, path
        self.idx = home % len(self.eps)
        self.checked = 0.0
        self.lock = threading.Lock()  # a watcher's guard thread checks, its reader moves

    @property
    def ep(self):
        return self.eps[self.idx]

    def read(self):
        if not self.path:
            return []
        try:
            with open(self.path) as f:
                return [x.strip() for x in f if x.strip()]
        except OSError:
            return []

    def move(self):
        with self.lock:
            self.eps, self.idx = next_endpoint(self.eps, self.idx, self.read())

    def changed(self):
        if not self.path or time.monotonic() < self.checked + self.CHECK_EVERY:
            return False
        with self.lock:
            self.checked = time.monotonic()
            fresh = self.read()
            if not fresh or fresh == self.eps:
                return False
            self.eps, self.idx = fresh, self.home % len(fresh)
            return True


def kv_tuple(kvs):
    if not kvs:
        return [False, None, 0, 0, 0]
    kv = kvs[0]
    return [True, kv.value.decode(), kv.mod_revision, kv.create_revision, kv.version]


class Client:
    def __init__(self, args):
        self.args = args
        self.members = Endpoints(args.endpoints, args.id, args.endpoints_file)
        self.keys = args.keys.split(",")
        self.rng = random.Random("%s-%d" % (args.seed, args.id))
        self.seen_mod = {}  # key -> newest mod_revision this client saw
        self.sess = 0
        self.ch = None
        self.kv = None
        self.n = 0

    def connect(self):
        self.sess += 1
        self.ch = grpc.insecure_channel(self.members.ep)
        self.kv = rpc.KVStub(self.ch)

    def drop(self):
        if self.ch is not None:
            self.ch.close()
        self.ch = None
        if not self.args.reader:  # a reader stays on its member (a new list still moves it)
            self.members.move()

    def next_op(self):
        # a reader: linearizable gets only (OPS[0])
        r = 0.0 if self.args.reader else self.rng.uniform(0, sum(w for _, w in OPS))
        for kind, w in OPS:
            r -= w
            if r <= 0:
                break
        self.n += 1
        op = {"id": "c%d-%d" % (self.args.id, self.n), "c": self.args.id,
              "ep": self.members.ep, "sess": self.sess, "op": kind}
        if kind == "mput":
            ks = sorted(self.rng.sample(self.keys, 2))  # sub-revision order = key order
            op["k"], op["v"] = ks, ["%s.%s" % (op["id"], x) for x in "ab"]
        else:
            op["k"] = self.rng.choice(self.keys)
            if kind in ("put", "cas"):
                op["v"] = op["id"]
            if kind == "cas":
                op["exp"] = self.seen_mod.get(op["k"], 0)
        return op

    def call(self, op):
        kind, t = op["op"], self.args.timeout
        k = op["k"]
        if kind in ("get", "sget"):
            r = self.kv.Range(rpc.RangeRequest(key=k.encode(), serializable=kind == "sget"),
                              timeout=t)
            op["kv"], op["rev"] = kv_tuple(r.kvs), r.header.revision
            if r.kvs:
                self.seen_mod[k] = r.kvs[0].mod_revision
        elif kind == "put":
            r = self.kv.Put(rpc.PutRequest(key=k.encode(), value=op["v"].encode()), timeout=t)
            op["rev"] = self.seen_mod[k] = r.header.revision
        elif kind == "del":
            r = self.kv.DeleteRange(rpc.DeleteRangeRequest(key=k.encode()), timeout=t)
            op["n"], op["rev"] = r.deleted, r.header.revision
        elif kind == "mput":
            puts = [rpc.RequestOp(request_put=rpc.PutRequest(key=kk.encode(), value=v.encode()))
                    for kk, v in zip(k, op["v"])]
            r = self.kv.Txn(rpc.TxnRequest(success=puts), timeout=t)
            op["rev"] = r.header.revision
        else:  # cas: mod_revision(k) == exp ? put : get
            cmp = rpc.Compare(result=rpc.Compare.EQUAL, target=rpc.Compare.MOD,
                              key=k.encode(), mod_revision=op["exp"])
            put = rpc.RequestOp(request_put=rpc.PutRequest(key=k.encode(), value=op["v"].encode()))
            get = rpc.RequestOp(request_range=rpc.RangeRequest(key=k.encode()))
            r = self.kv.Txn(rpc.TxnRequest(compare=[cmp], success=[put], failure=[get]), timeout=t)
            op["ok"], op["rev"] = r.succeeded, r.header.revision
            if r.succeeded:
                self.seen_mod[k] = r.header.revision
            else:
                op["kv"] = kv_tuple(r.responses[0].response_range.kvs)
                self.seen_mod[k] = op["kv"][2]

    def run(self):
        deadline = time.monotonic() + self.args.max_seconds
        with open(self.args.out, "a", buffering=1) as out:
            while time.monotonic() < deadline and not os.path.exists(self.args.stop_file):
                if self.members.changed() and self.ch is not None:
                    self.ch.close()  # to its member of the new list
                    self.ch = None
                if self.ch is None:
                    self.connect()
                op = self.next_op()
                op["t0"], op["st"] = time.monotonic(), "sent"
                out.write(json.dumps(op) + "\n")
                try:
                    self.call(op)
                    op["st"] = "ok"
                except grpc.RpcError as e:
                    op["st"], op["err"] = "err", "%s: %s" % (e.code().name, (e.details() or "")[:120])
                op["t1"] = time.monotonic()
                out.write(json.dumps(op) + "\n")
                if op["st"] == "err":
                    self.drop()
                    time.sleep(0.05)
                elif self.args.reader:
                    time.sleep(0.01)  # a probe, not load


def watcher(args):
    """One watch on the key prefix from revision 1, re-created from the last
    delivered revision + 1 on the next member whenever its stream breaks; after a
    cancel for compaction, from the compact revision (as clientv3 users must); on
    its own member of a new member list when the list changes ("moved").
    With --progress it asks for progress (WatchProgressRequest) now and then."""
    members = Endpoints(args.endpoints, args.id, args.endpoints_file)
    deadline = time.monotonic() + args.max_seconds
    state = {"last": 0, "final": None, "next": None}
    rng = random.Random("watcher-%d" % args.id)
    out = open(args.out, "a", buffering=1)
    out.write(json.dumps({"t": "meta", "w": args.id, "prev_kv": args.prev_kv, "start": 1}) + "\n")

    def finished():
        if state["final"] is None and os.path.exists(args.until_file):
            with open(args.until_file) as f:
                txt = f.read().strip()
            state["final"] = int(txt) if txt else None
        return time.monotonic() > deadline or (state["final"] is not None
                                               and state["last"] >= state["final"])

    while not finished():
        ch = grpc.insecure_channel(members.ep)
        stop = threading.Event()
        start = state["next"] or state["last"] + 1
        state["next"] = None
        req = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=args.prefix.encode(), range_end=prefix_end(args.prefix),
            start_revision=start, prev_kv=args.prev_kv)).SerializeToString()

        def requests(req=req, stop=stop):
            yield req
            while args.progress and not stop.wait(rng.uniform(0.2, 1.5)):
                yield PROGRESS_REQUEST
            stop.wait()

        out.write(json.dumps({"t": "start", "rev": start, "ep": members.ep,
                              "time": time.monotonic()}) + "\n")
        # python3-etcd3's WatchRequest predates progress_request: requests go as bytes
        call = ch.stream_stream("/etcdserverpb.Watch/Watch", request_serializer=lambda b: b,
                                response_deserializer=rpc.WatchResponse.FromString)(requests())

        def guard(call=call, stop=stop):
            while not stop.wait(0.2):
                if finished():
                    call.cancel()
                    return
                if members.changed():
                    out.write(json.dumps({"t": "moved", "ep": members.ep,
                                          "time": time.monotonic()}) + "\n")
                    call.cancel()
                    return

        g = threading.Thread(target=guard, daemon=True)
        g.start()
        try:
            for resp in call:
                if resp.canceled:
                    out.write(json.dumps({"t": "canceled", "reason": resp.cancel_reason,
                                          "rev": resp.compact_revision,
                                          "time": time.monotonic()}) + "\n")
                    if resp.compact_revision:
                        state["next"] = resp.compact_revision
                    break
                if resp.created:
                    out.write(json.dumps({"t": "created", "hdr": resp.header.revision}) + "\n")
                    continue
                if not resp.events:
                    out.write(json.dumps({"t": "progress", "hdr": resp.header.revision,
                                          "wid": resp.watch_id, "time": time.monotonic()}) + "\n")
                    continue
                evs = []
                for e in resp.events:
                    kv, pk = e.kv, e.prev_kv
                    prev = ([pk.value.decode(), pk.mod_revision, pk.create_revision, pk.version]
                            if e.HasField("prev_kv") else None)
                    evs.append(["PUT" if e.type == 0 else "DELETE", kv.key.decode(),
                                kv.value.decode() if e.type == 0 else None, kv.mod_revision,
                                kv.create_revision if e.type == 0 else 0,
                                kv.version if e.type == 0 else 0, prev])
                    state["last"] = max(state["last"], kv.mod_revision)
                out.write(json.dumps({"t": "resp", "hdr": resp.header.revision, "ev": evs,
                                      "time": time.monotonic()}) + "\n")
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                out.write(json.dumps({"t": "broken", "err": "%s: %s" % (
                    e.code().name, (e.details() or "")[:120]), "time": time.monotonic()}) + "\n")
                members.move()
                time.sleep(0.1)
        finally:
            stop.set()
            ch.close()
    out.write(json.dumps({"t": "end", "last": state["last"]}) + "\n")
    out.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["client", "watcher"])
    ap.add_argument("--id", type=int, required=True)
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--endpoints-file", default="")
    ap.add_argument("--keys", default="")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--seed", default="0")
    ap.add_argument("--out", required=True)
    ap.add_argument("--stop-file", default="")
    ap.add_argument("--until-file", default="")
    ap.add_argument("--prev-kv", action="store_true")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--reader", action="store_true",
                    help="linearizable gets only, on its own member even after an error")
    ap.add_argument("--max-seconds", type=float, default=600)
    args = ap.parse_args()
    if args.mode == "client":
        Client(args).run()
    else:
        watcher(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
