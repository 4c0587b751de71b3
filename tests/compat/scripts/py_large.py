"""Values at and over the server's limits, sent by python3-etcd3 (whose gRPC
channel, unlike etcdctl's, has no client-side send limit): the server itself
must reject them. Default --max-request-bytes (1.5 MiB); etcd's gRPC receive
limit is max-request-bytes + 512 KiB."""
from compatlib import client, show, header, rev, done

c = client()
show("put 1 MB", lambda: header(c.put("big/1m", b"x" * 1000000).header))
show("put 1.6 MB", lambda: header(c.put("big/1600k", b"y" * 1600000).header))
show("put 3 MB", lambda: header(c.put("big/3m", b"z" * 3000000).header))
show("server still serving", lambda: header(c.put("small", "ok").header))
show("keys", lambda: [m.key.decode() for _, m in c.get_prefix("big/", keys_only=True)])
show("rev at end", lambda: rev(c))
done(c)
