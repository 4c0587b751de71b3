"""python3-etcd3: get, put (prev_kv), delete (prev_kv), get_prefix, get_range,
get_all, delete_prefix, keys_only, serializable reads, odd bytes."""
from compatlib import client, show, kv, pbkv, header, listing, rev, b, done

c = client()
show("rev at start", lambda: rev(c))
show("get missing", lambda: kv(*c.get("missing")))
show("put a", lambda: header(c.put("a", "1").header))
show("get a", lambda: kv(*c.get("a")))
show("put a prev_kv", lambda: (lambda r: "%s prev=%s" % (header(r.header), pbkv(r.prev_kv)))(
    c.put("a", "2", prev_kv=True)))
show("put new prev_kv", lambda: (lambda r: "%s has_prev=%s" % (header(r.header), r.HasField("prev_kv")))(
    c.put("new", "n", prev_kv=True)))
show("get a serializable", lambda: kv(*c.get("a", serializable=True)))
for k, v in [("p/1", "x"), ("p/2", "y"), ("p/3", "z"), ("q", "w"), (b"\x01bin\xff", b"\x00\xff")]:
    show("put %s" % b(k), lambda k=k, v=v: header(c.put(k, v).header))
show("get binary", lambda: kv(*c.get(b"\x01bin\xff")))
show("get_prefix p/", lambda: listing(c.get_prefix("p/")))
show("get_prefix p/ keys_only", lambda: listing(c.get_prefix("p/", keys_only=True)))
show("get_prefix none/", lambda: listing(c.get_prefix("none/")))
show("get_range p/2..q", lambda: listing(c.get_range("p/2", "q")))
show("get_range p/2..p/2", lambda: listing(c.get_range("p/2", "p/2")))
show("get_range b..a", lambda: listing(c.get_range("b", "a")))
show("get_all", lambda: listing(c.get_all()))
show("get_all keys_only", lambda: listing(c.get_all(keys_only=True)))
show("delete missing", lambda: c.delete("missing"))
show("delete a", lambda: c.delete("a"))
show("delete a again", lambda: c.delete("a"))
show("delete new prev_kv", lambda: (lambda r: "%s deleted=%d prev=%s" % (
    header(r.header), r.deleted, [pbkv(p) for p in r.prev_kvs]))(
    c.delete("new", prev_kv=True, return_response=True)))
show("delete_prefix p/", lambda: (lambda r: "%s deleted=%d" % (header(r.header), r.deleted))(
    c.delete_prefix("p/")))
show("delete_prefix p/ again", lambda: (lambda r: "%s deleted=%d" % (header(r.header), r.deleted))(
    c.delete_prefix("p/")))
show("get_all after deletes", lambda: listing(c.get_all()))
show("put empty key", lambda: header(c.put("", "v").header))
show("get empty key", lambda: kv(*c.get("")))
show("rev at end", lambda: rev(c))
done(c)
