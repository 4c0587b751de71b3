"""The project's own etcd protos for compat scripts that need fields
python3-etcd3's bundled stubs lack (watch ids, fragments, progress requests).
protoc (Debian's protobuf-compiler, a build dependency) compiles proto/ into a
temp dir at import; gRPC calls go through generic stubs, so no gRPC plugin is
needed. Do not import etcd3 in the same process: both register etcdserverpb."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import grpc

_HERE = os.path.dirname(os.path.abspath(__file__))
_PROTO = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "proto"))
_OUT = tempfile.mkdtemp(prefix="ketcd-proto-")
atexit.register(shutil.rmtree, _OUT, True)
subprocess.run(["protoc", "-I", _PROTO, "--python_out", _OUT,
                "etcdserverpb/rpc.proto", "mvccpb/kv.proto", "authpb/auth.proto"], check=True)
sys.path.insert(0, _OUT)

from etcdserverpb import rpc_pb2  # noqa: E402
from textfmt import b  # noqa: E402,F401  (re-exported for the scripts)
from conn import target  # noqa: E402


def channel():
    """A gRPC channel to the server on the command line (see conn.py): with
    grpc.ssl_channel_credentials (CA, client key and certificate) over TLS."""
    t = target()
    if not t.tls:
        return grpc.insecure_channel(t.endpoint)

    def read(path):
        with open(path, "rb") as f:
            return f.read()
    creds = grpc.ssl_channel_credentials(read(t.ca_cert), read(t.cert_key), read(t.cert_cert))
    return grpc.secure_channel(t.endpoint, creds)


class Stubs:
    """Just the calls the scripts use."""

    def __init__(self, ch):
        def unary(svc, name, req, resp):
            return ch.unary_unary("/etcdserverpb.%s/%s" % (svc, name),
                                  request_serializer=req.SerializeToString,
                                  response_deserializer=resp.FromString)

        class KV:
            Put = unary("KV", "Put", rpc_pb2.PutRequest, rpc_pb2.PutResponse)
            Range = unary("KV", "Range", rpc_pb2.RangeRequest, rpc_pb2.RangeResponse)
            DeleteRange = unary("KV", "DeleteRange", rpc_pb2.DeleteRangeRequest,
                                rpc_pb2.DeleteRangeResponse)
            Txn = unary("KV", "Txn", rpc_pb2.TxnRequest, rpc_pb2.TxnResponse)
            Compact = unary("KV", "Compact", rpc_pb2.CompactionRequest, rpc_pb2.CompactionResponse)

        class Lease:
            Grant = unary("Lease", "LeaseGrant", rpc_pb2.LeaseGrantRequest, rpc_pb2.LeaseGrantResponse)
            Revoke = unary("Lease", "LeaseRevoke", rpc_pb2.LeaseRevokeRequest,
                           rpc_pb2.LeaseRevokeResponse)
            TimeToLive = unary("Lease", "LeaseTimeToLive", rpc_pb2.LeaseTimeToLiveRequest,
                               rpc_pb2.LeaseTimeToLiveResponse)
            Leases = unary("Lease", "LeaseLeases", rpc_pb2.LeaseLeasesRequest,
                           rpc_pb2.LeaseLeasesResponse)

        self.kv = KV
        self.lease = Lease
        self.watch = ch.stream_stream("/etcdserverpb.Watch/Watch",
                                      request_serializer=rpc_pb2.WatchRequest.SerializeToString,
                                      response_deserializer=rpc_pb2.WatchResponse.FromString)
        self.keepalive = ch.stream_stream(
            "/etcdserverpb.Lease/LeaseKeepAlive",
            request_serializer=rpc_pb2.LeaseKeepAliveRequest.SerializeToString,
            response_deserializer=rpc_pb2.LeaseKeepAliveResponse.FromString)
