#!/usr/bin/env python3
"""Differential test of the JSON gateway (issue 16): the same HTTP requests
against Debian's etcd 3.4 and ketcd, one single-member server each, every
answer's status, Content-Type and JSON body compared after normalising what
legitimately differs (cluster and member ids, raft term and indexes, URLs'
ports, versions, sizes, hashes, tokens, lease TTLs counting down).

  - KV: put (prev_kv), range (prefix, keys_only, count_only, limit, sort),
    txn (success and failure), deleterange, compaction, a compacted and a
    future revision; /v3beta/ as /v3/;
  - watch: a chunked stream, one {"result":..} line per message (created,
    put and delete events with prev_kv), closed by the client; a watch from
    a compacted revision; a malformed watch body;
  - lease: grant (fixed and server-chosen ID), keepalive (a one-result
    stream), timetolive with keys (both paths), leases, revoke (both
    paths), the errors of a revoked lease;
  - cluster member list, maintenance status and alarm;
  - auth: user and role calls, auth enable, authenticate, a put with and
    without the token in the Authorization header, a bad token, disable;
  - errors: unknown paths (/v3/ and /v3alpha/), GET on a gateway path,
    malformed JSON bodies (400 with Go's messages), a request over
    --max-request-bytes, a body over the gateway's limit (refused unread);
  - over TLS with --client-cert-auth: put, range and a watch event; then
    auth enabled through the gateway, after which every /v3/ (and /v3beta/)
    request of a client whose certificate has a CN is refused with 400 and
    etcd's text, known path or not, any method; /health is still served.
Then (ketcd only) --enable-grpc-gateway=false: /v3/ paths are 404.

Usage: /usr/bin/python3 tests/cluster/gateway_test.py --server build/server/ketcd
       [--etcd /usr/bin/etcd] [--timeout 150]
Exit 0 when every answer matches, 1 when some differ, 2 on a harness error.
"""

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))

import harness  # noqa: E402

MAX_REQUEST_BYTES = 100000
GRPC_MAX = MAX_REQUEST_BYTES + 512 * 1024


def log(msg):
    print("[gateway] %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


class Client:
    """HTTP(S) requests to one server's client port."""

    def __init__(self, server, certs=None):
        self.port = server.client_port
        self.ctx = None
        if certs:
            self.ctx = ssl.create_default_context(cafile=certs.ca)
            self.ctx.load_cert_chain(certs.client, certs.client_key)

    def conn(self, timeout=10):
        if self.ctx:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def call(self, path, body=None, method="POST", headers=None, raw=None):
        c = self.conn()
        try:
            data = raw if raw is not None else (json.dumps(body) if body is not None else None)
            c.request(method, path, body=data, headers=headers or {})
            r = c.getresponse()
            return r.status, (r.getheader("Content-Type") or ""), r.read().decode("utf-8", "replace")
        finally:
            c.close()


class Watch:
    """A /v3/watch stream read line by line."""

    def __init__(self, client, body):
        self.c = client.conn(timeout=10)
        self.c.request("POST", "/v3/watch", body=json.dumps(body))
        self.r = self.c.getresponse()

    def line(self):
        return self.r.readline().decode("utf-8", "replace").rstrip("\n")

    def close(self):
        self.c.close()


VOLATILE = {"cluster_id", "member_id", "raft_term", "raftTerm", "raftIndex", "raftAppliedIndex",
            "leader", "version", "dbSize", "dbSizeInUse", "hash", "token"}


def normalise(value, key=None):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            # A KeyValue's version is data; Status's is the server's.
            volatile = k in VOLATILE and not (k == "version" and "." not in str(v))
            out[k] = "<%s>" % k if volatile else normalise(v, k)
        if "peerURLs" in out and "ID" in out:  # a member
            out["ID"] = "<id>"
        if "leases" in out:
            out["leases"] = sorted(out["leases"], key=lambda l: l.get("ID", ""))
        return out
    if isinstance(value, list):
        return [normalise(v, key) for v in value]
    if isinstance(value, str):
        return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", value)
    return value


def norm_body(text):
    try:
        return json.dumps(normalise(json.loads(text)), sort_keys=True)
    except ValueError:
        return text


class Transcript:
    def __init__(self):
        self.lines = []

    def add(self, what, status, ctype, body):
        self.lines.append("%s -> %s %s %s" % (what, status, ctype, norm_body(body)))

    def call(self, client, what, path, body=None, **kw):
        status, ctype, text = client.call(path, body, **kw)
        self.add(what, status, ctype, text)
        return status, text


def kv_story(t, c):
    t.call(c, "put foo", "/v3/kv/put", {"key": b64("foo"), "value": b64("bar")})
    t.call(c, "put foo prev_kv", "/v3/kv/put", {"key": b64("foo"), "value": b64("baz"), "prev_kv": True})
    for k in ("foo1", "foo2", "fop"):
        t.call(c, "put " + k, "/v3/kv/put", {"key": b64(k), "value": b64(k.upper())})
    t.call(c, "range foo", "/v3/kv/range", {"key": b64("foo")})
    t.call(c, "range prefix", "/v3/kv/range", {"key": b64("foo"), "range_end": b64("fop")})
    t.call(c, "range keys_only camel", "/v3/kv/range", {"key": b64("foo"), "range_end": b64("fop"), "keysOnly": True})
    t.call(c, "range count_only", "/v3/kv/range", {"key": b64("f"), "range_end": b64("g"), "count_only": True})
    t.call(c, "range limit sorted", "/v3/kv/range",
           {"key": b64("f"), "range_end": b64("g"), "limit": "2", "sort_order": "DESCEND", "sort_target": "KEY"})
    t.call(c, "range v3beta", "/v3beta/kv/range", {"key": b64("fop")})
    t.call(c, "range rev 2", "/v3/kv/range", {"key": b64("foo"), "revision": "2"})
    t.call(c, "txn success", "/v3/kv/txn", {
        "compare": [{"target": "VALUE", "key": b64("foo"), "value": b64("baz")}],
        "success": [{"request_put": {"key": b64("t"), "value": b64("1")}},
                    {"request_range": {"key": b64("foo")}}],
        "failure": [{"request_delete_range": {"key": b64("foo")}}]})
    t.call(c, "txn failure", "/v3/kv/txn", {
        "compare": [{"target": "MOD", "key": b64("foo"), "result": "GREATER", "mod_revision": "100"}],
        "success": [{"request_put": {"key": b64("t"), "value": b64("2")}}],
        "failure": [{"request_delete_range": {"key": b64("t"), "prev_kv": True}}]})
    t.call(c, "deleterange prefix", "/v3/kv/deleterange", {"key": b64("foo1"), "range_end": b64("foo3"), "prev_kv": True})
    t.call(c, "compaction", "/v3/kv/compaction", {"revision": "4"})
    t.call(c, "range compacted", "/v3/kv/range", {"key": b64("foo"), "revision": "3"})
    t.call(c, "range future", "/v3/kv/range", {"key": b64("foo"), "revision": "1000"})
    t.call(c, "range no key", "/v3/kv/range", {})


def watch_story(t, c):
    w = Watch(c, {"create_request": {"key": b64("w"), "range_end": b64("x"), "prev_kv": True}})
    t.add("watch head", w.r.status, w.r.getheader("Content-Type"), w.r.getheader("Transfer-Encoding") or "")
    t.add("watch created", "", "", w.line())
    t.call(c, "put w1", "/v3/kv/put", {"key": b64("w1"), "value": b64("a")})
    t.call(c, "put w1 again", "/v3/kv/put", {"key": b64("w1"), "value": b64("b")})
    t.call(c, "delete w1", "/v3/kv/deleterange", {"key": b64("w1")})
    for i in range(3):
        t.add("watch event %d" % i, "", "", w.line())
    w.close()
    t.call(c, "range after watch closed", "/v3/kv/range", {"key": b64("w1")})
    w = Watch(c, {"create_request": {"key": b64("foo"), "start_revision": "2"}})
    t.add("watch compacted", w.r.status, "", w.line())
    t.add("watch compacted canceled", "", "", w.line())
    w.close()
    t.call(c, "watch malformed", "/v3/watch", raw="xx")


def lease_story(t, c):
    t.call(c, "lease grant fixed", "/v3/lease/grant", {"TTL": "60", "ID": "1234"})
    status, text = c.call("/v3/lease/grant", {"TTL": 30})[0::2]
    body = json.loads(text)
    body["ID"] = "<random>" if body.get("ID") else body.get("ID")
    t.add("lease grant random", status, "", json.dumps(body))
    t.call(c, "put with lease", "/v3/kv/put", {"key": b64("leased"), "value": b64("v"), "lease": "1234"})
    t.call(c, "lease keepalive", "/v3/lease/keepalive", {"ID": "1234"})
    status, _, text = c.call("/v3/lease/timetolive", {"ID": "1234", "keys": True})
    body = json.loads(text)
    body["TTL"] = "ok" if 55 <= int(body.get("TTL", 0)) <= 60 else body.get("TTL")
    t.add("lease timetolive", status, "", json.dumps(body))
    t.call(c, "lease timetolive kv path no keys", "/v3/kv/lease/timetolive", {"ID": "999"})
    status, _, text = c.call("/v3/lease/leases", {})
    body = json.loads(text)
    t.add("lease leases", status, "", json.dumps(len(body.get("leases", []))))
    t.call(c, "lease revoke kv path", "/v3/kv/lease/revoke", {"ID": "1234"})
    t.call(c, "lease revoke again", "/v3/lease/revoke", {"ID": "1234"})
    t.call(c, "lease keepalive revoked", "/v3/lease/keepalive", {"ID": "1234"})
    t.call(c, "range leased key gone", "/v3/kv/range", {"key": b64("leased")})


def cluster_story(t, c):
    t.call(c, "member list", "/v3/cluster/member/list", {})
    t.call(c, "maintenance status", "/v3/maintenance/status", {})
    t.call(c, "maintenance alarm list", "/v3/maintenance/alarm", {"action": "GET"})


def auth_story(t, c):
    t.call(c, "user add root", "/v3/auth/user/add", {"name": "root", "password": "rootpw"})
    t.call(c, "user grant root", "/v3/auth/user/grant", {"user": "root", "role": "root"})
    t.call(c, "role add r", "/v3/auth/role/add", {"name": "r"})
    t.call(c, "role grant r", "/v3/auth/role/grant",
           {"name": "r", "perm": {"permType": "READWRITE", "key": b64("a"), "range_end": b64("b")}})
    t.call(c, "role get r", "/v3/auth/role/get", {"role": "r"})
    t.call(c, "user list", "/v3/auth/user/list", {})
    t.call(c, "auth enable", "/v3/auth/enable", {})
    t.call(c, "put without token", "/v3/kv/put", {"key": b64("a1"), "value": b64("x")})
    t.call(c, "authenticate wrong", "/v3/auth/authenticate", {"name": "root", "password": "nope"})
    status, text = t.call(c, "authenticate", "/v3/auth/authenticate", {"name": "root", "password": "rootpw"})
    token = json.loads(text).get("token", "") if status == 200 else ""
    t.call(c, "put with token", "/v3/kv/put", {"key": b64("a1"), "value": b64("x")},
           headers={"Authorization": token})
    t.call(c, "range bad token", "/v3/kv/range", {"key": b64("a1")}, headers={"Authorization": "bogus"})
    t.call(c, "auth disable", "/v3/auth/disable", {}, headers={"Authorization": token})
    t.call(c, "range after disable", "/v3/kv/range", {"key": b64("a1")})


def error_story(t, c):
    t.call(c, "unknown v3 path", "/v3/kv/nope", {})
    t.call(c, "unknown v3alpha", "/v3alpha/kv/range", {"key": b64("foo")})
    t.call(c, "GET on range", "/v3/kv/range", method="GET")
    for name, raw in (("truncated", '{"key":'), ("garbage", "xyz"), ("array", "[1]"),
                      ("after key", '{"key" 1}'), ("bad literal", '{"keys_only":tru}'),
                      ("trailing ignored", '{"key":"Zm9v"} trailing'), ("null", "null"),
                      ("empty", "")):
        t.call(c, "malformed " + name, "/v3/kv/range", raw=raw)
    # Between --max-request-bytes and gRPC's limit: the server's own refusal.
    t.call(c, "put over max-request-bytes", "/v3/kv/put", {"key": b64("big"), "value": b64("x" * (MAX_REQUEST_BYTES + 10))})
    # Over gRPC's limit but within the gateway's: RESOURCE_EXHAUSTED (the
    # message's wording is gRPC's own in each language).
    status, _, text = c.call("/v3/kv/put", {"key": b64("big"), "value": b64("x" * (GRPC_MAX + 1000))})
    t.add("put over grpc limit", status, "", str(json.loads(text).get("code")))
    # Far over any limit: ketcd refuses at the headers; both say 429 / 8.
    status, _, text = c.call("/v3/kv/put", raw='{"key":"YQ==","value":"' + "A" * (4 * GRPC_MAX) + '"}')
    t.add("put far over limit", status, "", str(json.loads(text).get("code")))
    t.call(c, "still serving", "/v3/kv/range", {"key": b64("foo")})


def tls_story(t, c):
    t.call(c, "tls put", "/v3/kv/put", {"key": b64("s"), "value": b64("1")})
    t.call(c, "tls range", "/v3/kv/range", {"key": b64("s")})
    w = Watch(c, {"create_request": {"key": b64("s")}})
    t.add("tls watch created", w.r.status, "", w.line())
    t.call(c, "tls put again", "/v3/kv/put", {"key": b64("s"), "value": b64("2")})
    t.add("tls watch event", "", "", w.line())
    w.close()


def tls_auth_story(t, c):
    """With --client-cert-auth, once auth is on, every /v3/ request from a
    client whose certificate has a CN is refused with 400 (etcd 3.4's
    embed/serve.go); before that it is served."""
    t.call(c, "tls user add root", "/v3/auth/user/add", {"name": "root", "password": "rootpw"})
    t.call(c, "tls user grant root", "/v3/auth/user/grant", {"user": "root", "role": "root"})
    t.call(c, "tls auth enable", "/v3/auth/enable", {})
    t.call(c, "tls CN range, auth on", "/v3/kv/range", {"key": b64("s")})
    t.call(c, "tls CN authenticate, auth on", "/v3/auth/authenticate", {"name": "root", "password": "rootpw"})
    t.call(c, "tls CN v3beta, auth on", "/v3beta/kv/range", {"key": b64("s")})
    t.call(c, "tls CN unknown path, auth on", "/v3/kv/nope", {})
    t.call(c, "tls CN GET, auth on", "/v3/kv/range", method="GET")
    t.call(c, "tls CN OPTIONS, auth on", "/v3/kv/range", method="OPTIONS")
    t.call(c, "tls CN v3alpha, auth on", "/v3alpha/kv/range", {"key": b64("s")})
    status, _, _ = c.call("/health", method="GET")
    t.add("tls CN /health, auth on", status, "", "")


def run(binary, label, certs_dir):
    flags = ["--max-request-bytes", str(MAX_REQUEST_BYTES), "--bcrypt-cost", "4"]
    t = Transcript()
    with harness.Server(binary, extra_flags=flags, label=label) as s:
        s.start()
        c = Client(s)
        for story in (kv_story, watch_story, lease_story, cluster_story, auth_story, error_story):
            log("%s: %s" % (label, story.__name__))
            story(t, c)
    certs = harness.Certs(os.path.join(certs_dir, label))
    with harness.Server(binary, extra_flags=flags, label=label + "-tls", certs=certs) as s:
        s.start()
        log("%s: tls_story" % label)
        tls_story(t, Client(s, certs))
        log("%s: tls_auth_story" % label)
        tls_auth_story(t, Client(s, certs))
    return t.lines


def gateway_off(binary):
    with harness.Server(binary, extra_flags=["--enable-grpc-gateway=false"], label="ketcd-nogw") as s:
        s.start()
        c = Client(s)
        status, _, body = c.call("/v3/kv/range", {"key": b64("foo")})
        health = c.call("/health", method="GET")[0]
        return status, body, health


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    ap.add_argument("--timeout", type=float, default=150)
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(harness.HarnessError("timed out")))
    signal.alarm(int(args.timeout))
    work = tempfile.mkdtemp(prefix=harness.TMP_PREFIX)
    try:
        want = run(args.etcd, "etcd", work)
        got = run(args.server, "ketcd", work)
        off = gateway_off(args.server)
    except (harness.HarnessError, OSError, http.client.HTTPException) as e:
        log("harness error: %s" % e)
        return 2
    finally:
        signal.alarm(0)
        shutil.rmtree(work, ignore_errors=True)
    bad = 0
    for i in range(max(len(want), len(got))):
        w = want[i] if i < len(want) else "<missing>"
        g = got[i] if i < len(got) else "<missing>"
        if w != g:
            bad += 1
            log("DIFF\n  etcd:  %s\n  ketcd: %s" % (w, g))
    if off != (404, "404 page not found\n", 200):
        bad += 1
        log("DIFF --enable-grpc-gateway=false: %r" % (off,))
    log("%d answers compared, %d differ" % (len(want) + 1, bad))
    print("%d passed, %d failed" % (len(want) + 1 - bad, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
