"""The checks of a recorded robustness history (everything but the search itself).

Inputs, as the run writes them (records are dicts, see client.py):
  ops      client operations: {"id","c","ep","sess","op","k","v",...,"t0","t1","st"}
           op: get (linearizable), sget (serializable), put, del, cas, mput
  ref      the final history read back from one member (FinalHistory): every
           revision of the key set, by a range at each revision
  watches  per watcher, its records: start / resp / broken / end

Each check returns a list of anomalies: {"check": name, "what": text, "ops": [...]}.
"""

import bisect
import glob
import json
import os

import linearizability as lin

# Every record file of an operation: the KV clients', the lease client's, the compactor's.
OP_RECORDS = ("client-*.jsonl", "lease-*.jsonl", "compact-*.jsonl")


def load_ops(out_dir, patterns=("client-*.jsonl",)):
    """The operations recorded in out_dir's files matching patterns, the last
    record of each id (its answer, or "sent" turned into an unknown outcome), by
    start time."""
    ops = {}
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(out_dir, pattern))):
            with open(path) as f:
                for line in f:
                    if line.endswith("\n"):
                        op = json.loads(line)
                        ops[op["id"]] = op
    for op in ops.values():
        if op["st"] == "sent":  # the client stopped before the answer
            op["st"], op["err"], op["t1"] = "err", "no answer recorded", None
    return sorted(ops.values(), key=lambda o: o["t0"])


class FinalHistory:
    """events: [(rev, type, key, value, create, version)] in revision order, keys in
    sub-revision order within a revision (the harness's two-key txn puts its keys in
    sorted order). Built from states[rev] = {key: (value, mod, create, version)}."""

    def __init__(self, events):
        self.events = sorted(events, key=lambda e: (e[0], e[2]))
        self.by_key = {}  # key -> ([rev...], [kv or None...])
        self.put_at = {}  # (key, value) -> revision
        self.rev = max((e[0] for e in self.events), default=0)
        for rev, typ, key, value, create, version in self.events:
            revs, kvs = self.by_key.setdefault(key, ([], []))
            revs.append(rev)
            kvs.append((value, rev, create, version) if typ == "PUT" else None)
            if typ == "PUT":
                self.put_at[(key, value)] = rev

    @staticmethod
    def from_states(states):
        """states: list of (rev, {key: (value, mod, create, version)}) for revisions 1..N."""
        events, prev = [], {}
        for rev, cur in states:
            for k, kv in cur.items():
                if kv[1] == rev:
                    events.append((rev, "PUT", k, kv[0], kv[2], kv[3]))
            for k in prev:
                if k not in cur:
                    events.append((rev, "DELETE", k, None, 0, 0))
            prev = cur
        return FinalHistory(events)

    def kv_at(self, key, rev):
        """(value, mod, create, version) of key at revision rev, or None."""
        revs, kvs = self.by_key.get(key, ([], []))
        i = bisect.bisect_right(revs, rev)
        return kvs[i - 1] if i else None


def anomaly(check, what, ops=()):
    return {"check": check, "what": what, "ops": list(ops)}


WRITES = ("put", "del", "cas", "mput")


def _keys_values(op):
    if op["op"] == "mput":
        return list(zip(op["k"], op["v"]))
    return [(op["k"], op.get("v"))]


def key_ops(ops, ref):
    """Split by key into KeyOps. With ref, a write whose outcome is unknown is
    resolved against the final history (values are unique per write): found, it
    took effect at that revision (time still unknown: ret None); not found, it
    never took effect and is dropped. Without ref it stays fully unknown.
    Also returns anomalies found on the way (a two-key txn half applied)."""
    per_key, found = {}, []
    del_revs, orphans = resolve_deletes(ops, ref) if ref is not None else ({}, [])
    for key, rev in orphans:
        found.append(anomaly("phantom-delete", "the final history deletes %r at revision %d; "
                             "no delete sent can have done it" % (key, rev)))

    def add(k, kop):
        per_key.setdefault(k, []).append(kop)

    for op in ops:
        kind, ok, t0 = op["op"], op["st"] == "ok", op["t0"]
        t1 = op["t1"] if ok else None
        if kind == "sget":
            continue
        if kind == "get":
            if ok:
                kv = op["kv"] or [False, None, 0, 0, 0]
                add(op["k"], lin.KeyOp(t0, t1, "get", None, tuple(kv) + (op["rev"],), op["id"]))
            continue
        if kind == "del":
            if ok:
                out = (op["n"], op["rev"])
            elif ref is None:
                out = None
            elif op["id"] not in del_revs:
                continue  # no tombstone it could have made: no effect
            else:
                out = del_revs[op["id"]]
            add(op["k"], lin.KeyOp(t0, t1, "del", None, out, op["id"]))
            continue
        if kind == "cas":
            if ok:
                kv = tuple(op["kv"]) if op.get("kv") else None
                out = (op["ok"], op["rev"], kv)
            elif ref is None:
                out = None
            else:
                r = ref.put_at.get((op["k"], op["v"]))
                if r is None:
                    continue
                out = (True, r, None)
            add(op["k"], lin.KeyOp(t0, t1, "cas", (op["exp"], op["v"]), out, op["id"]))
            continue
        # put / mput
        pairs = _keys_values(op)
        if ok:
            revs = [op["rev"]] * len(pairs)
        elif ref is None:
            revs = [None] * len(pairs)
        else:
            revs = [ref.put_at.get(kv) for kv in pairs]
            if len(set(revs)) > 1:
                found.append(anomaly("txn-atomicity", "a txn's puts are not all at one revision "
                                     "in the final history: %s" % revs, [op]))
            if all(r is None for r in revs):
                continue
        for (k, v), r in zip(pairs, revs):
            add(k, lin.KeyOp(t0, t1, "put", v, r, op["id"]))
    return per_key, found


def _floors(ops):
    """floor(t): the newest revision of a linearizable operation completed before t."""
    done = sorted((op["t1"], _write_rev(op)[0]) for op in ops
                  if op["st"] == "ok" and op["op"] != "sget")
    times, best = [], []
    for t1, rev in done:
        times.append(t1)
        best.append(max(rev, best[-1]) if best else rev)

    def floor(t):
        i = bisect.bisect_left(times, t)
        return best[i - 1] if i else 0
    return floor


def resolve_deletes(ops, ref):
    """Deletes with an unknown outcome, against the final history's tombstones.
    Each tombstone no acknowledged delete explains was made by exactly one delete
    with an unknown outcome, newer than every revision completed before that
    delete was sent; a delete makes at most one. Matches forced by these rules
    are propagated (a tombstone with one possible author assigns it; the author
    is then no one else's). Returns ({op id: (1, revision) or None when still
    ambiguous}, [tombstones no delete can have made]) over the keys ops touch; a delete absent from the
    result had no effect (nothing to delete, or never applied)."""
    floor = _floors(ops)
    acked = {(op["k"], op["rev"]) for op in ops
             if op["op"] == "del" and op["st"] == "ok" and op["n"]}
    owners = {}  # (key, tombstone revision) -> ids of deletes that may have made it
    mine = {k for op in ops for k in (op["k"] if op["op"] == "mput" else [op["k"]])}
    for rev, typ, key, _, _, _ in ref.events:
        # keys of other workloads (leases: their tombstones are lease_checks' business)
        if key not in mine:
            continue
        if typ == "DELETE" and (key, rev) not in acked:
            owners[(key, rev)] = set()
    cands = {}
    for op in ops:
        if op["op"] == "del" and op["st"] != "ok":
            f = floor(op["t0"])
            cands[op["id"]] = {t for t in owners if t[0] == op["k"] and t[1] > f}
            for t in cands[op["id"]]:
                owners[t].add(op["id"])
    assigned, changed = {}, True
    while changed:
        changed = False
        for t in sorted(owners, key=lambda x: x[1]):
            if len(owners[t]) != 1 or t in assigned.values():
                continue
            d = next(iter(owners[t]))
            assigned[d] = t
            for other in cands[d] - {t}:
                owners[other].discard(d)
            cands[d] = {t}
            for od in list(owners):
                if od != t and d in owners[od]:
                    owners[od].discard(d)
            changed = True
    out = {}
    for d, c in cands.items():
        if d in assigned:
            out[d] = (1, assigned[d][1])
        elif c - set(assigned.values()):
            out[d] = None
    orphans = sorted(t for t, o in owners.items() if not o)
    return out, orphans


def check_linearizable(ops, ref, max_seconds_per_key=60.0):
    """(anomalies, inconclusive keys, search steps) of the per-key checks."""
    per_key, found = key_ops(ops, ref)
    by_id = {op["id"]: op for op in ops}
    undecided, steps = [], 0
    for key in sorted(per_key):
        res = lin.check(per_key[key], max_seconds=max_seconds_per_key)
        steps += res.steps
        if res.ok is None:
            undecided.append(key)
        elif not res.ok:
            st = res.stuck or {}
            involved = [st.get("blocked")] + list(st.get("candidates", []))
            found.append(anomaly(
                "linearizability", "key %r: no linearization; deepest point: %d operations "
                "placed, model state %r, the return of %r cannot be passed"
                % (key, st.get("linearized", 0), st.get("state"), st.get("blocked")),
                [by_id[k.ref] for k in involved if k is not None and k.ref in by_id]))
    return found, undecided, steps


def _write_rev(op):
    """The revision a completed linearizable operation observed or made, and
    whether it made a new one."""
    kind = op["op"]
    if kind in ("put", "mput"):
        return op["rev"], True
    if kind == "cas":
        return op["rev"], bool(op["ok"])
    if kind == "del":
        return op["rev"], op["n"] > 0
    return op["rev"], False


def check_revision_order(ops):
    """Across keys: an operation that starts after another returned sees a revision
    at least as new, and a write makes a strictly newer one; two writes never
    share a revision."""
    done = sorted((op for op in ops if op["st"] == "ok" and op["op"] != "sget"),
                  key=lambda o: o["t1"])
    found, j, best, seen = [], 0, (0, None), {}
    for op in sorted(done, key=lambda o: o["t0"]):
        while j < len(done) and done[j]["t1"] < op["t0"]:
            r, _ = _write_rev(done[j])
            if r > best[0]:
                best = (r, done[j])
            j += 1
        r, is_write = _write_rev(op)
        if r < best[0] or (is_write and r == best[0]):
            found.append(anomaly("revision-order", "%s saw revision %d after %s returned %d"
                                 % (op["id"], r, best[1]["id"], best[0]), [best[1], op]))
        if is_write:
            if r in seen:
                found.append(anomaly("revision-unique", "writes %s and %s both at revision %d"
                                     % (seen[r]["id"], op["id"], r), [seen[r], op]))
            seen[r] = op
    return found


def check_acknowledged(ops, ref):
    """Every acknowledged write is in the final history at its revision."""
    found = []
    for op in ops:
        if op["st"] != "ok" or op["op"] not in WRITES:
            continue
        if op["op"] == "cas" and not op["ok"]:
            continue
        if op["op"] == "del":
            if op["n"] and ref.kv_at(op["k"], op["rev"]) is not None:
                found.append(anomaly("lost-write", "acknowledged delete of %r at %d is not in "
                                     "the final history" % (op["k"], op["rev"]), [op]))
            continue
        for k, v in _keys_values(op):
            r = ref.put_at.get((k, v))
            if r != op["rev"]:
                found.append(anomaly("lost-write", "acknowledged put %r=%r at revision %d: final "
                                     "history has %s" % (k, v, op["rev"], r), [op]))
    return found


def check_serializable(ops, ref, restarts, replaced=None):
    """Serializable gets: the returned key equals the final history at the read's
    header revision; per session (client, member, connection) header revisions
    never go back; and a read is not behind a write the same member acknowledged
    before the read was sent (within one run of that member's process).
    restarts: {endpoint: [times the member was (re)started]}; replaced: {endpoint:
    [times a new member, its data dir empty, started there]} (the member fault): a
    connection that outlived the old member (gRPC reconnects on its own) is a new
    session."""
    found, last = [], {}

    def incarnation(ep, t):
        return bisect.bisect_right(sorted(restarts.get(ep, [])), t)

    def generation(ep, t):
        return bisect.bisect_right(sorted((replaced or {}).get(ep, [])), t)

    acked = {}  # (ep, incarnation) -> [(t1, rev, op)] by return time, then prefix maxima
    for op in ops:
        if op["st"] == "ok" and op["op"] in WRITES:
            key = (op["ep"], incarnation(op["ep"], op["t1"]))
            acked.setdefault(key, []).append((op["t1"], _write_rev(op)[0], op))
    prefix = {}
    for key, v in acked.items():
        v.sort(key=lambda x: x[0])
        best, mx = None, []
        for x in v:
            if best is None or x[1] > best[1]:
                best = x
            mx.append(best)
        prefix[key] = ([x[0] for x in v], mx)
    for op in sorted((o for o in ops if o["op"] == "sget" and o["st"] == "ok"),
                     key=lambda o: o["t0"]):
        kv = op["kv"]
        want = ref.kv_at(op["k"], op["rev"])
        got = tuple(kv[1:5]) if kv and kv[0] else None
        if (tuple(want) if want else None) != got:
            found.append(anomaly("serializable-read", "%s: %r at revision %d is %r, the final "
                                 "history has %r" % (op["id"], op["k"], op["rev"], got, want), [op]))
        sess = (op["c"], op["ep"], op["sess"], generation(op["ep"], op["t0"]))
        prev = last.get(sess)
        if prev and op["rev"] < prev["rev"]:
            found.append(anomaly("serializable-monotonic", "%s read revision %d after %s read %d "
                                 "on the same session" % (op["id"], op["rev"], prev["id"],
                                                          prev["rev"]), [prev, op]))
        last[sess] = op
        times, mx = prefix.get((op["ep"], incarnation(op["ep"], op["t0"])), ([], []))
        i = bisect.bisect_left(times, op["t0"])
        if i and mx[i - 1][1] > op["rev"]:
            _, rev, w = mx[i - 1]
            found.append(anomaly("serializable-behind", "%s read revision %d on %s, which had "
                                 "acknowledged %s at revision %d before"
                                 % (op["id"], op["rev"], op["ep"], w["id"], rev), [w, op]))
    return found
