"""python3-etcd3 leases and locks: lease with a chosen id, put with it,
refresh, get_lease_info (TTL, grantedTTL, keys), revoke, an unknown lease,
a duplicate id, Lock acquire / is_acquired / release, and a lock whose
holder's lease expires."""
import time

from compatlib import client, show, header, done

c = client()
lease = c.lease(30, lease_id=1234)
print("lease id=%d ttl=%d" % (lease.id, lease.ttl))
show("duplicate lease id", lambda: c.lease(30, lease_id=1234))
show("put with lease", lambda: header(c.put("pl/a", "1", lease=lease).header))
show("put with lease id", lambda: header(c.put("pl/b", "2", lease=1234).header))
show("put with unknown lease", lambda: c.put("pl/c", "3", lease=999))
show("refresh", lambda: ["TTL=%d" % r.TTL for r in lease.refresh()])
info = c.get_lease_info(1234)
print("info ID=%d TTL ok=%s grantedTTL=%d keys=%s" % (info.ID, 25 <= info.TTL <= 30, info.grantedTTL,
                                                       sorted(info.keys)))
print("lease.keys=%s granted_ttl=%d" % (sorted(lease.keys), lease.granted_ttl))
unknown = c.get_lease_info(999)
print("unknown lease TTL=%d grantedTTL=%d" % (unknown.TTL, unknown.grantedTTL))
show("refresh unknown", lambda: ["TTL=%d" % r.TTL for r in c.refresh_lease(999)])
show("revoke", lambda: lease.revoke())
show("keys after revoke", lambda: [m.key for _, m in c.get_prefix("pl/")])
show("revoke again", lambda: c.revoke_lease(1234))

lock = c.lock("res", ttl=3)
print("acquire: %s" % lock.acquire(timeout=5))
print("is_acquired: %s" % lock.is_acquired())
other = c.lock("res", ttl=3)
# (a waiting acquire hits python3-etcd3's tenacity quirk, on etcd too: the
# lock is only taken when free)
print("other sees it held: %s" % (not other.is_acquired()))
print("release: %s" % lock.release())
print("other acquire now: %s" % other.acquire(timeout=5))
# The holder stops refreshing: its lease expires and takes the lock key.
time.sleep(5.5)
print("other still holds it after its TTL without refresh: %s" % other.is_acquired())
third = c.lock("res", ttl=3)
print("third acquire: %s" % third.acquire(timeout=5))
third.release()
done(c)
