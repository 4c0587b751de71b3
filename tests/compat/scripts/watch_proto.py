"""The Watch RPC at the protocol level (raw gRPC, python3-etcd3's stubs):
created responses and ids, refusals, catch-up from a past revision, prev_kv,
filters, one response per txn, cancel, progress requests, compaction cancel,
a future start revision, periodic progress and fragmentation.
Responses of one step are printed sorted by watch id (etcd orders nothing
across watchers)."""
import queue
import threading
import time

import grpc

# python3-etcd3's stubs predate watch ids, fragments and progress requests:
# this script uses the project's own protos (and so must not import etcd3).
from rawproto import rpc_pb2, channel, b, Stubs

ch = channel()
stubs = Stubs(ch)
kv = stubs.kv
reqs = queue.Queue()
resps = queue.Queue()


def gen():
    while True:
        r = reqs.get()
        if r is None:
            return
        yield r


call = stubs.watch(gen())


def reader():
    try:
        for r in call:
            resps.put(r)
    except grpc.RpcError as e:
        resps.put(e)


threading.Thread(target=reader, daemon=True).start()


def fmt(r):
    if isinstance(r, grpc.RpcError):
        return "RpcError %s %r" % (r.code(), r.details())
    out = "id=%d rev=%d" % (r.watch_id, r.header.revision)
    for f in ("created", "canceled", "fragment"):
        if getattr(r, f):
            out += " " + f
    if r.compact_revision:
        out += " compact=%d" % r.compact_revision
    if r.cancel_reason:
        out += " reason=%r" % r.cancel_reason
    for e in r.events:
        out += " | %s %s=%s mod=%d create=%d ver=%d lease=%d" % (
            "PUT" if e.type == 0 else "DEL", b(e.kv.key), b(e.kv.value), e.kv.mod_revision,
            e.kv.create_revision, e.kv.version, e.kv.lease)
        if e.HasField("prev_kv"):
            out += " prev=%s@%d" % (b(e.prev_kv.value), e.prev_kv.mod_revision)
    return out


def step(label, req=None, n=0, quiet=0.3, wait=5.0, drain=True):
    """Send req (if any), collect n responses (bounded), then check that no
    other response follows within `quiet` seconds (unless not `drain`: what
    follows is left to the next step)."""
    if req is not None:
        reqs.put(req)
    got = []
    deadline = time.monotonic() + wait
    while len(got) < n and time.monotonic() < deadline:
        try:
            got.append(resps.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            break
    time.sleep(quiet)
    while drain and not resps.empty():
        got.append(resps.get())
    print("%s -> %d response(s)" % (label, len(got)))
    lines = [fmt(r) for r in got]
    for ln in sorted(lines, key=lambda s: s.split(" ")[0]) if len(got) > 1 else lines:
        print("  " + ln)


def create(key, end=b"", **kw):
    return rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=key, range_end=end, **kw))


def cancel(i):
    return rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=i))


def put(k, v):
    return kv.Put(rpc_pb2.PutRequest(key=k, value=v)).header.revision


for k, v in [(b"a", b"1"), (b"b", b"1")]:
    put(k, v)
kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"a"))
put(b"c", b"1")

step("watch a from rev 1 (catch-up)", create(b"a", start_revision=1), n=2)
step("watch everything with prev_kv", create(b"", b"\x00", prev_kv=True), n=1)
step("watch b as id 7, NOPUT", create(b"b", watch_id=7, filters=[rpc_pb2.WatchCreateRequest.NOPUT]), n=1)
step("watch id 7 again", create(b"x", watch_id=7), n=1)
step("empty range z..a", create(b"z", b"a"), n=1)
step("range end equal to key", create(b"m", b"m"), n=1)
step("negative start revision", create(b"a", start_revision=-5), n=2)
kv.Txn(rpc_pb2.TxnRequest(success=[
    rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"b", value=b"2")),
    rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"d", value=b"1"))]))
step("txn put b, d", n=1)
kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"b"))
step("delete b", n=2)
kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"nothing"))
step("delete of nothing", n=0)
step("cancel unknown 99", cancel(99), n=0)
step("cancel 7", cancel(7), n=1)
step("cancel 7 again", cancel(7), n=0)
step("auto id after 7", create(b"q"), n=1)
step("progress request", rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()), n=1)
kv.Compact(rpc_pb2.CompactionRequest(revision=6, physical=True))
step("watch a from rev 3 after compaction at 6", create(b"a", start_revision=3), n=2)
step("watch a from rev 6 (the compacted revision)", create(b"a", start_revision=6), n=1)
step("cancel a compacted watcher", cancel(3), n=1)
step("watch f from rev 100", create(b"f", start_revision=100), n=1)
put(b"f", b"1")
step("put f below its start", n=1)
# The stream's 1 s progress ticker may fire right after the created response
# (in either system): a notification then waits for the next step.
step("progress-notify watcher", create(b"pn", progress_notify=True), n=1, quiet=0.0, drain=False)
step("periodic progress (interval 1s)", n=1, quiet=0.0, wait=3.0)
# Fragmentation: a catch-up response of 30 revisions of 100 kB each is
# larger than the limit (--max-request-bytes + 512 KiB = 2 MiB).
first = None
for i in range(30):
    r = put(b"big/%03d" % i, b"x" * 100000)
    first = first or r
reqs.put(create(b"big/", b"big0", start_revision=first, fragment=True))
reqs.put(create(b"big/", b"big0", start_revision=first))
got = []
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        got.append(resps.get(timeout=1.5))
    except queue.Empty:
        break
# (watcher 7 keeps getting periodic progress: how many is a matter of timing)
for wid in sorted({r.watch_id for r in got} - {7}):
    mine = [r for r in got if r.watch_id == wid]
    print("big puts: watcher %d: %d response(s), created %s, fragment flags %s, events per response %s" % (
        wid, len(mine), [r.created for r in mine], [r.fragment for r in mine],
        [len(r.events) for r in mine]))
reqs.put(None)
call.cancel()
print("done")
