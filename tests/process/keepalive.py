#!/usr/bin/python3
"""Client keepalive pings, differential: a member started with
--grpc-keepalive-min-time keeps a quiet call open while the client pings no
more often than that (etcdctl and clientv3 ping every 10 s at the most, and
`etcdctl defrag` or `compaction --physical` on a large store, or an idle
watch, is quiet for longer than three pings), and closes the connection of
a client that pings much more often, as etcd 3.4 does.

usage: keepalive.py --ketcd PATH [--etcd /usr/bin/etcd] [--against both|ketcd|etcd]
"""
import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))
import harness  # noqa: E402
import differential  # noqa: E402

import grpc  # noqa: E402
from etcd3.etcdrpc import rpc_pb2  # noqa: E402

MIN_TIME = "2s"
TIMEOUT = 10
WITHIN = "pings every 2.5s, min-time 2s, 12 s quiet"
TOO_OFTEN = "pings every 1s, min-time 2s, 7 s quiet"


def pinging_channel(endpoint, every_ms):
    """A channel whose client pings every `every_ms` while a call is open,
    whether or not data flows (gRPC C++'s client would stop after two)."""
    return grpc.insecure_channel(endpoint, options=[
        ("grpc.keepalive_time_ms", every_ms), ("grpc.keepalive_timeout_ms", 5000),
        ("grpc.http2.max_pings_without_data", 0), ("grpc.http2.min_time_between_pings_ms", every_ms),
        ("grpc.keepalive_permit_without_calls", 0),
        # Not the process-wide pool: a subchannel told "too many pings" once
        # pings less often ever after.
        ("grpc.use_local_subchannel_pool", 1)])


class Watch:
    """One Watch stream on b"k"; its responses land in a queue, and how it
    ended in `ended` (a gRPC code name)."""

    def __init__(self, channel):
        self.requests, self.responses, self.ended = queue.Queue(), queue.Queue(), None
        self.requests.put(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"k")))
        call = channel.stream_stream("/etcdserverpb.Watch/Watch",
                                     request_serializer=rpc_pb2.WatchRequest.SerializeToString,
                                     response_deserializer=rpc_pb2.WatchResponse.FromString)
        self.call = call(iter(self.requests.get, None), timeout=60)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        try:
            for resp in self.call:
                self.responses.put(resp)
            self.ended = "OK"
        except grpc.RpcError as e:
            self.ended = e.code().name
        self.responses.put(None)

    def next(self, timeout=TIMEOUT):
        try:
            return self.responses.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self):
        self.requests.put(None)
        self.call.cancel()
        self.reader.join(timeout=TIMEOUT)


def quiet_watch(server, every_ms, quiet_s):
    """Opens a watch, stays quiet for quiet_s while the client pings every
    every_ms, then puts the key: what the watch saw."""
    with pinging_channel(server.endpoint, every_ms) as ch:
        grpc.channel_ready_future(ch).result(timeout=TIMEOUT)
        w = Watch(ch)
        try:
            first = w.next()
            if first is None or not first.created:
                return "no created response"
            time.sleep(quiet_s)
            if w.ended is not None:
                return "watch ended: %s" % w.ended
            put = ch.unary_unary("/etcdserverpb.KV/Put", request_serializer=rpc_pb2.PutRequest.SerializeToString,
                                 response_deserializer=rpc_pb2.PutResponse.FromString)
            try:
                put(rpc_pb2.PutRequest(key=b"k", value=b"v"), timeout=TIMEOUT)
            except grpc.RpcError as e:
                return "put failed: %s" % e.code().name
            got = w.next()
            if got is None:
                return "watch ended: %s" % w.ended if w.ended else "no event"
            return "event %s=%s" % (got.events[0].kv.key.decode(), got.events[0].kv.value.decode()) \
                if got.events else "response without events"
        finally:
            w.close()


def scenario(server):
    # Pings every 2.5 s, the member's minimum 2 s: twelve seconds of quiet
    # are four pings, past the strikes gRPC's own policy (a ping every 5
    # minutes) allows.
    within = quiet_watch(server, 2500, 12)
    # Pings every second (gRPC's client pings no more often than that): the
    # member must close the connection after a few.
    too_often = quiet_watch(server, 1000, 7)
    return [(WITHIN, within), (TOO_OFTEN, too_often)]


def run(binary, label):
    with harness.Server(binary, extra_flags=["--grpc-keepalive-min-time", MIN_TIME], label=label) as server:
        server.start()
        out = scenario(server)
        out.append(("member alive", "yes" if server.alive() else "no"))
        return out


def main():
    args, results = differential.run_systems(run, width=45)
    # What both must show, so that a run against one system checks it too.
    want = {WITHIN: "event k=v", TOO_OFTEN: "watch ended: UNAVAILABLE", "member alive": "yes"}
    bad = [(label, name, got) for label, rows in results.items() for name, got in rows if want[name] != got]
    bad += [("ketcd vs etcd", name, "etcd %r, ketcd %r" % (e, k)) for name, e, k in differential.mismatches(results)]
    for label, name, got in bad:
        print("MISMATCH %s %s: %s" % (label, name, got))
    print("%d failed" % len(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
