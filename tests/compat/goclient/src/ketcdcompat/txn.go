package main

import (
	"fmt"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

func txnText(r *clientv3.TxnResponse) []string {
	out := []string{fmt.Sprintf("rev=%d succeeded=%t responses=%d", r.Header.Revision, r.Succeeded, len(r.Responses))}
	for _, op := range r.Responses {
		switch {
		case op.GetResponseRange() != nil:
			rr := op.GetResponseRange()
			out = append(out, fmt.Sprintf("range count=%d", rr.Count))
			for _, kv := range rr.Kvs {
				out = append(out, "  "+kvText(kv))
			}
		case op.GetResponsePut() != nil:
			out = append(out, "put")
		case op.GetResponseDeleteRange() != nil:
			out = append(out, fmt.Sprintf("delete deleted=%d", op.GetResponseDeleteRange().Deleted))
		case op.GetResponseTxn() != nil:
			out = append(out, fmt.Sprintf("txn succeeded=%t", op.GetResponseTxn().Succeeded))
		}
	}
	return out
}

// txnScenario: the apiserver's optimistic-concurrency writes (create if
// absent, update if the mod revision still matches, else read back), nested
// txns, the txn limits, and STM.
func txnScenario(ep endpoint) {
	c := ep.mustClient()
	defer c.Close()
	run := func(label string, t clientv3.Txn) {
		r, err := t.Commit()
		if !showErr(label, err) {
			show(label, txnText(r)...)
		}
	}
	key := "/registry/configmaps/default/cm"
	create := func() clientv3.Txn {
		return c.Txn(ctx()).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, "v1")).Else(clientv3.OpGet(key))
	}
	run("create", create())
	run("create again", create())
	update := func(rev int64, val string) clientv3.Txn {
		return c.Txn(ctx()).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, val)).Else(clientv3.OpGet(key))
	}
	run("update at rev 2", update(2, "v2"))
	run("update at stale rev 2", update(2, "v3"))
	run("compare value", c.Txn(ctx()).If(clientv3.Compare(clientv3.Value(key), "=", "v2")).
		Then(clientv3.OpGet(key, clientv3.WithCountOnly())))
	run("compare version >", c.Txn(ctx()).If(clientv3.Compare(clientv3.Version(key), ">", 1)).
		Then(clientv3.OpDelete(key, clientv3.WithPrevKV())))
	run("compare create rev on range", c.Txn(ctx()).
		If(clientv3.Compare(clientv3.CreateRevision("/registry/"), ">", 0).WithPrefix()).
		Then(clientv3.OpPut("a", "1")))
	run("compare lease", c.Txn(ctx()).If(clientv3.Compare(clientv3.LeaseValue("a"), "=", 0)).
		Then(clientv3.OpPut("b", "2")))
	run("nested", c.Txn(ctx()).If().Then(
		clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Value("a"), "=", "1")},
			[]clientv3.Op{clientv3.OpPut("c", "3")}, nil),
		clientv3.OpGet("", clientv3.WithFromKey())))
	run("duplicate put", c.Txn(ctx()).Then(clientv3.OpPut("d", "1"), clientv3.OpPut("d", "2")))
	run("put and delete overlap", c.Txn(ctx()).Then(clientv3.OpPut("d", "1"),
		clientv3.OpDelete("", clientv3.WithFromKey())))
	many := make([]clientv3.Op, 129)
	for i := range many {
		many[i] = clientv3.OpPut(fmt.Sprintf("m%03d", i), "x")
	}
	run("129 ops", c.Txn(ctx()).Then(many...))
	run("128 ops", c.Txn(ctx()).Then(many[:128]...))

	_, err := concurrency.NewSTM(c, func(s concurrency.STM) error {
		n := s.Get("counter")
		s.Put("counter", n+"+")
		return nil
	})
	showErr("stm", err)
	_, err = concurrency.NewSTM(c, func(s concurrency.STM) error {
		s.Put("counter", s.Get("counter")+"+")
		return nil
	}, concurrency.WithIsolation(concurrency.Serializable))
	showErr("stm serializable", err)
	r, err := c.Get(ctx(), "counter")
	if !showErr("counter", err) {
		show("counter", getText(r)...)
	}
}
