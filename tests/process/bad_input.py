#!/usr/bin/python3
"""Bad input, differential: every malformed, oversized or invalid request gets
the same gRPC code (and, where etcd defines one, the same "etcdserver: ..."
message) from ketcd as from Debian's etcd, and the server keeps serving with
its data intact afterwards.

usage: bad_input.py --ketcd PATH [--etcd /usr/bin/etcd] [--against both|ketcd|etcd]
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))
import harness  # noqa: E402
import differential  # noqa: E402

import grpc  # noqa: E402
from etcd3.etcdrpc import rpc_pb2  # noqa: E402

MAX_REQUEST_BYTES = 4096
MAX_TXN_OPS = 8
TIMEOUT = 10


def call(channel, method, request_bytes):
    fn = channel.unary_unary("/etcdserverpb.KV/" + method)
    try:
        fn(request_bytes, timeout=TIMEOUT)
        return "OK"
    except grpc.RpcError as e:
        msg = e.details() or ""
        # etcd's own errors are compared word for word; transport-level
        # messages (parse failures, size limits) differ between the two gRPC
        # implementations, so only their code is compared.
        if msg.startswith("etcdserver:"):
            return "%s %s" % (e.code().name, msg)
        return e.code().name


def put(key, value=b"", **kw):
    return rpc_pb2.PutRequest(key=key, value=value, **kw).SerializeToString()


def scenario(server):
    out = []
    with grpc.insecure_channel(server.endpoint) as ch:
        grpc.channel_ready_future(ch).result(timeout=TIMEOUT)
        out.append(("seed put", call(ch, "Put", put(b"keep", b"me"))))
        # An unparseable message is refused by the gRPC layer itself; grpc-go
        # says INTERNAL, gRPC C++'s callback API says UNIMPLEMENTED. What
        # matters is that it is an error and the member survives it.
        garbage = call(ch, "Put", b"\xff\xff\xff\xff\x0f\x01")
        out.append(("garbage bytes as PutRequest",
                    "refused" if garbage in ("INTERNAL", "UNIMPLEMENTED") else garbage))
        out.append(("truncated RangeRequest", call(ch, "Range", put(b"abcdef", b"x")[:-3])))
        out.append(("empty key put", call(ch, "Put", put(b"", b"v"))))
        out.append(("empty key range", call(ch, "Range", rpc_pb2.RangeRequest(key=b"").SerializeToString())))
        out.append(("ignore_value with value", call(ch, "Put", put(b"k", b"v", ignore_value=True))))
        out.append(("ignore_lease with lease", call(ch, "Put", put(b"k", b"", lease=5, ignore_lease=True))))
        out.append(("ignore_value, no such key", call(ch, "Put", put(b"nokey", ignore_value=True))))
        out.append(("unknown lease", call(ch, "Put", put(b"k", b"v", lease=12345))))
        out.append(("value just over --max-request-bytes",
                    call(ch, "Put", put(b"big", b"x" * (MAX_REQUEST_BYTES + 10)))))
        out.append(("message far over the gRPC limit",
                    call(ch, "Put", put(b"huge", b"x" * (MAX_REQUEST_BYTES + 1024 * 1024)))))
        ops = [rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"t%d" % i, value=b"v"))
               for i in range(MAX_TXN_OPS + 1)]
        out.append(("txn over --max-txn-ops",
                    call(ch, "Txn", rpc_pb2.TxnRequest(success=ops).SerializeToString())))
        dup = [rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"d", value=b"1")),
               rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"d", value=b"2"))]
        out.append(("txn duplicate key", call(ch, "Txn", rpc_pb2.TxnRequest(success=dup).SerializeToString())))
        out.append(("txn empty op", call(ch, "Txn", rpc_pb2.TxnRequest(success=[rpc_pb2.RequestOp()]).SerializeToString())))
        out.append(("compact future revision",
                    call(ch, "Compact", rpc_pb2.CompactionRequest(revision=1000).SerializeToString())))
        out.append(("range future revision",
                    call(ch, "Range", rpc_pb2.RangeRequest(key=b"keep", revision=1000).SerializeToString())))
        out.append(("compact 2", call(ch, "Compact", rpc_pb2.CompactionRequest(revision=2).SerializeToString())))
        out.append(("compact 2 again", call(ch, "Compact", rpc_pb2.CompactionRequest(revision=2).SerializeToString())))
        out.append(("range compacted revision",
                    call(ch, "Range", rpc_pb2.RangeRequest(key=b"keep", revision=1).SerializeToString())))
        unknown = ch.unary_unary("/etcdserverpb.KV/NoSuchMethod")
        try:
            unknown(b"", timeout=TIMEOUT)
            out.append(("unknown method", "OK"))
        except grpc.RpcError as e:
            out.append(("unknown method", e.code().name))
        # Still serving, and nothing acknowledged was lost.
        fn = ch.unary_unary("/etcdserverpb.KV/Range", response_deserializer=rpc_pb2.RangeResponse.FromString)
        resp = fn(rpc_pb2.RangeRequest(key=b"keep").SerializeToString(), timeout=TIMEOUT)
        out.append(("still serving", "%s=%s rev=%d" % (resp.kvs[0].key.decode(), resp.kvs[0].value.decode(),
                                                       resp.header.revision)))
    if not server.alive():
        out.append(("server", "DIED"))
    return out


def run(binary, label):
    flags = ["--max-request-bytes", str(MAX_REQUEST_BYTES), "--max-txn-ops", str(MAX_TXN_OPS)]
    with harness.Server(binary, extra_flags=flags, label=label) as server:
        server.start()
        return scenario(server)


def main():
    args, results = differential.run_systems(run)
    return differential.report(args, results)


if __name__ == "__main__":
    sys.exit(main())
