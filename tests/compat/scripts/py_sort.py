"""python3-etcd3 get_range / get_all / get_prefix with every sort target and order,
limits and historical revisions via raw RangeRequest."""
from compatlib import client, show, pbkv, header, listing, rev, done
import etcd3.etcdrpc as etcdrpc

c = client()
for k, v in [("s/c", "3"), ("s/a", "9"), ("s/b", "1"), ("s/d", "5"), ("s/a", "7"),
             ("s/a", "8"), ("s/d", "2"), ("t", "x")]:
    c.put(k, v)
for target in ("key", "version", "create", "mod", "value"):
    for order in (None, "ascend", "descend"):
        show("get_prefix s/ sort_target=%s sort_order=%s" % (target, order),
             lambda t=target, o=order: listing(c.get_prefix("s/", sort_target=t, sort_order=o)))
show("get_all descend by key", lambda: listing(c.get_all(sort_order="descend", sort_target="key")))
show("get_all ascend by mod", lambda: listing(c.get_all(sort_order="ascend", sort_target="mod")))
show("get_range s/b..t descend by value", lambda: listing(
    c.get_range("s/b", "t", sort_order="descend", sort_target="value")))


def raw_range(**kw):
    r = c.kvstub.Range(etcdrpc.RangeRequest(**kw), 5)
    return ["%s count=%d more=%s" % (header(r.header), r.count, r.more)] + [pbkv(k) for k in r.kvs]


show("raw: limit 2", lambda: raw_range(key=b"s/", range_end=b"s0", limit=2))
show("raw: limit 2 sort mod desc", lambda: raw_range(
    key=b"s/", range_end=b"s0", limit=2, sort_target=etcdrpc.RangeRequest.MOD,
    sort_order=etcdrpc.RangeRequest.DESCEND))
show("raw: limit 3 from key", lambda: raw_range(key=b"s/b", range_end=b"\0", limit=3))
show("raw: count_only", lambda: raw_range(key=b"s/", range_end=b"s0", count_only=True))
show("raw: count_only limit 1", lambda: raw_range(key=b"s/", range_end=b"s0", count_only=True, limit=1))
show("raw: keys_only rev 4", lambda: raw_range(key=b"s/", range_end=b"s0", keys_only=True, revision=4))
show("raw: rev 6", lambda: raw_range(key=b"s/", range_end=b"s0", revision=6))
show("raw: future rev", lambda: raw_range(key=b"s/", range_end=b"s0", revision=99))
show("raw: min/max mod revision", lambda: raw_range(
    key=b"s/", range_end=b"s0", min_mod_revision=4, max_mod_revision=7))
show("raw: min/max create revision", lambda: raw_range(
    key=b"s/", range_end=b"s0", min_create_revision=3, max_create_revision=4))
show("raw: all keys (\\0, \\0)", lambda: raw_range(key=b"\0", range_end=b"\0", keys_only=True))
show("raw: empty key", lambda: raw_range(key=b""))
show("raw: serializable", lambda: raw_range(key=b"t", serializable=True))
show("compact 5", lambda: header(c.kvstub.Compact(etcdrpc.CompactionRequest(revision=5), 5).header))
show("raw: rev 4 after compact", lambda: raw_range(key=b"s/", range_end=b"s0", revision=4))
show("raw: rev 5 after compact", lambda: raw_range(key=b"s/", range_end=b"s0", revision=5))
show("compact 5 again", lambda: header(c.kvstub.Compact(etcdrpc.CompactionRequest(revision=5), 5).header))
show("compact 50", lambda: header(c.kvstub.Compact(etcdrpc.CompactionRequest(revision=50), 5).header))
show("rev at end", lambda: rev(c))
done(c)
