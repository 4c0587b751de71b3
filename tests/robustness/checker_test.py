#!/usr/bin/python3
"""Unit tests of the robustness checkers on small hand-made histories: each
check accepts a correct history and rejects the anomaly it exists to find.

    /usr/bin/python3 tests/robustness/checker_test.py [-v]
"""

import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))

import checks  # noqa: E402
import lease_checks  # noqa: E402
import linearizability as lin  # noqa: E402
import watch_checks  # noqa: E402

K = "/rb/k0"
# robustness.disk's seed and duration (CMakeLists.txt)
DISK_SEED, DISK_DURATION = 18213, 45


def put(t0, t1, v, rev, ref=None):
    return lin.KeyOp(t0, t1, "put", v, rev, ref)


def get(t0, t1, v, mod, create, ver, hdr):
    kv = (True, v, mod, create, ver) if v is not None else (False, None, 0, 0, 0)
    return lin.KeyOp(t0, t1, "get", None, kv + (hdr,))


class SearchTest(unittest.TestCase):
    def ok(self, ops):
        r = lin.check(ops)
        self.assertTrue(r.ok, r.stuck)

    def bad(self, ops):
        r = lin.check(ops)
        self.assertIs(r.ok, False)
        return r

    def test_sequential(self):
        self.ok([put(0, 1, "a", 2), get(2, 3, "a", 2, 2, 1, 2), put(4, 5, "b", 3),
                 get(6, 7, "b", 3, 2, 2, 3)])

    def test_concurrent_read_may_see_either(self):
        # the read overlaps the put: old or new value are both fine
        self.ok([put(0, 1, "a", 2), put(2, 5, "b", 3), get(3, 4, "a", 2, 2, 1, 2)])
        self.ok([put(0, 1, "a", 2), put(2, 5, "b", 3), get(3, 4, "b", 3, 2, 2, 3)])

    def test_stale_read(self):
        # the read starts after put b returned and still sees a
        r = self.bad([put(0, 1, "a", 2), put(2, 3, "b", 3), get(4, 5, "a", 2, 2, 1, 2)])
        self.assertIsNotNone(r.stuck["blocked"])

    def test_stale_header_revision(self):
        # same value, but the store revision is older than the key's last change
        self.bad([put(0, 1, "a", 2), lin.KeyOp(2, 3, "del", None, (1, 3)),
                  put(4, 5, "a2", 4), get(6, 7, None, 0, 0, 0, 3)])

    def test_read_from_nowhere(self):
        self.bad([put(0, 1, "a", 2), get(2, 3, "zzz", 2, 2, 1, 2)])

    def test_version_and_create(self):
        self.bad([put(0, 1, "a", 2), put(2, 3, "b", 3), get(4, 5, "b", 3, 3, 1, 3)])

    def test_revisions_grow(self):
        self.bad([put(0, 1, "a", 5), put(2, 3, "b", 4)])

    def test_unknown_put_may_apply_late(self):
        # put b timed out; a read long after sees it, then a later read does not
        self.ok([put(0, 1, "a", 2), put(2, None, "b", 3), get(10, 11, "b", 3, 2, 2, 3)])
        self.ok([put(0, 1, "a", 2), put(2, None, "b", 3), get(10, 11, "a", 2, 2, 1, 2)])
        self.bad([put(0, 1, "a", 2), put(2, None, "b", 3), get(10, 11, "b", 3, 2, 2, 3),
                  get(12, 13, "a", 2, 2, 1, 3)])

    def test_unknown_put_without_revision_binds(self):
        self.ok([put(0, None, "a", None), get(5, 6, "a", 7, 7, 1, 7),
                 put(8, 9, "b", 8), get(10, 11, "b", 8, 7, 2, 8)])
        self.bad([put(0, None, "a", None), get(5, 6, "a", 7, 7, 1, 7), get(8, 9, "a", 6, 6, 1, 7)])

    def test_unknown_put_never_seen_is_fine(self):
        self.ok([put(0, None, "x", None), put(1, 2, "a", 3), get(3, 4, "a", 3, 3, 1, 3)])

    def test_delete(self):
        d = lin.KeyOp(2, 3, "del", None, (1, 3))
        self.ok([put(0, 1, "a", 2), d, get(4, 5, None, 0, 0, 0, 3)])
        self.bad([put(0, 1, "a", 2), d, get(4, 5, "a", 2, 2, 1, 3)])
        # deleting a key that cannot exist
        self.bad([lin.KeyOp(0, 1, "del", None, (1, 3))])

    def test_cas(self):
        # the key's mod is 2: compare 2 succeeds, compare 0 fails and reads the key
        self.ok([put(0, 1, "a", 2), lin.KeyOp(2, 3, "cas", (2, "b"), (True, 3, None)),
                 lin.KeyOp(4, 5, "cas", (0, "c"), (False, 3, (True, "b", 3, 2, 2)))])
        self.bad([put(0, 1, "a", 2), lin.KeyOp(2, 3, "cas", (0, "b"), (True, 3, None))])
        self.bad([put(0, 1, "a", 2), lin.KeyOp(2, 3, "cas", (2, "b"), (False, 2, (True, "a", 2, 2, 1)))])

    def test_cas_unknown_branches(self):
        c = lin.KeyOp(2, None, "cas", (2, "b"), None)
        self.ok([put(0, 1, "a", 2), c, get(4, 5, "b", 5, 2, 2, 5)])
        self.ok([put(0, 1, "a", 2), c, get(4, 5, "a", 2, 2, 1, 5)])

    def test_lost_acknowledged_write(self):
        # put b acknowledged at 3, yet a later read sees a at a newer store revision
        self.bad([put(0, 1, "a", 2), put(2, 3, "b", 3), get(4, 5, "a", 2, 2, 1, 6)])

    def test_many_concurrent(self):
        # 12 overlapping puts, each read once after all: must finish fast
        ops = [put(0, 100, "v%d" % i, 10 + i) for i in range(12)]
        ops.append(get(101, 102, "v11", 21, 10, 12, 21))
        r = lin.check(ops)
        self.assertTrue(r.ok)
        self.assertLess(r.steps, 10000)


    def long_history(self, n, stale_at=None):
        """n rounds of a put overlapping a read of the previous value or its own;
        every 50th put's outcome is unknown to its client (a timeout) though the
        final history shows it applied (key_ops keeps those, ret None, and drops
        unknown puts never applied); the read of round stale_at sees the value
        of two rounds before (a stale read)."""
        ops, t = [], 0.0
        for r in range(n):
            rev = r + 2
            ops.append(put(t, None if r % 50 == 25 else t + 2, "v%d" % r, rev))
            back = 2 if r == stale_at else (r % 2)
            seen = max(0, r - back)
            ops.append(get(t + 1, t + 3, "v%d" % seen, seen + 2, 2, seen + 1, seen + 2))
            t += 4
        return ops

    def test_long_history(self):
        # the long mode's per-key histories: ~150k operations must be checked in
        # a bounded search (the linearized set is hashed, not copied, per step)
        ops = self.long_history(50000)
        r = lin.check(ops, max_seconds=120)
        self.assertTrue(r.ok, r.stuck)
        self.assertLess(r.steps, 20 * len(ops))
        bad = lin.check(self.long_history(50000, stale_at=45000), max_seconds=120)
        self.assertIs(bad.ok, False)
        self.assertGreater(bad.stuck["linearized"], 89000)  # the stale read is op ~90001

def hist(*events):
    return checks.FinalHistory(list(events))


def rec(i, kind, t0, t1, **kw):
    op = {"id": "c0-%d" % i, "c": 0, "ep": "e1", "sess": 1, "op": kind, "k": K,
          "t0": t0, "t1": t1, "st": "ok"}
    op.update(kw)
    return op


class HistoryChecksTest(unittest.TestCase):
    REF = hist((2, "PUT", K, "a", 2, 1), (3, "PUT", K, "b", 2, 2), (4, "DELETE", K, None, 0, 0))

    def test_lost_write(self):
        ops = [rec(1, "put", 0, 1, v="a", rev=2), rec(2, "put", 2, 3, v="b", rev=3)]
        self.assertEqual(checks.check_acknowledged(ops, self.REF), [])
        ops.append(rec(3, "put", 4, 5, v="c", rev=5))
        found = checks.check_acknowledged(ops, self.REF)
        self.assertEqual([a["check"] for a in found], ["lost-write"])

    def test_unknown_write_resolved_or_dropped(self):
        ops = [rec(1, "put", 0, None, v="b", st="err"), rec(2, "put", 0, None, v="zz", st="err")]
        per_key, _ = checks.key_ops(ops, self.REF)
        self.assertEqual([(o.inp, o.out, o.ret) for o in per_key[K]], [("b", 3, None)])

    def test_unknown_deletes_against_tombstones(self):
        ref = hist((2, "PUT", K, "a", 2, 1), (3, "DELETE", K, None, 0, 0),
                   (4, "PUT", K, "b", 4, 1), (5, "DELETE", K, None, 0, 0))
        ops = [rec(1, "put", 0, 1, v="a", rev=2),
               rec(2, "del", 2, None, st="err"),         # only it can have made 3
               rec(3, "put", 4, 5, v="b", rev=4),
               rec(4, "del", 6, None, st="err"),         # then 5 is this one's
               rec(5, "get", 7, 8, kv=[False, None, 0, 0, 0], rev=5),
               rec(6, "del", 9, None, st="err")]         # nothing left: no effect
        res, orphans = checks.resolve_deletes(ops, ref)
        self.assertEqual((res, orphans), ({"c0-2": (1, 3), "c0-4": (1, 5)}, []))
        found, undecided, _ = checks.check_linearizable(ops, ref)
        self.assertEqual((found, undecided), ([], []))
        # a tombstone no delete can have made: the server deleted on its own
        res, orphans = checks.resolve_deletes(ops[:1] + ops[2:3], ref)
        self.assertEqual(orphans, [(K, 3), (K, 5)])
        per_key, found = checks.key_ops(ops[:1] + ops[2:3], ref)
        self.assertEqual([a["check"] for a in found], ["phantom-delete"] * 2)

    def test_revision_order(self):
        ops = [rec(1, "put", 0, 1, v="a", rev=2), rec(2, "get", 2, 3, kv=[True, "a", 2, 2, 1], rev=2)]
        self.assertEqual(checks.check_revision_order(ops), [])
        ops.append(rec(3, "put", 4, 5, v="b", rev=2))
        kinds = sorted(a["check"] for a in checks.check_revision_order(ops))
        self.assertEqual(kinds, ["revision-order", "revision-unique"])

    def test_serializable(self):
        w = rec(1, "put", 0, 1, v="b", rev=3)
        ok = rec(2, "sget", 2, 3, kv=[True, "b", 3, 2, 2], rev=3)
        self.assertEqual(checks.check_serializable([w, ok], self.REF, {}), [])
        wrong = rec(3, "sget", 4, 5, kv=[True, "a", 2, 2, 1], rev=3)
        behind = rec(4, "sget", 6, 7, kv=[True, "a", 2, 2, 1], rev=2)
        kinds = sorted(a["check"] for a in checks.check_serializable([w, ok, wrong, behind],
                                                                     self.REF, {}))
        self.assertEqual(kinds, ["serializable-behind", "serializable-monotonic",
                                 "serializable-read"])
        # after the member restarted, only the monotonic rule of the old session remains
        restarted = rec(5, "sget", 6, 7, kv=[True, "a", 2, 2, 1], rev=2, sess=2)
        self.assertEqual(checks.check_serializable([w, restarted], self.REF, {"e1": [5.5]}), [])

    def test_linearizable_split_by_key(self):
        k1 = "/rb/k1"
        ops = [rec(1, "mput", 0, 1, k=[K, k1], v=["x", "y"], rev=2),
               rec(2, "get", 2, 3, k=k1, kv=[True, "y", 2, 2, 1], rev=2),
               rec(3, "get", 4, 5, kv=[False, None, 0, 0, 0], rev=2)]
        found, undecided, _ = checks.check_linearizable(ops, None)
        self.assertEqual(undecided, [])
        self.assertEqual([a["check"] for a in found], ["linearizability"])
        self.assertEqual(found[0]["ops"][0]["id"], "c0-3")


def watch(prev_kv, *resps, starts=(1,)):
    recs = [{"t": "meta", "prev_kv": prev_kv, "start": 1}]
    starts = list(starts)
    recs.append({"t": "start", "rev": starts.pop(0)})
    for r in resps:
        if r == "broken":
            recs.append({"t": "broken"})
            recs.append({"t": "start", "rev": starts.pop(0)})
        else:
            recs.append({"t": "resp", "ev": r})
    return recs


K1 = "/rb/k1"
WREF = hist((2, "PUT", K, "a", 2, 1), (3, "PUT", K, "b", 2, 2), (3, "PUT", K1, "c", 3, 1),
            (4, "DELETE", K, None, 0, 0))
E2 = ["PUT", K, "a", 2, 2, 1, None]
E3 = ["PUT", K, "b", 3, 2, 2, ["a", 2, 2, 1]]
E3b = ["PUT", K1, "c", 3, 3, 1, None]
E4 = ["DELETE", K, None, 4, 0, 0, ["b", 3, 2, 2]]


class WatchChecksTest(unittest.TestCase):
    def kinds(self, recs, final=4):
        found, _ = watch_checks.check_watcher("w", recs, WREF, final)
        return sorted(a["check"] for a in found)

    def test_complete_stream(self):
        self.assertEqual(self.kinds(watch(True, [E2], [E3, E3b], [E4])), [])
        self.assertEqual(self.kinds(watch(True, [E2, E3, E3b, E4])), [])

    def test_resumed_stream(self):
        self.assertEqual(self.kinds(watch(True, [E2], "broken", [E3, E3b, E4], starts=(1, 3))), [])
        # re-created one revision too late: revision 3 is never delivered
        self.assertEqual(self.kinds(watch(True, [E2], "broken", [E4], starts=(1, 4))),
                         ["watch-gap", "watch-resume"])

    def test_events_after_the_final_revision(self):
        late = ["DELETE", K1, None, 5, 0, 0, ["c", 3, 3, 1]]
        self.assertEqual(self.kinds(watch(True, [E2], [E3, E3b], [E4], [late])), [])
        self.assertEqual(self.kinds(watch(True, [E2], [E3, E3b], [E4], [late]), final=5),
                         ["watch-content"])

    def test_duplicate(self):
        self.assertEqual(self.kinds(watch(True, [E2], [E3, E3b], [E3], [E4])), ["watch-duplicate"])

    def test_gap(self):
        self.assertEqual(self.kinds(watch(True, [E2], [E3b], [E4])), ["watch-gap"])
        self.assertEqual(self.kinds(watch(True, [E2], [E3, E3b])), ["watch-incomplete"])

    def test_split_revision_and_order(self):
        self.assertEqual(self.kinds(watch(True, [E2], [E3], [E3b], [E4])), ["watch-atomic"])
        self.assertEqual(self.kinds(watch(True, [E2], [E3b, E3], [E4])), ["watch-order"])

    def test_content_and_prev_kv(self):
        wrong = ["PUT", K, "B", 3, 2, 2, ["a", 2, 2, 1]]
        self.assertEqual(self.kinds(watch(True, [E2], [wrong, E3b], [E4])), ["watch-content"])
        bad_prev = ["PUT", K, "b", 3, 2, 2, None]
        self.assertEqual(self.kinds(watch(True, [E2], [bad_prev, E3b], [E4])), ["watch-prev-kv"])
        # without prev_kv requested, prev is not compared
        self.assertEqual(self.kinds(watch(False, [E2], [bad_prev, E3b], [E4])), [])


def progress_watch(*items, starts=(1,)):
    """items: a list of events (one response), ("progress", rev), ("cancel", rev) or
    "broken"; a new stream starts after "broken" and after a cancel."""
    recs = [{"t": "meta", "prev_kv": False, "start": 1}]
    starts = list(starts)
    recs.append({"t": "start", "rev": starts.pop(0)})
    for it in items:
        if it == "broken":
            recs += [{"t": "broken"}, {"t": "start", "rev": starts.pop(0)}]
        elif it[0] == "progress":
            recs.append({"t": "progress", "hdr": it[1], "time": 0})
        elif it[0] == "cancel":
            recs += [{"t": "canceled", "rev": it[1], "time": 10},
                     {"t": "start", "rev": starts.pop(0)}]
        else:
            recs.append({"t": "resp", "ev": it})
    return recs


class ProgressAndCompactionWatchTest(unittest.TestCase):
    def kinds(self, recs, compactions=()):
        found, _ = watch_checks.check_watcher("w", recs, WREF, 4, compactions)
        return sorted(a["check"] for a in found)

    def test_progress_in_order(self):
        self.assertEqual(self.kinds(progress_watch(("progress", 1), [E2], ("progress", 2),
                                                   ("progress", 2), [E3, E3b], [E4],
                                                   ("progress", 9))), [])

    def test_progress_ahead_of_events(self):
        # progress claims revision 3 done, then revision 3's events arrive
        self.assertEqual(self.kinds(progress_watch([E2], ("progress", 3), [E3, E3b], [E4])),
                         ["watch-progress-ahead", "watch-progress-ahead"])

    def test_progress_back_and_behind(self):
        self.assertEqual(self.kinds(progress_watch([E2], ("progress", 2), ("progress", 1),
                                                   [E3, E3b], [E4])),
                         ["watch-progress-back", "watch-progress-behind"])

    def test_progress_is_per_stream(self):
        # a new stream on another member may answer an older progress revision
        self.assertEqual(self.kinds(progress_watch([E2], ("progress", 3), "broken",
                                                   ("progress", 2), [E3, E3b], [E4],
                                                   starts=(1, 3))), [])

    def test_compaction_cancel_skips_revisions(self):
        # stream broke after 2; resumed at 3, canceled: compacted at 4; resumed at 4
        recs = progress_watch([E2], "broken", ("cancel", 4), [E4], starts=(1, 3, 4))
        self.assertEqual(self.kinds(recs, [(5, 4)]), [])
        # without such a compaction asked for before the cancel, it is an anomaly
        self.assertEqual(self.kinds(recs, [(11, 4)]), ["watch-compacted"])
        self.assertEqual(self.kinds(recs, [(5, 3)]), ["watch-compacted"])
        # resumed at the wrong revision after the cancel
        bad = progress_watch([E2], "broken", ("cancel", 4), [E4], starts=(1, 3, 5))
        self.assertEqual(self.kinds(bad, [(5, 4)]), ["watch-resume"])
        # a cancel at a compact revision not above the watch's start
        bad = progress_watch([E2], "broken", ("cancel", 3), [E3, E3b], [E4], starts=(1, 3, 3))
        self.assertEqual(self.kinds(bad, [(5, 3)]), ["watch-compacted"])
        # the cancel excuses only what it skipped: an event lost below the last one
        # this stream delivered is a gap all the same
        lost = progress_watch([E2], [E3], ("cancel", 4), [E4], starts=(1, 4))
        self.assertEqual(self.kinds(lost, [(5, 4)]), ["watch-gap"])


LK = "/rb/l/%x/a"
LID = 7


def lrec(i, kind, t0, t1, st="ok", **kw):
    op = {"id": "L0-%d" % i, "c": "L0", "ep": "e1", "sess": 0, "op": kind, "lease": LID,
          "t0": t0, "t1": t1, "st": st, "term": 2}
    op.update(kw)
    return op


def lease_hist(del_rev=None):
    ev = [(2, "PUT", K, "a", 2, 1), (3, "PUT", LK % LID, "v", 3, 1),
          (4, "PUT", (LK % LID)[:-1] + "b", "w", 4, 1)]
    if del_rev:
        ev += [(del_rev, "DELETE", LK % LID, None, 0, 0),
               (del_rev, "DELETE", (LK % LID)[:-1] + "b", None, 0, 0)]
    return hist(*ev)


def lease_ops(extra=()):
    k, kb = LK % LID, (LK % LID)[:-1] + "b"
    return [lrec(1, "lgrant", 10.0, 10.1, ttl=2, rev=2),
            lrec(2, "lput", 10.1, 10.2, k=k, rev=3),
            lrec(3, "lput", 10.2, 10.3, k=kb, rev=4)] + list(extra)


class LeaseChecksTest(unittest.TestCase):
    ET = 1.0

    def kinds(self, lops, ref, final_rev=6, other=(), windows=()):
        found = lease_checks.check_leases(lops, list(other) + lops, [], ref, final_rev,
                                          windows, self.ET, 2.0)
        return sorted(a["check"] for a in found)

    def test_expired_lease(self):
        # granted at 10.0 with TTL 2, never kept alive: deleted at 5, seen at 13
        see = rec(9, "get", 12.9, 13.0, kv=[False, None, 0, 0, 0], rev=5)
        ops = lease_ops([lrec(4, "lget", 11.0, 11.1, k=LK % LID, kv=[True, "v", 3, 3, 1], rev=4),
                         lrec(5, "lttl", 11.2, 11.3, ttl=1, granted=2,
                              keys=sorted([LK % LID, (LK % LID)[:-1] + "b"]), rev=4),
                         lrec(6, "lttl", 16.0, 16.1, ttl=-1, granted=0, keys=[], rev=5)])
        self.assertEqual(self.kinds(ops, lease_hist(5), other=[see]), [])

    def test_read_after_expiry(self):
        # gone by 10.1 + 2 + 1 + 1.5 = 14.6: a read sent at 15 still sees the key
        late = lrec(4, "lget", 15.0, 15.1, k=LK % LID, kv=[True, "v", 3, 3, 1], rev=4)
        self.assertEqual(self.kinds(lease_ops([late]), lease_hist(None), final_rev=4),
                         ["lease-after-end", "lease-key-survives", "lease-key-survives"])
        # a leader change (a fault window) in between excuses it: etcd's Promote extends
        self.assertEqual(self.kinds(lease_ops([late]), lease_hist(None), final_rev=4,
                                    windows=[(11.0, 12.0)]), [])
        # so does a term change seen in the lease client's answers
        keys = sorted([LK % LID, (LK % LID)[:-1] + "b"])
        terms = [lrec(5, "lttl", 11.0, 11.1, ttl=1, granted=2, keys=keys, rev=4, term=3)]
        self.assertEqual(self.kinds(lease_ops([late] + terms), lease_hist(None), final_rev=4), [])

    def test_read_after_revoke(self):
        revoke = lrec(4, "lrevoke", 11.0, 11.2, rev=5)
        stale = lrec(5, "lget", 11.3, 11.4, k=LK % LID, kv=[True, "v", 3, 3, 1], rev=4)
        self.assertEqual(self.kinds(lease_ops([revoke]), lease_hist(5)), [])
        self.assertEqual(self.kinds(lease_ops([revoke, stale]), lease_hist(5)),
                         ["lease-after-end"])
        alive = lrec(5, "lttl", 11.3, 11.4, ttl=1, granted=2, keys=[], rev=5)
        self.assertIn("lease-after-end", self.kinds(lease_ops([revoke, alive]), lease_hist(5)))

    def test_expired_early_while_kept_alive(self):
        # kept alive at 11.5 (TTL 2): the lease lives until 13.5 at least
        ka = lrec(4, "lka", 11.5, 11.6, ttl=2, rev=4)
        early = rec(9, "get", 12.0, 12.5, kv=[False, None, 0, 0, 0], rev=5)
        fine = rec(9, "get", 13.6, 13.7, kv=[False, None, 0, 0, 0], rev=5)
        self.assertEqual(self.kinds(lease_ops([ka]), lease_hist(5), other=[fine]), [])
        self.assertEqual(self.kinds(lease_ops([ka]), lease_hist(5), other=[early]),
                         ["lease-early-end", "lease-early-end"])
        gone = lrec(5, "lttl", 12.0, 12.1, ttl=-1, granted=0, keys=[], rev=4)
        self.assertEqual(self.kinds(lease_ops([ka, gone]), lease_hist(None), final_rev=4),
                         ["lease-early-end"])
        zero = lrec(5, "lka", 12.0, 12.1, ttl=0, rev=4)
        self.assertEqual(self.kinds(lease_ops([ka, zero]), lease_hist(None), final_rev=4),
                         ["lease-early-end"])

    def test_revoke_not_atomic(self):
        ref = hist((2, "PUT", K, "a", 2, 1), (3, "PUT", LK % LID, "v", 3, 1),
                   (4, "PUT", (LK % LID)[:-1] + "b", "w", 4, 1),
                   (5, "DELETE", LK % LID, None, 0, 0),
                   (6, "DELETE", (LK % LID)[:-1] + "b", None, 0, 0))
        see = rec(9, "get", 15.0, 15.1, kv=[False, None, 0, 0, 0], rev=6)
        self.assertEqual(self.kinds(lease_ops(), ref, other=[see]), ["lease-revoke-atomic"])

    def test_time_to_live_answers(self):
        keys = sorted([LK % LID, (LK % LID)[:-1] + "b"])
        ok = lrec(4, "lttl", 10.4, 10.5, ttl=2, granted=2, keys=keys, rev=4)
        see = rec(9, "get", 15.0, 15.1, kv=[False, None, 0, 0, 0], rev=5)
        self.assertEqual(self.kinds(lease_ops([ok]), lease_hist(5), other=[see]), [])
        for bad in (dict(granted=3), dict(ttl=5), dict(keys=keys[:1]),
                    dict(keys=keys + ["/rb/l/other"])):
            op = dict(ok, **bad)
            self.assertEqual(self.kinds(lease_ops([op]), lease_hist(5), other=[see]),
                             ["lease-ttl"], bad)

    def test_lease_delete_in_watch(self):
        # an expiry's deletes are events like any other: a watch that misses them has a gap
        ref = lease_hist(5)
        ev = [["PUT", K, "a", 2, 2, 1, None], ["PUT", LK % LID, "v", 3, 3, 1, None],
              ["PUT", (LK % LID)[:-1] + "b", "w", 4, 4, 1, None]]
        dels = [["DELETE", LK % LID, None, 5, 0, 0, None],
                ["DELETE", (LK % LID)[:-1] + "b", None, 5, 0, 0, None]]
        full = watch(False, ev[:1], ev[1:2], ev[2:], dels)
        self.assertEqual(watch_checks.check_watcher("w", full, ref, 5)[0], [])
        found, _ = watch_checks.check_watcher("w", watch(False, ev[:1], ev[1:2], ev[2:],
                                                         dels[:1]), ref, 5)
        self.assertEqual([a["check"] for a in found], ["watch-gap"])


class CompactionReadsTest(unittest.TestCase):
    REF = hist((2, "PUT", K, "a", 2, 1), (3, "PUT", K, "b", 2, 2), (4, "DELETE", K, None, 0, 0))

    def xrec(self, i, kind, t0, t1, st="ok", **kw):
        op = {"id": "X-%d" % i, "c": "X", "ep": "e1", "op": kind, "t0": t0, "t1": t1, "st": st}
        op.update(kw)
        return op

    def kinds(self, xops):
        return sorted(a["check"] for a in lease_checks.check_compaction_reads(xops, self.REF))

    def test_reads_around_a_compaction(self):
        c = self.xrec(1, "compact", 1, 2, rev=3)
        err = "OUT_OF_RANGE: etcdserver: mvcc: " + lease_checks.COMPACTED
        good = [c, self.xrec(2, "oget", 3, 4, st="err", err=err, at=2),
                self.xrec(3, "oget", 5, 6, at=3, kvs={K: ["b", 3, 2, 2]}, rev=4),
                self.xrec(4, "oget", 5, 6, at=4, kvs={}, rev=4)]
        self.assertEqual(self.kinds(good), [])
        # a read below the acknowledged compaction succeeds
        self.assertEqual(self.kinds([c, self.xrec(2, "oget", 3, 4, at=2, kvs={K: ["a", 2, 2, 1]},
                                                  rev=4)]), ["compaction-read"])
        # a read at a revision that answers the wrong state
        self.assertEqual(self.kinds([c, self.xrec(2, "oget", 3, 4, at=3, kvs={}, rev=4)]),
                         ["compaction-read"])
        # "compacted" at a revision no compaction asked for covers
        self.assertEqual(self.kinds([c, self.xrec(2, "oget", 3, 4, st="err", err=err, at=3)]),
                         ["compaction-read"])
        self.assertEqual(self.kinds([self.xrec(2, "oget", 0.5, 0.9, st="err", err=err, at=2), c]),
                         ["compaction-read"])

    def test_watches_around_a_compaction(self):
        c = self.xrec(1, "compact", 1, 2, rev=3)

        def w(at, canceled=False, crev=0, first=None, ep="e1", t0=3):
            return self.xrec(2, "owatch", t0, t0 + 1, at=at, canceled=canceled, crev=crev,
                             first=first, ep=ep)
        self.assertEqual(self.kinds([c, w(2, True, 3), w(3, first=3), w(4, first=4)]), [])
        # below the compaction its member acknowledged, yet not canceled
        self.assertEqual(self.kinds([c, w(2, first=2)]), ["compaction-watch"])
        # another member may not have applied it yet
        self.assertEqual(self.kinds([c, w(2, first=2, ep="e2")]), [])
        # canceled at a compact revision nobody asked for, or not above the start
        self.assertEqual(self.kinds([c, w(2, True, 4)]), ["compaction-watch"])
        self.assertEqual(self.kinds([c, w(3, True, 3)]), ["compaction-watch"])
        self.assertEqual(self.kinds([w(2, True, 3, t0=0), c]), ["compaction-watch"])
        # from revision 3 the first event is 3's: one starting later skipped it
        self.assertEqual(self.kinds([c, w(3, first=4)]), ["compaction-watch"])
        # revision 4 is a delete: compacted at 4, etcd drops that tombstone, so a
        # watch from 4 may start at 5 (ketcd delivers 4); never later
        ref = hist(*(self.REF.events + [(5, "PUT", K, "c", 5, 1), (6, "PUT", K, "d", 5, 2)]))
        c4 = self.xrec(1, "compact", 1, 2, rev=4)

        def found(*xops):
            return [a["check"] for a in lease_checks.check_compaction_reads(list(xops), ref)]
        self.assertEqual(found(c4, w(4, first=4)), [])
        self.assertEqual(found(c4, w(4, first=5)), [])
        self.assertEqual(found(c4, w(4, first=6)), ["compaction-watch"])
        self.assertEqual(found(c, w(4, first=5)), ["compaction-watch"])

    def test_a_watch_that_hangs(self):
        c = self.xrec(1, "compact", 1, 2, rev=3)
        hung = self.xrec(2, "owatch", 20, 22, st="err", err="DEADLINE_EXCEEDED: Deadline Exceeded",
                         at=3)

        def found(windows):
            return [a["check"] for a in lease_checks.check_compaction_reads(
                [c, hung], self.REF, None, windows)]
        self.assertEqual(found([]), ["compaction-watch"])
        self.assertEqual(found([(30, 31)]), ["compaction-watch"])
        # a fault running (or just over) may hold it up; no fault log: not judged
        self.assertEqual(found([(18, 19)]), [])
        self.assertEqual(found([(23, 24)]), [])
        self.assertEqual(lease_checks.check_compaction_reads([c, hung], self.REF), [])


class ScheduleTest(unittest.TestCase):
    def test_replayable_and_bounded(self):
        import faults
        kinds = {"kill", "pause", "partition", "oneway"}  # the CI pass's seed 1181
        a = faults.schedule(1181, 75, kinds, 1.0)
        self.assertEqual(a, faults.schedule(1181, 75, kinds, 1.0))
        self.assertNotEqual(a, faults.schedule(1182, 75, kinds, 1.0))
        self.assertTrue(all(f["at"] + f["down"] + 4.0 <= 75 for f in a))
        self.assertEqual({f["kind"] for f in a}, kinds)
        self.assertEqual(faults.schedule(1, 75, {"kill"}, 1.0)[0]["kind"], "kill")


class DiskFaultTest(unittest.TestCase):
    def test_schedule(self):
        import faults
        a = faults.schedule(DISK_SEED, DISK_DURATION, {"disk", "slow"}, 1.0)
        self.assertEqual(a, faults.schedule(DISK_SEED, DISK_DURATION, {"disk", "slow"}, 1.0))
        disk = [f for f in a if f["kind"] == "disk"]
        self.assertTrue(all(f["mode"] in faults.DISK_MODES for f in disk))
        self.assertTrue(all("mode" not in f for f in a if f["kind"] != "disk"))
        # the CTest pass's seed: a directory fsync and the WAL's pwrite failing on a
        # follower, the WAL's fdatasync and a RocksDB write on the leader; slow
        # syncs on the leader and on a follower
        points = {faults.DISK_MODES[f["mode"]][0] for f in disk}
        self.assertEqual(points, {"posix/io/sync/fdatasync", "posix/io/rw/pwrite",
                                  "posix/io/rw/write", "posix/io/sync/fsync"})
        self.assertEqual({f["mode"].split("-")[1] for f in disk}, {"eio", "enospc"})
        self.assertEqual({f["target"] for f in disk}, {"leader", "follower"})
        self.assertEqual({f["target"] for f in a if f["kind"] == "slow"}, {"leader", "follower"})
        # a run without disk gets no disk fault
        plain = faults.schedule(7, 60, {"kill", "pause"}, 1.0)
        self.assertTrue(plain and all(f["kind"] in ("kill", "pause") and "mode" not in f for f in plain))

    def test_classify_and_check(self):
        import faults
        fatal = 'ketcd: fatal: writing the raft log error="wal: fdatasync x: Input/output error"'
        rocks = ("ketcd: ./file/writable_file_writer.h:312: rocksdb::IOStatus ...: "
                 "Assertion `sync_without_flush_called_' failed.")
        self.assertEqual(faults.classify_stop(-6, fatal), "fatal")
        self.assertEqual(faults.classify_stop(2, "panic: wal: fsync failed"), "fatal")
        self.assertEqual(faults.classify_stop(-6, rocks), "assert")
        self.assertEqual(faults.classify_stop(-11, "ketcd: member m1 serving"), "crash")
        self.assertEqual(faults.classify_stop(0, "ketcd: stopped"), "clean-exit")
        out = [dict(member="m1", mode="write-eio", stopped=True, rc=rc, line=line,
                    how=faults.classify_stop(rc, line))
               for rc, line in ((-6, fatal), (-6, rocks), (-11, "x"), (0, "ketcd: stopped"))]
        out.append(dict(member="m2", mode="fsync-eio", stopped=False))
        self.assertEqual([a["what"].split(" stopped with ")[1].split(" ")[0]
                          for a in faults.check_disk(out)], ["assert", "crash", "clean-exit"])
        self.assertEqual({a["check"] for a in faults.check_disk(out)}, {"disk"})
        # a fault never switched on, an error swallowed, or no member stopped at all
        stopped = dict(member="m1", mode="write-eio", stopped=True, rc=-6, line=fatal, how="fatal")
        self.assertEqual(faults.check_disk([stopped]), [])
        never = dict(member="m2", mode="write-eio", point="posix/io/rw/write", enabled=False, stopped=False)
        self.assertIn("never switched on", faults.check_disk([stopped, never])[0]["what"])
        swallowed = dict(member="m3", mode="pwrite-eio", stopped=False)
        self.assertIn("kept running through pwrite-eio", faults.check_disk([stopped, swallowed])[0]["what"])
        quiet = dict(member="m3", mode="fsync-eio", stopped=False)
        self.assertEqual([a["what"] for a in faults.check_disk([quiet])],
                         ["no disk fault stopped a member: 1 outcomes"])


# robustness.membership's seed and duration (CMakeLists.txt)
MEMBER_SEED, MEMBER_DURATION = 197, 45


class MembershipTest(unittest.TestCase):
    def test_schedule(self):
        import faults
        kinds = {"member", "kill"}
        a = faults.schedule(MEMBER_SEED, MEMBER_DURATION, kinds, 1.0)
        self.assertEqual(a, faults.schedule(MEMBER_SEED, MEMBER_DURATION, kinds, 1.0))
        member = [f for f in a if f["kind"] == "member"]
        self.assertTrue(all("learner" not in f for f in a if f["kind"] != "member"))
        learners = [f["learner"] for f in member]
        self.assertTrue(all(x != y for x, y in zip(learners, learners[1:])))  # alternate
        self.assertTrue(all(f["at"] + f["down"] + faults.MEMBER_EXTRA + 4.0 <= MEMBER_DURATION
                            for f in member))
        # the CTest pass's seed: a voter and a learner, the leader and a follower
        # replaced, fresh ports and the removed member's, a revenant
        self.assertEqual({f["learner"] for f in member}, {True, False})
        self.assertEqual({f["target"] for f in member}, {"leader", "follower"})
        self.assertEqual({f["fresh_ports"] for f in member}, {True, False})
        self.assertIn(True, {f["revenant"] for f in member})

    def test_endpoints_follow_the_member_list(self):
        import client
        import tempfile
        eps = ["a", "b", "c"]
        self.assertEqual(client.next_endpoint(eps, 2), (eps, 0))
        self.assertEqual(client.next_endpoint(eps, 0, ["a", "d", "c"]), (["a", "d", "c"], 1))
        # b was removed: the member now at its place
        self.assertEqual(client.next_endpoint(eps, 1, ["a", "d", "c"]), (["a", "d", "c"], 1))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "endpoints")
            with open(path, "w") as f:
                f.write("a\nb\nc\n")
            m = client.Endpoints("a,b,c", 4, path)
            self.assertEqual((m.ep, m.changed()), ("b", False))
            m.move()
            self.assertEqual(m.ep, "c")
            with open(path, "w") as f:
                f.write("a\nc\n")
            m.checked = 0.0
            self.assertEqual((m.changed(), m.ep), (True, "a"))  # its own: 4 % 2
            # without a file: the fixed list, as before the member fault
            fixed = client.Endpoints("a,b,c", 2)
            fixed.move()
            self.assertEqual((fixed.ep, fixed.changed()), ("a", False))

    def test_serializable_across_a_replacement(self):
        # e1's member removed and replaced at 5.5 by an empty one that reads an older
        # revision on a connection gRPC re-established: no anomaly
        w = rec(1, "put", 0, 1, v="b", rev=3)
        old = rec(2, "sget", 2, 3, kv=[True, "b", 3, 2, 2], rev=3)
        new = rec(3, "sget", 6, 7, kv=[True, "a", 2, 2, 1], rev=2)
        restarts = {"e1": [5.5]}
        self.assertEqual(checks.check_serializable([w, old, new], HistoryChecksTest.REF,
                                                   restarts, {"e1": [5.5]}), [])
        # without the replacement the session went back
        self.assertEqual([a["check"] for a in checks.check_serializable(
            [w, old, new], HistoryChecksTest.REF, restarts)], ["serializable-monotonic"])
        # a stale read from the new member is still one
        stale = rec(4, "sget", 8, 9, kv=[True, "a", 2, 2, 1], rev=3, sess=2)
        self.assertEqual([a["check"] for a in checks.check_serializable(
            [w, old, new, stale], HistoryChecksTest.REF, restarts, {"e1": [5.5]})],
            ["serializable-read"])
        # and a write the removed member acknowledged must be in the history
        lost = rec(5, "put", 4, 5, v="c", rev=4)
        self.assertEqual([a["check"] for a in checks.check_acknowledged(
            [w, lost], HistoryChecksTest.REF)], ["lost-write"])

    def test_compaction_watch_across_a_replacement(self):
        ref = hist((2, "PUT", K, "a", 2, 1), (3, "PUT", K, "b", 2, 2), (5, "PUT", K, "c", 2, 3))
        compact = {"id": "X-1", "op": "compact", "rev": 5, "ep": "e1", "t0": 1, "t1": 2, "st": "ok"}
        watch = {"id": "X-2", "op": "owatch", "at": 4, "ep": "e1", "t0": 4, "t1": 5, "st": "ok",
                 "canceled": False, "crev": 0, "first": 5}
        found = lease_checks.check_compaction_reads([compact, watch], ref)
        self.assertEqual([a["check"] for a in found], ["compaction-watch"])
        # a new member at e1 since the compaction: not "its member"
        self.assertEqual(lease_checks.check_compaction_reads([compact, watch], ref, {"e1": [3]}),
                         [])

    def test_check(self):
        import member_fault
        change = {"member": "m2", "learner": True, "stop": {"how": "exited", "alive": False},
                  "revenant_run": {"how": "exited", "named_leader_by": [], "listed_by": []}}
        lists = {n: [["a1", "m1", False], ["c4", "m4", False], ["d3", "m3", False]]
                 for n in ("m1", "m3", "m4")}
        rec_ = {"changes": [change], "removed_ids": ["b2"], "replaced": {},
                "ids": {"m1": "a1", "m3": "d3", "m4": "c4"}, "lists": lists}
        self.assertEqual(member_fault.check(rec_), [])
        self.assertEqual(member_fault.check({}), [])

        def whats(**over):
            r = dict(rec_, **over)
            return [a["what"] for a in member_fault.check(r)]
        back = dict(lists, m1=lists["m1"] + [["b2", "m2", False]])
        self.assertEqual(len(whats(lists=back)), 2)  # a removed id, and m1 disagrees
        self.assertIn("lists removed member(s) ['b2']", whats(lists=back)[0])
        learner = dict(lists, m4=[["a1", "m1", False], ["c4", "m4", True], ["d3", "m3", False]])
        self.assertIn("learner(s) ['m4']", whats(lists=learner)[0])
        self.assertIn("did not answer", whats(lists=dict(lists, m3=None))[0])
        kept = dict(change, revenant_run={"how": "stopped", "line": "x", "named_leader_by": [],
                                          "listed_by": ["m1"]})
        self.assertEqual(len(whats(changes=[kept])), 2)
        failed = dict(change, error="member promote c4 failed for 30s: lagging")
        self.assertIn("member promote c4 failed", whats(changes=[failed])[0])


class FinalHistoryTest(unittest.TestCase):
    def test_from_states(self):
        ref = checks.FinalHistory.from_states([
            (1, {}), (2, {K: ("a", 2, 2, 1)}), (3, {K: ("b", 3, 2, 2), K1: ("c", 3, 3, 1)}),
            (4, {K1: ("c", 3, 3, 1)})])
        self.assertEqual(ref.events, WREF.events)
        self.assertEqual(ref.kv_at(K, 3), ("b", 3, 2, 2))
        self.assertIsNone(ref.kv_at(K, 4))
        self.assertEqual(ref.put_at[(K1, "c")], 3)


class LongModeTest(unittest.TestCase):
    """run --ops: the load ends at a count of sent operations, and no fault of the
    schedule starts after that."""

    def test_sent_counter_reads_whole_lines_as_files_grow(self):
        import importlib.machinery
        import tempfile
        here = os.path.dirname(os.path.abspath(__file__))
        run = importlib.machinery.SourceFileLoader("robustness_run", os.path.join(here, "run")).load_module()
        with tempfile.TemporaryDirectory() as d:
            sent = '{"id": "c0-%d", "st": "sent"}\n'
            with open(os.path.join(d, "client-0.jsonl"), "w") as f:
                f.write(sent % 1 + '{"id": "c0-1", "st": "ok"}\n' + '{"id": "c0-2", "st": "se')
            with open(os.path.join(d, "watch-0.jsonl"), "w") as f:
                f.write(sent % 9)  # a watcher's file is not a client's
            counter = run.SentCounter(d)
            self.assertEqual(counter.count(), 1)  # the half-written record waits
            with open(os.path.join(d, "client-0.jsonl"), "a") as f:
                f.write('nt"}\n')
            with open(os.path.join(d, "lease-0.jsonl"), "w") as f:
                f.write(sent % 3)
            self.assertEqual(counter.count(), 3)
            self.assertEqual(counter.count(), 3)

    def test_no_fault_starts_once_stopping(self):
        import faults
        import threading
        import time

        class NoCluster:
            members = []
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            inj = faults.Injector(NoCluster(), os.path.join(d, "faults.jsonl"), True)
            plan = [{"at": 30.0, "kind": "kill", "target": "leader", "down": 1.0, "pick": 0.5}]
            ran = []
            inj.run = ran.append
            threading.Timer(0.2, inj.stopping.set).start()
            t0 = time.monotonic()
            inj._drive(plan, t0, t0 + 60)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertEqual(ran, [])


if __name__ == "__main__":
    unittest.main()
