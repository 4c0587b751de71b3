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

import checks  # noqa: E402
import linearizability as lin  # noqa: E402
import watch_checks  # noqa: E402

K = "/rb/k0"


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


class ScheduleTest(unittest.TestCase):
    def test_replayable_and_bounded(self):
        import faults
        kinds = set(faults.KINDS)
        a = faults.schedule(1181, 75, kinds, 1.0)
        self.assertEqual(a, faults.schedule(1181, 75, kinds, 1.0))
        self.assertNotEqual(a, faults.schedule(1182, 75, kinds, 1.0))
        self.assertTrue(all(f["at"] + f["down"] + 4.0 <= 75 for f in a))
        self.assertEqual({f["kind"] for f in a}, kinds)
        self.assertEqual(faults.schedule(1, 75, {"kill"}, 1.0)[0]["kind"], "kill")


class FinalHistoryTest(unittest.TestCase):
    def test_from_states(self):
        ref = checks.FinalHistory.from_states([
            (1, {}), (2, {K: ("a", 2, 2, 1)}), (3, {K: ("b", 3, 2, 2), K1: ("c", 3, 3, 1)}),
            (4, {K1: ("c", 3, 3, 1)})])
        self.assertEqual(ref.events, WREF.events)
        self.assertEqual(ref.kv_at(K, 3), ("b", 3, 2, 2))
        self.assertIsNone(ref.kv_at(K, 4))
        self.assertEqual(ref.put_at[(K1, "c")], 3)


if __name__ == "__main__":
    unittest.main()
