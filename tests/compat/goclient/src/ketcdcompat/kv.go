package main

import (
	"fmt"
	"strings"

	"go.etcd.io/etcd/clientv3"
)

// kvScenario: the range and put options the apiserver's storage uses, and
// the errors of bad revisions, leases and sizes.
func kvScenario(ep endpoint) {
	c := ep.mustClient()
	defer c.Close()
	kv := clientv3.NewKV(c)
	get := func(label, key string, opts ...clientv3.OpOption) {
		r, err := kv.Get(ctx(), key, opts...)
		if !showErr(label, err) {
			show(label, getText(r)...)
		}
	}
	put := func(label, key, val string, opts ...clientv3.OpOption) {
		r, err := kv.Put(ctx(), key, val, opts...)
		if !showErr(label, err) {
			prev := "none"
			if r.PrevKv != nil {
				prev = kvText(r.PrevKv)
			}
			show(label, fmt.Sprintf("rev=%d prev=%s", r.Header.Revision, prev))
		}
	}
	get("get missing", "missing")
	for i, k := range []string{"/registry/pods/a", "/registry/pods/b", "/registry/pods/c", "/registry/svc/x", "z"} {
		put("put "+k, k, fmt.Sprintf("v%d", i))
	}
	put("put again prev_kv", "/registry/pods/a", "v9", clientv3.WithPrevKV())
	put("put ignore value", "/registry/pods/a", "", clientv3.WithIgnoreValue())
	get("prefix", "/registry/pods/", clientv3.WithPrefix())
	get("prefix limit 2", "/registry/pods/", clientv3.WithPrefix(), clientv3.WithLimit(2))
	get("prefix serializable", "/registry/", clientv3.WithPrefix(), clientv3.WithSerializable())
	get("prefix count only", "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	get("prefix keys only", "/registry/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	get("prefix at rev 3", "/registry/", clientv3.WithPrefix(), clientv3.WithRev(3))
	get("from key", "/registry/pods/c", clientv3.WithFromKey())
	get("range", "/registry/pods/b", clientv3.WithRange("/registry/svc/x"))
	get("sorted by mod desc", "/registry/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend))
	get("sorted by value asc", "", clientv3.WithFromKey(),
		clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend))
	get("min mod rev 7", "/registry/", clientv3.WithPrefix(), clientv3.WithMinModRev(7))
	get("max create rev 3", "/registry/", clientv3.WithPrefix(), clientv3.WithMaxCreateRev(3))
	get("future rev", "z", clientv3.WithRev(1000))
	put("put unknown lease", "k", "v", clientv3.WithLease(clientv3.LeaseID(0x1234)))
	put("put empty key", "", "v")
	put("put ignore value of missing key", "nokey", "", clientv3.WithIgnoreValue())
	put("put too large", "big", strings.Repeat("x", 2*1024*1024))
	d, err := kv.Delete(ctx(), "/registry/pods/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if !showErr("delete prefix prev_kv", err) {
		lines := []string{fmt.Sprintf("rev=%d deleted=%d", d.Header.Revision, d.Deleted)}
		for _, p := range d.PrevKvs {
			lines = append(lines, kvText(p))
		}
		show("delete prefix prev_kv", lines...)
	}
	cr, err := kv.Compact(ctx(), 5)
	if !showErr("compact 5", err) {
		show("compact 5", fmt.Sprintf("rev=%d", cr.Header.Revision))
	}
	_, err = kv.Compact(ctx(), 4)
	showErr("compact 4 again", err)
	_, err = kv.Compact(ctx(), 1000, clientv3.WithCompactPhysical())
	showErr("compact future", err)
	get("get at compacted rev", "z", clientv3.WithRev(3))
	get("get at compact rev", "z", clientv3.WithRev(5))
	get("all", "", clientv3.WithFromKey())
}
