"""Lease and compaction checks of a robustness history (see aux_clients.py).

Leases follow etcd's lessor (lease/lessor.go): the leader alone expires a lease,
when its expiry (renewal time + TTL) has passed, by proposing a revoke through
raft; a renewal (grant, keep-alive) happens at the leader after the request was
sent; a new leader extends every lease by the election timeout (Promote), from
its full TTL when no checkpoint says otherwise. So, per lease:

  earliest end   min(first revoke sent, newest acknowledged renewal's send time + TTL):
                 nothing may show the lease gone before it ("lease-early-end": a
                 tombstone of its key seen, TimeToLive -1, a keep-alive answered 0)
  gone by        the revoke's acknowledgement, else the newest renewal that may have
                 happened + TTL + election timeout + SLACK, moved past every leader
                 change or fault window that overlaps it (window end + TTL + election
                 timeout + SLACK): after it no linearizable read may see its key, no
                 TimeToLive may find it, no put may attach to it ("lease-after-end")

and: the keys of a lease go in one revision ("lease-revoke-atomic"); a lease past
"gone by" when the load stopped has no key in the final state ("lease-key-survives");
TimeToLive answers the granted TTL, a remaining TTL within TTL + election timeout,
and every key attached before it was asked ("lease-ttl").

Compaction (compactor's oget reads at a revision): a read below a compaction
acknowledged before it was sent fails; a read that succeeds equals the history
at its revision; "required revision has been compacted" only below a compaction
asked for before the answer ("compaction-read"). Its watches from an old revision
(owatch): canceled with a compact revision above the start that a compaction asked
for; not canceled below a compaction their member acknowledged; else their first
event is the history's first at or after the start; never hung to their deadline
while no fault ran ("compaction-watch").
"""

import bisect
import math

from checks import anomaly

SLACK = 1.5   # s: etcd's expiry scan runs every 500 ms, then the revoke goes through raft
EPS = 0.05    # s: clock reads around a call
COMPACTED = "required revision has been compacted"


class Lease:
    def __init__(self, lid):
        self.id, self.ttl, self.keys = lid, None, set()
        self.acked_keys = []          # (t1, key)
        self.renew_lo = None          # newest send time of an acknowledged renewal
        self.renew_hi = None          # latest time a renewal may have happened
        self.revoke_sent = math.inf
        self.revoke_acked = math.inf


def leases_of(lops, timeout):
    out = {}
    for op in lops:
        lid = op.get("lease")
        if lid is None:
            continue
        le = out.setdefault(lid, Lease(lid))
        ok, kind = op["st"] == "ok", op["op"]
        if kind == "lgrant" and ok:
            le.ttl = op["ttl"]
        if kind in ("lgrant", "lka"):
            if ok and op["ttl"] > 0:
                le.renew_lo = max(le.renew_lo or 0, op["t0"])
                le.renew_hi = max(le.renew_hi or 0, op["t1"])
            elif not ok:
                le.renew_hi = max(le.renew_hi or 0, op["t0"] + timeout)
        elif kind == "lput":
            le.keys.add(op["k"])
            if ok:
                le.acked_keys.append((op["t1"], op["k"]))
        elif kind == "lrevoke":
            le.revoke_sent = min(le.revoke_sent, op["t0"])
            if ok:
                le.revoke_acked = min(le.revoke_acked, op["t1"])
    return {k: v for k, v in out.items() if v.ttl is not None}


def leader_windows(lops, fault_windows):
    """[(start, end)]: a fault (start to recovery), or a raft term change seen in the
    lease client's answers (from the last answer of the old term to the first of the new)."""
    wins = list(fault_windows)
    last = None
    for op in sorted((o for o in lops if o["st"] == "ok" and o.get("term")), key=lambda o: o["t1"]):
        if last is not None and op["term"] > last["term"]:
            wins.append((last["t1"], op["t1"]))
        if last is None or op["term"] >= last["term"]:
            last = op
    return sorted(wins)


def gone_by(le, windows, election_s):
    if le.revoke_acked < math.inf:
        return le.revoke_acked
    base = le.renew_hi or 0.0
    t = base + le.ttl + election_s + SLACK
    changed = True
    while changed:
        changed = False
        for lo, hi in windows:
            if lo <= t and hi >= base and hi + le.ttl + election_s + SLACK > t:
                t, changed = hi + le.ttl + election_s + SLACK, True
    return t


def earliest_end(le):
    lo = le.renew_lo + le.ttl if le.renew_lo is not None else math.inf
    return min(lo, le.revoke_sent)


def seen_by(ops, watches):
    """seen(rev): the earliest time some answer showed a revision >= rev."""
    pts = [(op["rev"], op["t1"]) for op in ops if op["st"] == "ok" and op.get("rev")]
    for recs in watches:
        pts += [(max(e[3] for e in r["ev"]), r["time"]) for r in recs
                if r.get("t") == "resp" and r.get("time")]
    pts.sort(reverse=True)
    revs, best = [], []
    for rev, t in pts:  # descending revisions, running minimum of time
        revs.append(-rev)
        best.append(min(t, best[-1]) if best else t)

    def seen(rev):
        i = bisect.bisect_right(revs, -rev)
        return best[i - 1] if i else math.inf
    return seen


def check_leases(lops, all_ops, watches, ref, final_rev, fault_windows, election_s, timeout):
    """lops: the lease client's records; all_ops: every record with a header revision
    (clients, lease client, compactor); watches: the watchers' record lists;
    fault_windows: [(start, recovered)]."""
    found = []
    leases = leases_of(lops, timeout)
    windows = leader_windows(lops, fault_windows)
    seen = seen_by(all_ops, watches)
    ends = {lid: (earliest_end(le), gone_by(le, windows, election_s)) for lid, le in leases.items()}
    key_lease = {k: lid for lid, le in leases.items() for k in le.keys}
    load_end = max((op["t1"] for op in all_ops if op.get("t1")), default=0)
    for op in lops:
        le = leases.get(op.get("lease"))
        if le is None or op["st"] != "ok":
            continue
        early, gone = ends[le.id]
        kind, tag = op["op"], "%s %s lease %x" % (op["id"], op["op"], le.id)
        # TimeToLive's TTL is the remaining time truncated: 0 (even -1) for a lease expired
        # and not yet revoked; -1 also for one not found
        alive_seen = ((kind == "lget" and op["kv"][0]) or (kind == "lttl" and op["ttl"] >= 0)
                      or kind == "lput" or (kind == "lka" and op["ttl"] > 0))
        if alive_seen and op["t0"] > gone + EPS:
            found.append(anomaly("lease-after-end", "%s (sent %.3f) found the lease alive; it "
                                 "was gone by %.3f" % (tag, op["t0"], gone), [op]))
        gone_seen = (kind == "lttl" and op["ttl"] == -1) or (kind == "lka" and op["ttl"] <= 0)
        if gone_seen and op["t1"] < early - EPS:
            found.append(anomaly("lease-early-end", "%s (answered %.3f) found no lease; it "
                                 "cannot end before %.3f" % (tag, op["t1"], early), [op]))
        if kind == "lttl" and op["ttl"] > 0:
            want = {k for t1, k in le.acked_keys if t1 < op["t0"]}
            if (op["granted"] != le.ttl or op["ttl"] > le.ttl + math.ceil(election_s) + 1
                    or not want <= set(op["keys"]) or not set(op["keys"]) <= le.keys):
                found.append(anomaly("lease-ttl", "%s: TTL %d granted %d keys %s; granted %d, "
                                     "keys attached before %s" % (tag, op["ttl"], op["granted"],
                                     op["keys"], le.ttl, sorted(want)), [op]))
    tombs = {}
    for rev, typ, key, _, _, _ in ref.events:
        lid = key_lease.get(key)
        if lid is None or typ != "DELETE":
            continue
        tombs.setdefault(lid, set()).add(rev)
        early = ends[lid][0]
        if seen(rev) < early - EPS:
            found.append(anomaly("lease-early-end", "key %r of lease %x deleted at revision %d, "
                                 "seen by %.3f; the lease cannot end before %.3f"
                                 % (key, lid, rev, seen(rev), early)))
    for lid, revs in tombs.items():
        if len(revs) > 1:
            found.append(anomaly("lease-revoke-atomic", "keys of lease %x deleted at revisions "
                                 "%s" % (lid, sorted(revs))))
    for key, lid in key_lease.items():
        gone = ends[lid][1]
        if gone < load_end and ref.kv_at(key, final_rev) is not None:
            found.append(anomaly("lease-key-survives", "key %r of lease %x (gone by %.3f) is in "
                                 "the final state at revision %d" % (key, lid, gone, final_rev)))
    return found


def state_at(ref, rev):
    out = {}
    for key in ref.by_key:
        kv = ref.kv_at(key, rev)
        if kv is not None:
            out[key] = list(kv)
    return out


def _check_owatch(op, compacts, ref, replaced):
    """A watch from an old revision: canceled iff below the compaction (of its member:
    not one that replaced it at its endpoint since, which may not have caught up)."""
    at, bad = op["at"], None
    acked = max((c["rev"] for c in compacts if c["st"] == "ok" and c["t1"] < op["t0"]
                 and c["ep"] == op["ep"] and not any(
                     c["t1"] < t < op["t1"] for t in replaced.get(op["ep"], ()))),
                default=0)
    asked = max((c["rev"] for c in compacts if c["t0"] < op["t1"]), default=0)
    if op["canceled"]:
        if not at < op["crev"] <= asked:
            bad = "canceled with compact revision %d; compactions asked for up to %d" % (
                op["crev"], asked)
    elif at < acked:
        bad = "not canceled, though its member acknowledged compaction at %d" % acked
    elif op["first"] is not None:
        # etcd's compaction at C drops the tombstones at C, so a watch from C may
        # start after C's deletes (ketcd delivers them): both are accepted
        revs = sorted({e[0] for e in ref.events if e[0] >= at})
        wants = set(revs[:1])
        compacted_at = any(c["rev"] == at for c in compacts if c["t0"] < op["t1"])
        if revs and revs[0] == at and compacted_at and all(
                e[1] == "DELETE" for e in ref.events if e[0] == at):
            wants = set(revs[:2])
        if op["first"] not in wants:
            bad = "first event at %d, the history's first from there is at %s" % (
                op["first"], sorted(wants))
    if bad is None:
        return []
    return [anomaly("compaction-watch", "%s: watch from revision %d %s" % (op["id"], at, bad),
                    [op])]


def _hung_owatch(op, fault_windows):
    """A watch from an old revision that neither was canceled nor delivered an event
    before its deadline, with no fault running: the history has events after its
    start (the compactor samples old revisions), so a healthy member owes one."""
    if op["st"] != "err" or "DEADLINE_EXCEEDED" not in op.get("err", ""):
        return []
    end = op["t1"] if op.get("t1") is not None else op["t0"]
    if any(lo - FAULT_SLACK < end and op["t0"] < hi + FAULT_SLACK for lo, hi in fault_windows):
        return []
    return [anomaly("compaction-watch", "%s: watch from revision %d neither canceled nor "
                    "delivering before its deadline, no fault running" % (op["id"], op["at"]),
                    [op])]


FAULT_SLACK = 5.0  # s around a fault window: a restarted member may still be catching up


def check_compaction_reads(xops, ref, replaced=None, fault_windows=None):
    """xops: the compactor's records (compact, oget, owatch); replaced: {endpoint:
    [times a new member started there]} (the member fault); fault_windows: [(start,
    recovered)], None when unknown (then a watch that hung is not judged)."""
    found = []
    compacts = [op for op in xops if op["op"] == "compact"]
    for op in xops:
        if op["op"] == "owatch" and op["st"] == "ok":
            found += _check_owatch(op, compacts, ref, replaced or {})
        if op["op"] == "owatch" and fault_windows is not None:
            found += _hung_owatch(op, fault_windows)
        if op["op"] != "oget" or op["st"] == "sent":
            continue
        at = op["at"]
        acked = max((c["rev"] for c in compacts if c["st"] == "ok" and c["t1"] < op["t0"]),
                    default=0)
        asked = max((c["rev"] for c in compacts
                     if c["t0"] < (op["t1"] if op["t1"] is not None else math.inf)), default=0)
        if op["st"] == "ok":
            if at < acked:
                found.append(anomaly("compaction-read", "%s read revision %d after compaction "
                                     "at %d was acknowledged" % (op["id"], at, acked), [op]))
            want = state_at(ref, at)
            if op["kvs"] != want:
                found.append(anomaly("compaction-read", "%s at revision %d: %r, the history "
                                     "has %r" % (op["id"], at, op["kvs"], want), [op]))
        elif COMPACTED in op.get("err", "") and at >= asked:
            found.append(anomaly("compaction-read", "%s at revision %d answered %r; the newest "
                                 "compaction asked for was %d" % (op["id"], at, op["err"], asked),
                                 [op]))
    return found
