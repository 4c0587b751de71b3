"""Helpers for python3-etcd3 compat scripts (run by /usr/bin/python3).

Every script prints one line per observation, deterministically; the runner
normalizes and diffs the output between etcd and ketcd. Never print
cluster_id / member_id / raft_term unless through header() (normalized anyway).
"""

import sys

import re

import grpc

import etcd3

from conn import target
from textfmt import b  # noqa: F401  (used by the scripts)


def client():
    """python3-etcd3's client for the server on the command line (see conn.py);
    over TLS with the CA and the client certificate given there."""
    t = target()
    return etcd3.client(host=t.host, port=t.port, timeout=5, ca_cert=t.ca_cert,
                        cert_key=t.cert_key, cert_cert=t.cert_cert)


def kv(value, meta):
    if meta is None:
        return "<none> value=%s" % b(value)
    return "key=%s value=%s create=%d mod=%d ver=%d lease=%d" % (
        b(meta.key), b(value), meta.create_revision, meta.mod_revision,
        meta.version, meta.lease_id)


def pbkv(k):
    """an mvccpb.KeyValue message."""
    return "key=%s value=%s create=%d mod=%d ver=%d lease=%d" % (
        b(k.key), b(k.value), k.create_revision, k.mod_revision, k.version, k.lease)


def header(h):
    return "header(revision=%d)" % h.revision


# gRPC's own receive-limit error is worded by the gRPC implementation
# (grpc-go: "grpc: received message larger than max (A vs. B)", gRPC C++:
# "Received message larger than max (A vs. B)"); the sizes are what etcd
# defines, so they are kept and compared.
_RECV_LIMIT = re.compile(r"^(?:grpc: r|R)eceived message larger than max (\(\d+ vs\. \d+\))$")


def transport_neutral(details):
    m = _RECV_LIMIT.match(details or "")
    return "received message larger than max " + m.group(1) if m else details


def show(label, fn):
    """Run fn(); print its result or the error (class, gRPC code, details)."""
    try:
        res = fn()
    except grpc.RpcError as e:
        print("%s -> RpcError %s %r" % (label, e.code(), transport_neutral(e.details())))
        return None
    except Exception as e:  # etcd3's translated exceptions etc.
        print("%s -> %s %r" % (label, type(e).__name__, str(e)))
        return None
    if res is None or isinstance(res, (bool, int, str, bytes)):
        print("%s -> %r" % (label, res))
    elif isinstance(res, list):
        print("%s -> %d item(s)" % (label, len(res)))
        for line in res:
            print("    " + line)
    else:
        print("%s -> %s" % (label, res))
    return res


def listing(gen):
    return [kv(v, m) for v, m in gen]


def rev(c):
    """current store revision, read through a Range of a key nobody writes."""
    return c.get_response("__rev_probe__").header.revision


def done(c):
    c.close()
    sys.stdout.flush()
