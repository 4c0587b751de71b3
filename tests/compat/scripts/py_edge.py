"""Raw gRPC (through python3-etcd3's stubs) edge cases of the KV service:
request validation errors, ignore_value/ignore_lease, lease compares, limits,
revision filters, delete/re-create history, compaction with physical."""
from compatlib import client, show, pbkv, header, listing, rev, done
import etcd3.etcdrpc as etcdrpc

c = client()
S = c.kvstub
R = etcdrpc.RangeRequest
C = etcdrpc.Compare


def rng(**kw):
    r = S.Range(R(**kw), 5)
    return ["%s count=%d more=%s" % (header(r.header), r.count, r.more)] + [pbkv(k) for k in r.kvs]


def put(**kw):
    r = S.Put(etcdrpc.PutRequest(**kw), 5)
    return "%s prev=%s" % (header(r.header), pbkv(r.prev_kv) if r.HasField("prev_kv") else None)


def dele(**kw):
    r = S.DeleteRange(etcdrpc.DeleteRangeRequest(**kw), 5)
    return "%s deleted=%d prev=%s" % (header(r.header), r.deleted, [pbkv(p) for p in r.prev_kvs])


def txn(compare=(), success=(), failure=()):
    r = S.Txn(etcdrpc.TxnRequest(compare=list(compare), success=list(success),
                                 failure=list(failure)), 5)
    out = ["%s succeeded=%s" % (header(r.header), r.succeeded)]
    for x in r.responses:
        w = x.WhichOneof("response")
        m = getattr(x, w)
        if w == "response_range":
            out.append("range %s count=%d more=%s %s" % (header(m.header), m.count, m.more,
                                                        [pbkv(k) for k in m.kvs]))
        elif w == "response_put":
            out.append("put %s prev=%s" % (header(m.header),
                                           pbkv(m.prev_kv) if m.HasField("prev_kv") else None))
        elif w == "response_delete_range":
            out.append("delete %s deleted=%d prev=%s" % (header(m.header), m.deleted,
                                                         [pbkv(p) for p in m.prev_kvs]))
        else:
            out.append("txn %s succeeded=%s n=%d" % (header(m.header), m.succeeded,
                                                      len(m.responses)))
    return out


def op_put(**kw):
    return etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(**kw))


def op_range(**kw):
    return etcdrpc.RequestOp(request_range=R(**kw))


def op_del(**kw):
    return etcdrpc.RequestOp(request_delete_range=etcdrpc.DeleteRangeRequest(**kw))


# --- put validation -------------------------------------------------------
show("put a", lambda: put(key=b"a", value=b"1"))
show("put ignore_value with value", lambda: put(key=b"a", value=b"x", ignore_value=True))
show("put ignore_lease with lease", lambda: put(key=b"a", value=b"x", lease=5, ignore_lease=True))
show("put ignore_value missing key", lambda: put(key=b"nokey", ignore_value=True))
show("put ignore_value+ignore_lease", lambda: put(key=b"a", ignore_value=True, ignore_lease=True,
                                                  prev_kv=True))
show("put same value again", lambda: put(key=b"a", value=b"1", prev_kv=True))
show("get a", lambda: rng(key=b"a"))
show("put empty value", lambda: put(key=b"e", value=b""))
show("get e", lambda: rng(key=b"e"))

# --- delete / re-create history --------------------------------------------
show("delete a prev", lambda: dele(key=b"a", prev_kv=True))
show("get a after delete", lambda: rng(key=b"a"))
show("put a again", lambda: put(key=b"a", value=b"2"))
show("get a recreated", lambda: rng(key=b"a"))
for r_ in range(1, 9):
    show("get a at rev %d" % r_, lambda r_=r_: rng(key=b"a", revision=r_))
show("delete range none", lambda: dele(key=b"zz", range_end=b"zzz", prev_kv=True))
show("delete range end < key", lambda: dele(key=b"z", range_end=b"a"))
show("delete empty key", lambda: dele(key=b""))

# --- range parameters ------------------------------------------------------
for i in range(12):
    c.put("n/%02d" % i, "v%02d" % ((i * 7) % 12))  # distinct values: no sort ties
show("limit 5", lambda: rng(key=b"n/", range_end=b"n0", limit=5, keys_only=True))
show("limit -1", lambda: rng(key=b"n/", range_end=b"n0", limit=-1, keys_only=True))
show("limit 100", lambda: rng(key=b"n/", range_end=b"n0", limit=100, count_only=True))
show("limit 3 sort value desc", lambda: rng(key=b"n/", range_end=b"n0", limit=3,
                                            sort_target=R.VALUE, sort_order=R.DESCEND))
show("limit 3 sort create desc", lambda: rng(key=b"n/", range_end=b"n0", limit=3,
                                             sort_target=R.CREATE, sort_order=R.DESCEND))
show("keys_only + count_only", lambda: rng(key=b"n/", range_end=b"n0", keys_only=True,
                                           count_only=True))
show("min_mod_revision only", lambda: rng(key=b"n/", range_end=b"n0", min_mod_revision=18,
                                          keys_only=True))
show("max_mod_revision only + limit", lambda: rng(key=b"n/", range_end=b"n0",
                                                  max_mod_revision=15, limit=2, keys_only=True))
show("min_create > max_create", lambda: rng(key=b"n/", range_end=b"n0", min_create_revision=20,
                                            max_create_revision=10))
show("negative revision", lambda: rng(key=b"n/00", revision=-1))
show("range_end == key", lambda: rng(key=b"n/00", range_end=b"n/00"))
show("range key \\0 end \\0 count", lambda: rng(key=b"\0", range_end=b"\0", count_only=True))
show("range key \\xff from key", lambda: rng(key=b"\xff", range_end=b"\0"))
show("sort target key desc, limit 2, rev", lambda: rng(key=b"n/", range_end=b"n0", limit=2,
                                                       sort_order=R.DESCEND, revision=18))

# --- txn edge cases --------------------------------------------------------
show("txn ignore_value missing key", lambda: txn(success=[op_put(key=b"nokey2", ignore_value=True)]))
show("txn lease compare (lease 0)", lambda: txn(
    compare=[C(key=b"a", target=C.LEASE, result=C.EQUAL, lease=0)],
    success=[op_range(key=b"a")]))
show("txn lease compare missing key", lambda: txn(
    compare=[C(key=b"missing", target=C.LEASE, result=C.EQUAL, lease=0)],
    success=[op_range(key=b"a")], failure=[op_range(key=b"e")]))
show("txn value compare on range with a missing key", lambda: txn(
    compare=[C(key=b"n/10", range_end=b"n/99", target=C.VALUE, result=C.NOT_EQUAL, value=b"zz")],
    success=[op_put(key=b"t1", value=b"s")], failure=[op_put(key=b"t1", value=b"f")]))
show("txn version compare on empty range", lambda: txn(
    compare=[C(key=b"q/", range_end=b"q0", target=C.VERSION, result=C.EQUAL, version=0)],
    success=[op_put(key=b"t2", value=b"s")], failure=[op_put(key=b"t2", value=b"f")]))
show("txn put then range sees it", lambda: txn(
    success=[op_put(key=b"t3", value=b"new"), op_range(key=b"t3"),
             op_range(key=b"n/", range_end=b"n0", count_only=True)]))
show("txn delete then range", lambda: txn(
    success=[op_del(key=b"t3", prev_kv=True), op_range(key=b"t3")]))
show("txn range with future rev", lambda: txn(success=[op_range(key=b"a", revision=999)]))
show("txn put twice via nested txns", lambda: txn(success=[
    etcdrpc.RequestOp(request_txn=etcdrpc.TxnRequest(success=[op_put(key=b"d", value=b"1")])),
    etcdrpc.RequestOp(request_txn=etcdrpc.TxnRequest(success=[op_put(key=b"d", value=b"2")]))]))
show("txn nested: put in outer, delete in inner", lambda: txn(success=[
    op_put(key=b"d2", value=b"1"),
    etcdrpc.RequestOp(request_txn=etcdrpc.TxnRequest(success=[op_del(key=b"d2")]))]))
show("txn nested: branches", lambda: txn(success=[
    etcdrpc.RequestOp(request_txn=etcdrpc.TxnRequest(
        compare=[C(key=b"a", target=C.VALUE, result=C.EQUAL, value=b"nope")],
        success=[op_put(key=b"d3", value=b"s")],
        failure=[op_put(key=b"d3", value=b"f"), op_range(key=b"d3")]))]))

# --- compaction ------------------------------------------------------------
cur = rev(c)
show("compact cur-5 physical", lambda: header(S.Compact(
    etcdrpc.CompactionRequest(revision=cur - 5, physical=True), 5).header))
show("range at compacted rev", lambda: rng(key=b"n/", range_end=b"n0", revision=cur - 5,
                                           count_only=True))
show("range below compacted rev", lambda: rng(key=b"n/", range_end=b"n0", revision=cur - 6))
show("txn range below compacted rev", lambda: txn(success=[op_range(key=b"a", revision=2)]))
show("compact negative", lambda: header(S.Compact(etcdrpc.CompactionRequest(revision=-1), 5).header))
show("rev at end", lambda: rev(c))
show("get_all", lambda: listing(c.get_all()))
done(c)
