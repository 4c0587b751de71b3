package main

import (
	"fmt"
)

// maintenanceScenario: the calls health checks and operators' tools make.
func maintenanceScenario(ep endpoint) {
	c := ep.mustClient()
	defer c.Close()
	for i := 0; i < 5; i++ {
		c.Put(ctx(), fmt.Sprintf("k%d", i), "v")
	}
	addr := c.Endpoints()[0]
	if s, err := c.Status(ctx(), addr); !showErr("status", err) {
		show("status", fmt.Sprintf("version_set=%t db_size_positive=%t leader_is_self=%t raft_index_positive=%t errors=%d",
			s.Version != "", s.DbSize > 0, s.Leader == s.Header.MemberId, s.RaftIndex > 0, len(s.Errors)))
	}
	if a, err := c.AlarmList(ctx()); !showErr("alarm list", err) {
		show("alarm list", fmt.Sprintf("alarms=%d", len(a.Alarms)))
	}
	if _, err := c.Defragment(ctx(), addr); !showErr("defragment", err) {
		show("defragment", "ok")
	}
	c.Compact(ctx(), 3)
	if h, err := c.HashKV(ctx(), addr, 0); !showErr("hashkv", err) {
		show("hashkv", fmt.Sprintf("compact_revision=%d hash_set=%t", h.CompactRevision, h.Hash != 0))
	}
	_, err := c.HashKV(ctx(), addr, 2)
	showErr("hashkv at a compacted revision", err)
	if m, err := c.MemberList(ctx()); !showErr("member list", err) {
		for _, mm := range m.Members {
			show("member", fmt.Sprintf("name=%s peers=%d clients=%d learner=%t",
				mm.Name, len(mm.PeerURLs), len(mm.ClientURLs), mm.IsLearner))
		}
	}
	_, err = c.MemberRemove(ctx(), 12345)
	showErr("remove unknown member", err)
	_, err = c.MemberPromote(ctx(), 12345)
	showErr("promote unknown member", err)
	_, err = c.MoveLeader(ctx(), 12345)
	showErr("move leader to unknown member", err)
}
