#!/usr/bin/python3
"""Many watchers on one prefix, each on its own Watch stream, re-watching from
their last revision + 1 on the next endpoint when a stream breaks (what
clientv3 does). Used by cluster_test.py's watch_lease_failover.

    watch_client.py --endpoints A,B,C --prefix P --start-rev R --watchers N \\
                    --out FILE --stop-file F --until-file U --max-seconds S

Watcher i starts on endpoint i % len(endpoints). When U appears (it holds
the final revision), each watcher runs until it has an event at or past
that revision (or S passes); then FILE gets one JSON object, lists by watcher:
{"revs": [[rev, ...]], "deletes": [n], "key_crcs": [crc32 of the keys in
order, each followed by NUL], "reconnects": [n]}.
"""
import argparse
import json
import os
import sys
import threading
import time
import zlib

import grpc

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "scripts"))
from rawproto import rpc_pb2  # noqa: E402


def prefix_end(p):
    b = bytearray(p)
    while b and b[-1] == 0xFF:
        b.pop()
    if not b:
        return b"\x00"
    b[-1] += 1
    return bytes(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--start-rev", type=int, required=True)
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--index-base", type=int, default=0,
                    help="this process's first watcher number (placement: number % endpoints)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--until-file", required=True)
    ap.add_argument("--max-seconds", type=float, default=120)
    args = ap.parse_args()
    eps = args.endpoints.split(",")
    for e in eps:
        assert e.startswith("127.0.0.1:"), e
    channels = [grpc.insecure_channel(e) for e in eps]
    prefix = args.prefix.encode()
    deadline = time.monotonic() + args.max_seconds
    events = [[] for _ in range(args.watchers)]  # revisions
    types = [0] * args.watchers   # DELETE events seen
    crcs = [0] * args.watchers    # CRC-32 of the keys, in order, each followed by \0
    reconnects = [0] * args.watchers
    final = [None]
    current = [None] * args.watchers  # each watcher's open stream

    def final_rev():
        if final[0] is None and os.path.exists(args.until_file):
            with open(args.until_file) as f:
                txt = f.read().strip()
            if txt:
                final[0] = int(txt)
        return final[0]

    def done(i):
        f = final_rev()
        return time.monotonic() > deadline or (
            f is not None and (events[i][-1] if events[i] else args.start_rev - 1) >= f)

    def watcher(i):
        ep = (args.index_base + i) % len(eps)
        next_rev = args.start_rev
        while not done(i):
            call = channels[ep].stream_stream(
                "/etcdserverpb.Watch/Watch",
                request_serializer=rpc_pb2.WatchRequest.SerializeToString,
                response_deserializer=rpc_pb2.WatchResponse.FromString)
            req = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
                key=prefix, range_end=prefix_end(prefix), start_revision=next_rev))
            stop = threading.Event()

            def reqs():
                yield req
                stop.wait()

            stream = call(iter(reqs()))
            current[i] = stream
            try:
                for resp in stream:
                    if resp.canceled:
                        raise RuntimeError("cancelled: %s" % resp.cancel_reason)
                    if resp.events:
                        # Kept light (Python is the slow end of 10^6 events):
                        # revisions and types as they come, keys as a CRC.
                        evs = resp.events
                        revs = [e.kv.mod_revision for e in evs]
                        events[i].extend(revs)
                        types[i] += sum(e.type for e in evs)
                        crcs[i] = zlib.crc32(b"".join(e.kv.key + b"\0" for e in evs), crcs[i])
                        next_rev = revs[-1] + 1
                    if done(i):
                        break
            except Exception:  # noqa: BLE001 - a broken stream: re-watch elsewhere
                if done(i):
                    break  # cancelled by the monitor: finished
                reconnects[i] += 1
                ep = (ep + 1) % len(eps)
                time.sleep(0.2)
            finally:
                stop.set()
                stream.cancel()
            if not done(i):
                # the stream ended without an error while not done: poll the file again
                time.sleep(0.05)

    threads = [threading.Thread(target=watcher, args=(i,), daemon=True) for i in range(args.watchers)]
    for t in threads:
        t.start()
    # A watcher that has everything sits in a blocking read: cancel it.
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline + 5:
        for i in range(args.watchers):
            if done(i) and current[i] is not None:
                current[i].cancel()
        time.sleep(0.2)
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic() + 5))
    with open(args.out + ".tmp", "w") as f:
        json.dump({"revs": events, "deletes": types, "key_crcs": crcs, "reconnects": reconnects}, f)
    os.rename(args.out + ".tmp", args.out)
    os._exit(0)


if __name__ == "__main__":
    main()
