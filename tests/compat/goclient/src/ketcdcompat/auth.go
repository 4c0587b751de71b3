package main

import (
	"fmt"
	"strings"

	"go.etcd.io/etcd/clientv3"
)

// authScenario: what an operator and a locked-down client do with etcd's
// RBAC through clientv3: set-up errors, login, per-prefix read and write
// permissions, a watch on a forbidden key, listing and tearing down.
func authScenario(ep endpoint) {
	admin := ep.mustClient()
	defer admin.Close()
	step := func(label string, f func() error) {
		if err := f(); !showErr(label, err) {
			show(label, "ok")
		}
	}
	step("enable without root", func() error { _, err := admin.AuthEnable(ctx()); return err })
	step("add root", func() error { _, err := admin.UserAdd(ctx(), "root", "rootpw"); return err })
	step("add root again", func() error { _, err := admin.UserAdd(ctx(), "root", "x"); return err })
	step("enable without root role", func() error { _, err := admin.AuthEnable(ctx()); return err })
	step("grant root role", func() error { _, err := admin.UserGrantRole(ctx(), "root", "root"); return err })
	step("add role reader", func() error { _, err := admin.RoleAdd(ctx(), "reader"); return err })
	step("add role writer", func() error { _, err := admin.RoleAdd(ctx(), "writer"); return err })
	step("reader reads pub/", func() error {
		_, err := admin.RoleGrantPermission(ctx(), "reader", "pub/", clientv3.GetPrefixRangeEnd("pub/"),
			clientv3.PermissionType(clientv3.PermRead))
		return err
	})
	step("writer writes own/a..own/m", func() error {
		_, err := admin.RoleGrantPermission(ctx(), "writer", "own/a", "own/m", clientv3.PermissionType(clientv3.PermReadWrite))
		return err
	})
	step("grant to missing role", func() error { _, err := admin.UserGrantRole(ctx(), "root", "nope"); return err })
	step("add alice", func() error { _, err := admin.UserAdd(ctx(), "alice", "alicepw"); return err })
	step("alice gets reader", func() error { _, err := admin.UserGrantRole(ctx(), "alice", "reader"); return err })
	step("alice gets writer", func() error { _, err := admin.UserGrantRole(ctx(), "alice", "writer"); return err })
	step("add nopass", func() error {
		_, err := admin.UserAddWithOptions(ctx(), "nopass", "", &clientv3.UserAddOptions{NoPassword: true})
		return err
	})
	step("put pub/x", func() error { _, err := admin.Put(ctx(), "pub/x", "1"); return err })
	step("put secret", func() error { _, err := admin.Put(ctx(), "secret", "s"); return err })
	step("enable", func() error { _, err := admin.AuthEnable(ctx()); return err })

	step("anonymous get", func() error { _, err := admin.Get(ctx(), "pub/x"); return err })
	if _, err := ep.client("alice", "wrong"); err != nil {
		show("alice with a wrong password", errText(err))
	} else {
		show("alice with a wrong password", "connected")
	}
	if _, err := ep.client("nopass", ""); err != nil {
		show("nopass login", errText(err))
	}
	alice, err := ep.client("alice", "alicepw")
	if showErr("alice login", err) {
		stop()
	}
	defer alice.Close()
	step("alice get pub/x", func() error {
		r, err := alice.Get(ctx(), "pub/x")
		if err == nil {
			show("alice get pub/x", getText(r)...)
		}
		return err
	})
	step("alice get pub/ prefix", func() error { _, err := alice.Get(ctx(), "pub/", clientv3.WithPrefix()); return err })
	step("alice get wider prefix", func() error { _, err := alice.Get(ctx(), "pub", clientv3.WithPrefix()); return err })
	step("alice put pub/x", func() error { _, err := alice.Put(ctx(), "pub/x", "2"); return err })
	step("alice get secret", func() error { _, err := alice.Get(ctx(), "secret"); return err })
	step("alice put own/b", func() error { _, err := alice.Put(ctx(), "own/b", "b"); return err })
	step("alice put own/z", func() error { _, err := alice.Put(ctx(), "own/z", "z"); return err })
	step("alice delete own/ range", func() error {
		_, err := alice.Delete(ctx(), "own/a", clientv3.WithRange("own/m"))
		return err
	})
	step("alice txn reading secret", func() error {
		_, err := alice.Txn(ctx()).If(clientv3.Compare(clientv3.Value("secret"), "=", "s")).
			Then(clientv3.OpPut("own/c", "c")).Commit()
		return err
	})
	step("alice user list", func() error { _, err := alice.UserList(ctx()); return err })
	step("alice compact", func() error { _, err := alice.Compact(ctx(), 2); return err })
	w := alice.Watch(ctx(), "secret")
	show("alice watches secret", collect(w, 1)...)
	w = alice.Watch(ctx(), "pub/", clientv3.WithPrefix(), clientv3.WithRev(1))
	show("alice watches pub/ from rev 1", collect(w, 1)...)

	root, err := ep.client("root", "rootpw")
	if showErr("root login", err) {
		stop()
	}
	defer root.Close()
	if r, err := root.UserList(ctx()); !showErr("user list", err) {
		show("user list", strings.Join(r.Users, ","))
	}
	if r, err := root.RoleList(ctx()); !showErr("role list", err) {
		show("role list", strings.Join(r.Roles, ","))
	}
	if r, err := root.RoleGet(ctx(), "writer"); !showErr("role get writer", err) {
		for _, p := range r.Perm {
			show("role get writer", fmt.Sprintf("%s [%q, %q)", p.PermType, p.Key, p.RangeEnd))
		}
	}
	if r, err := root.UserGet(ctx(), "alice"); !showErr("user get alice", err) {
		show("user get alice", strings.Join(r.Roles, ","))
	}
	step("user get missing", func() error { _, err := root.UserGet(ctx(), "bob"); return err })
	step("alice new password", func() error { _, err := root.UserChangePassword(ctx(), "alice", "new"); return err })
	if a2, err := ep.client("alice", "new"); !showErr("alice login with the new password", err) {
		step("alice reads with the new password", func() error { _, err := a2.Get(ctx(), "pub/x"); return err })
		a2.Close()
	}
	step("revoke writer's permission", func() error {
		_, err := root.RoleRevokePermission(ctx(), "writer", "own/a", "own/m")
		return err
	})
	step("revoke missing permission", func() error {
		_, err := root.RoleRevokePermission(ctx(), "writer", "own/a", "own/m")
		return err
	})
	step("alice revoked writer", func() error { _, err := root.UserRevokeRole(ctx(), "alice", "writer"); return err })
	step("delete role root", func() error { _, err := root.RoleDelete(ctx(), "root"); return err })
	step("revoke root's root role", func() error { _, err := root.UserRevokeRole(ctx(), "root", "root"); return err })
	step("delete alice", func() error { _, err := root.UserDelete(ctx(), "alice"); return err })
	step("delete role reader", func() error { _, err := root.RoleDelete(ctx(), "reader"); return err })
	step("disable", func() error { _, err := root.AuthDisable(ctx()); return err })
	step("anonymous get after disable", func() error { _, err := admin.Get(ctx(), "secret"); return err })
}
