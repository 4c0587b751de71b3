package main

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

// concurrencyScenario: clientv3/concurrency's mutex and election, which
// build on leases, txns and watches (keys carry lease ids: only values and
// revisions are printed).
func concurrencyScenario(ep endpoint) {
	c := ep.mustClient()
	defer c.Close()
	s1, err := concurrency.NewSession(c, concurrency.WithTTL(10))
	if showErr("session 1", err) {
		stop()
	}
	defer s1.Close()
	s2, err := concurrency.NewSession(c, concurrency.WithTTL(10))
	if showErr("session 2", err) {
		stop()
	}
	defer s2.Close()

	m1 := concurrency.NewMutex(s1, "/lock/")
	if !showErr("lock 1", m1.Lock(ctx())) {
		show("lock 1", fmt.Sprintf("rev=%d", m1.Header().Revision))
	}
	m2 := concurrency.NewMutex(s2, "/lock/")
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	showErr("lock 2 while held", m2.Lock(short))
	cancel()
	locked := make(chan error, 1)
	go func() { locked <- m2.Lock(ctx()) }()
	time.Sleep(200 * time.Millisecond)
	showErr("unlock 1", m1.Unlock(ctx()))
	if !showErr("lock 2 after unlock", <-locked) {
		show("lock 2 after unlock", fmt.Sprintf("rev=%d", m2.Header().Revision))
	}
	showErr("unlock 2", m2.Unlock(ctx()))

	e1 := concurrency.NewElection(s1, "/election/")
	if !showErr("campaign 1", e1.Campaign(ctx(), "one")) {
		show("campaign 1", "leader")
	}
	obs, cancelObs := context.WithCancel(context.Background())
	defer cancelObs()
	observed := e1.Observe(obs)
	if r, ok := <-observed; ok && len(r.Kvs) > 0 {
		show("observe", string(r.Kvs[0].Value))
	}
	showErr("proclaim", e1.Proclaim(ctx(), "one-again"))
	if r, ok := <-observed; ok && len(r.Kvs) > 0 {
		show("observe after proclaim", string(r.Kvs[0].Value))
	}
	e2 := concurrency.NewElection(s2, "/election/")
	won := make(chan error, 1)
	go func() { won <- e2.Campaign(ctx(), "two") }()
	time.Sleep(200 * time.Millisecond)
	if l, err := e2.Leader(ctx()); !showErr("leader while 1 holds", err) {
		show("leader while 1 holds", string(l.Kvs[0].Value))
	}
	showErr("resign 1", e1.Resign(ctx()))
	if !showErr("campaign 2", <-won) {
		if l, err := e1.Leader(ctx()); !showErr("leader after resign", err) {
			show("leader after resign", string(l.Kvs[0].Value))
		}
	}
	showErr("resign 2", e2.Resign(ctx()))
	_, err = e1.Leader(ctx())
	showErr("leader with none", err)
	r, err := c.Get(ctx(), "/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if !showErr("keys left", err) {
		show("keys left", fmt.Sprintf("count=%d", r.Count))
	}
}
