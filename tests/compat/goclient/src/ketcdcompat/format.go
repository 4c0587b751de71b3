package main

import (
	"fmt"
	"strconv"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/mvcc/mvccpb"
)

// kvText leaves out the lease id (servers choose different ids) but says
// whether the key has one.
func kvText(kv *mvccpb.KeyValue) string {
	return fmt.Sprintf("key=%s value=%s create=%d mod=%d ver=%d leased=%t",
		strconv.Quote(string(kv.Key)), strconv.Quote(string(kv.Value)),
		kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease != 0)
}

func getText(r *clientv3.GetResponse) []string {
	out := []string{fmt.Sprintf("rev=%d count=%d more=%t kvs=%d",
		r.Header.Revision, r.Count, r.More, len(r.Kvs))}
	for _, kv := range r.Kvs {
		out = append(out, kvText(kv))
	}
	return out
}

func eventText(ev *clientv3.Event) string {
	s := fmt.Sprintf("%s %s", ev.Type, kvText(ev.Kv))
	if ev.PrevKv != nil {
		s += " prev(" + kvText(ev.PrevKv) + ")"
	}
	return s
}

func watchText(r clientv3.WatchResponse) []string {
	out := []string{fmt.Sprintf("rev=%d created=%t canceled=%t compact=%d progress=%t err=%v events=%d",
		r.Header.Revision, r.Created, r.Canceled, r.CompactRevision, r.IsProgressNotify(),
		r.Err(), len(r.Events))}
	for _, ev := range r.Events {
		out = append(out, eventText(ev))
	}
	return out
}
