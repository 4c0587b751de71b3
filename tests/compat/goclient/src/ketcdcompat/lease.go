package main

import (
	"fmt"
	"sort"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func leaseScenario(ep endpoint) {
	c := ep.mustClient()
	defer c.Close()
	g, err := c.Grant(ctx(), 60)
	if showErr("grant 60", err) {
		stop()
	}
	show("grant 60", fmt.Sprintf("ttl=%d rev=%d", g.TTL, g.ResponseHeader.Revision))
	for _, k := range []string{"l/a", "l/b"} {
		_, err := c.Put(ctx(), k, "v", clientv3.WithLease(g.ID))
		showErr("put "+k, err)
	}
	t, err := c.TimeToLive(ctx(), g.ID, clientv3.WithAttachedKeys())
	if !showErr("time to live", err) {
		// etcd lists attached keys in Go map order: unspecified.
		sort.Slice(t.Keys, func(i, j int) bool { return string(t.Keys[i]) < string(t.Keys[j]) })
		show("time to live", fmt.Sprintf("granted=%d ttl_in_55_60=%t keys=%q", t.GrantedTTL,
			t.TTL >= 55 && t.TTL <= 60, t.Keys))
	}
	ls, err := c.Leases(ctx())
	if !showErr("leases", err) {
		show("leases", fmt.Sprintf("count=%d", len(ls.Leases)))
	}
	k, err := c.KeepAliveOnce(ctx(), g.ID)
	if !showErr("keep alive once", err) {
		show("keep alive once", fmt.Sprintf("ttl=%d", k.TTL))
	}
	r, err := c.Revoke(ctx(), g.ID)
	if !showErr("revoke", err) {
		show("revoke", fmt.Sprintf("rev=%d", r.Header.Revision))
	}
	got, err := c.Get(ctx(), "l/", clientv3.WithPrefix())
	if !showErr("keys after revoke", err) {
		show("keys after revoke", getText(got)...)
	}
	t, err = c.TimeToLive(ctx(), g.ID)
	if !showErr("time to live after revoke", err) {
		show("time to live after revoke", fmt.Sprintf("ttl=%d", t.TTL))
	}
	_, err = c.KeepAliveOnce(ctx(), g.ID)
	showErr("keep alive once after revoke", err)
	_, err = c.Revoke(ctx(), g.ID)
	showErr("revoke again", err)
	_, err = c.Grant(ctx(), 9000000001)
	showErr("grant too long", err)

	short, err := c.Grant(ctx(), 1)
	if showErr("grant 1", err) {
		stop()
	}
	c.Put(ctx(), "l/short", "v", clientv3.WithLease(short.ID))
	kept, err := c.Grant(ctx(), 2)
	if showErr("grant 2", err) {
		stop()
	}
	c.Put(ctx(), "l/kept", "v", clientv3.WithLease(kept.ID))
	ch, err := c.KeepAlive(ctx(), kept.ID)
	if showErr("keep alive", err) {
		stop()
	}
	first := <-ch
	show("keep alive stream", fmt.Sprintf("ttl=%d", first.TTL))
	// The short lease expires (minimum TTL and expiry slack bound the wait);
	// the kept one outlives its TTL through the stream.
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		r, err := c.Get(ctx(), "l/short")
		if err == nil && r.Count == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond)
	got, err = c.Get(ctx(), "l/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if !showErr("after expiry", err) {
		show("after expiry", fmt.Sprintf("count=%d keys=%d", got.Count, len(got.Kvs)))
		for _, kv := range got.Kvs {
			show("  live", string(kv.Key))
		}
	}
}
