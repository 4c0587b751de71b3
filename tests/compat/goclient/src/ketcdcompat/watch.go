package main

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/clientv3"
)

// collect reads events until n have arrived, the channel closes or a
// response carries no events (created, progress, cancel); how a server groups
// events into responses is not part of the contract, so events are printed
// one per line and responses without events on their own.
func collect(ch clientv3.WatchChan, n int) []string {
	var out []string
	got := 0
	timeout := time.After(5 * time.Second)
	for got < n {
		select {
		case r, ok := <-ch:
			if !ok {
				return append(out, "channel closed")
			}
			if len(r.Events) == 0 {
				return append(out, watchText(r)...)
			}
			for _, ev := range r.Events {
				out = append(out, eventText(ev))
				got++
			}
		case <-timeout:
			return append(out, fmt.Sprintf("timeout after %d event(s)", got))
		}
	}
	return out
}

func watchScenario(ep endpoint) {
	c := ep.mustClient()
	defer c.Close()
	for i := 0; i < 3; i++ {
		if _, err := c.Put(ctx(), fmt.Sprintf("w/%d", i), "a"); showErr("put", err) {
			stop()
		}
	}
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	created := c.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	show("created notify", collect(created, 1)...)
	history := c.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(2), clientv3.WithPrevKV())
	show("history from rev 2 with prev_kv", collect(history, 3)...)
	deletes := c.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithFilterPut())
	c.Put(ctx(), "w/0", "b")
	c.Delete(ctx(), "w/1")
	c.Txn(ctx()).Then(clientv3.OpPut("w/3", "c"), clientv3.OpDelete("w/2"), clientv3.OpPut("x", "y")).Commit()
	show("live with prev_kv", collect(history, 4)...)
	show("created watch sees", collect(created, 4)...)
	show("deletes only", collect(deletes, 2)...)

	if err := c.RequestProgress(ctx()); !showErr("request progress", err) {
		show("progress on the created watch", collect(created, 1)...)
	}
	single := c.Watch(wctx, "x", clientv3.WithRev(1))
	show("single key from rev 1", collect(single, 1)...)
	rng := c.Watch(wctx, "w/1", clientv3.WithRange("w/3"), clientv3.WithRev(1), clientv3.WithKeysOnly())
	show("range w/1..w/3 from rev 1", collect(rng, 3)...)

	// At 5, a put: etcd's compaction also drops a deletion made at the
	// compaction revision itself (a watch from there misses it), ketcd keeps
	// it for watchers; a put there is kept by both.
	if _, err := c.Compact(ctx(), 5); showErr("compact", err) {
		stop()
	}
	compacted := c.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(3))
	show("watch from a compacted revision", collect(compacted, 1)...)
	atCompact := c.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(5), clientv3.WithPrevKV())
	show("watch from the compaction revision", collect(atCompact, 4)...)

	future := c.Watch(wctx, "f", clientv3.WithRev(10))
	for i := 0; i < 3; i++ {
		c.Put(ctx(), "f", fmt.Sprintf("%d", i))
	}
	show("watch from a future revision", collect(future, 1)...)
	cctx, ccancel := context.WithCancel(context.Background())
	cancelled := c.Watch(cctx, "f")
	ccancel()
	show("cancelled by the client", collect(cancelled, 1)...)
}
