"""python3-etcd3 transactions: compares on value, version, create, mod (=, !=,
<, >), success/failure ops (put, get, delete, nested txn), replace,
put_if_not_exists, compares over a key range (raw gRPC), txn errors."""
from compatlib import client, show, kv, pbkv, header, listing, rev, done
import etcd3.etcdrpc as etcdrpc

c = client()
T = c.transactions


def txn(compare, success=(), failure=()):
    ok, resps = c.transaction(compare=list(compare), success=list(success),
                              failure=list(failure))
    out = ["succeeded=%s" % ok]
    for r in resps:
        if isinstance(r, list):
            out.append("range: " + "; ".join(kv(v, m) for v, m in r))
        else:
            which = r.WhichOneof("response")
            if which == "response_put":
                p = r.response_put
                out.append("put: %s prev=%s" % (header(p.header),
                                                pbkv(p.prev_kv) if p.HasField("prev_kv") else None))
            elif which == "response_delete_range":
                d = r.response_delete_range
                out.append("delete: %s deleted=%d prev=%s" % (
                    header(d.header), d.deleted, [pbkv(p) for p in d.prev_kvs]))
            elif which == "response_txn":
                t = r.response_txn
                out.append("txn: %s succeeded=%s n=%d" % (header(t.header), t.succeeded,
                                                           len(t.responses)))
    return out


c.put("k1", "v1")
c.put("k2", "v2")
c.put("k1", "v1b")           # k1: create 2, mod 4, version 2; k2: create 3 mod 3 ver 1
show("value = (true)", lambda: txn([T.value("k1") == "v1b"],
                                   [T.put("s1", "yes"), T.get("k1")], [T.put("f1", "no")]))
show("value = (false)", lambda: txn([T.value("k1") == "zzz"],
                                    [T.put("s2", "yes")], [T.put("f2", "no"), T.get("k2")]))
show("value != <", lambda: txn([T.value("k1") != "v1", T.value("k2") < "v3"], [T.get("k2")], []))
show("value >", lambda: txn([T.value("k2") > "v2"], [], [T.get("k1")]))
show("version", lambda: txn([T.version("k1") == 2, T.version("k2") > 0, T.version("nope") < 1],
                            [T.put("s3", "ok")], [T.put("f3", "bad")]))
show("version false", lambda: txn([T.version("k1") != 2], [T.put("s4", "x")], [T.put("f4", "y")]))
show("create", lambda: txn([T.create("k1") == 2, T.create("k2") > 2, T.create("nope") == 0],
                           [T.get("k1")], [T.get("k2")]))
show("create false", lambda: txn([T.create("k1") < 2], [], [T.get("k1")]))
show("mod", lambda: txn([T.mod("k1") == 4, T.mod("k2") < 4, T.mod("nope") == 0],
                        [T.put("s5", "m")], [T.put("f5", "m")]))
show("mod false", lambda: txn([T.mod("k1") > 100], [T.put("s6", "m")], [T.put("f6", "m")]))
show("no compares", lambda: txn([], [T.put("nc", "1"), T.get("nc")], []))
show("put prev_kv + delete range in txn", lambda: txn(
    [], [T.put("k1", "v1c", prev_kv=True), T.delete("s", "t", prev_kv=True)], []))
show("get range in txn", lambda: txn([], [T.get("f", "g"), T.get("k", "l")], []))
show("nested txn", lambda: txn([T.value("k1") == "v1c"],
                               [T.txn([T.version("k2") == 1], [T.put("n1", "a")], [T.put("n2", "b")])],
                               []))
show("nested txn false inner", lambda: txn([],
                               [T.txn([T.version("k2") == 9], [T.put("n3", "a")],
                                      [T.put("n4", "b"), T.get("n4")])], []))
show("duplicate put", lambda: txn([], [T.put("d", "1"), T.put("d", "2")], []))
show("put+delete same key", lambda: txn([], [T.put("d", "1"), T.delete("d")], []))
show("replace ok", lambda: c.replace("k2", "v2", "v2b"))
show("replace fail", lambda: c.replace("k2", "v2", "v2c"))
show("replace missing", lambda: c.replace("missing", "", "x"))
show("get k2", lambda: kv(*c.get("k2")))
show("put_if_not_exists new", lambda: c.put_if_not_exists("pine", "1"))
show("put_if_not_exists existing", lambda: c.put_if_not_exists("pine", "2"))
show("get pine", lambda: kv(*c.get("pine")))

# Compares over a key range (range_end), through etcd3's compare objects.
for k in ("r/a", "r/b", "r/c"):
    c.put(k, "same")
show("range compare value = all same", lambda: txn(
    [T.value("r/", "r0") == "same"], [T.put("rc1", "y")], [T.put("rc1", "n")]))
c.put("r/b", "diff")
show("range compare value = one differs", lambda: txn(
    [T.value("r/", "r0") == "same"], [T.put("rc2", "y")], [T.put("rc2", "n")]))
show("range compare version > 0", lambda: txn(
    [T.version("r/", "r0") > 0], [T.put("rc3", "y")], [T.put("rc3", "n")]))
show("range compare mod < big", lambda: txn(
    [T.mod("r/", "r0") < 1000], [T.put("rc4", "y")], [T.put("rc4", "n")]))
show("range compare create = (empty range)", lambda: txn(
    [T.create("x/", "x0") == 5], [T.put("rc5", "y")], [T.put("rc5", "n")]))
show("range compare from-key (\\0)", lambda: txn(
    [T.version("r/", b"\0") > 0], [T.put("rc6", "y")], [T.put("rc6", "n")]))

# Raw gRPC TxnRequest for what the helper cannot express.
def raw_txn(req):
    r = c.kvstub.Txn(req, 5)
    return "%s succeeded=%s responses=%s" % (header(r.header), r.succeeded,
                                              [x.WhichOneof("response") for x in r.responses])
show("raw: compare with empty key", lambda: raw_txn(etcdrpc.TxnRequest(
    compare=[etcdrpc.Compare(key=b"", target=etcdrpc.Compare.VERSION,
                             result=etcdrpc.Compare.EQUAL, version=0)])))
show("raw: put with empty key", lambda: raw_txn(etcdrpc.TxnRequest(
    success=[etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=b"", value=b"x"))])))
show("raw: range with rev in txn", lambda: raw_txn(etcdrpc.TxnRequest(
    success=[etcdrpc.RequestOp(request_range=etcdrpc.RangeRequest(key=b"k1", revision=2))])))
show("raw: range future rev in txn", lambda: raw_txn(etcdrpc.TxnRequest(
    success=[etcdrpc.RequestOp(request_range=etcdrpc.RangeRequest(key=b"k1", revision=10000))])))
show("raw: empty txn", lambda: raw_txn(etcdrpc.TxnRequest()))
show("get_all", lambda: listing(c.get_all()))
show("rev at end", lambda: rev(c))
done(c)
