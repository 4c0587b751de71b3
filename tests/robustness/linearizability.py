"""Linearizability of one key's history against etcd's register-with-revisions model.

The checker is Wing & Gong's search with Lowe's memoisation, as Porcupine
does it: the history is a list of call and return entries ordered by time; a
depth-first search linearizes one pending operation at a time (an operation
whose call precedes the first remaining return), stepping the model, and
backtracks when a return is reached with its operation still pending. A
(linearized-set, model-state) pair already explored is never explored again.

P-compositionality: linearizability is local (Herlihy & Wing), so the history
of a key set is linearizable iff each key's projection is. The caller splits by
key (a two-key txn becomes one put on each key, same times, same revision) and
checks each key alone: exponentially cheaper. What a per-key view cannot see
(the global revision order across keys) is checked separately in checks.py.

Operations (KeyOp): call and ret are CLOCK_MONOTONIC seconds; ret None means
the outcome is unknown (a timeout, a lost connection): the operation may have
taken effect at any point after its call, or never. It then has no return
entry, and the search succeeds once every operation *with* a return is
linearized, so an unknown operation is either placed somewhere or dropped.

The model state of a key is a tuple
    (present, value, mod, create, version, last_mod)
with etcd's meanings: mod/create revisions and version of the live key
(0 when absent), last_mod the newest revision that changed the key (a put or a
delete). An unknown put whose revision nobody learnt has mod = None (a
wildcard) until a read binds it; last_mod is then a lower bound.
"""

import random
import time

ABSENT = (False, None, 0, 0, 0, 0)


class KeyOp:
    """One operation on one key.

    kind / inp / out:
      put   inp value           out revision (int), or None when unknown
      get   inp None            out (found, value, mod, create, version, header_rev)
      del   inp None            out (deleted_count, header_rev), or None when unknown
      cas   inp (expect_mod, v) out (succeeded, header_rev, kv) where kv is the
                                failure branch's read (found, value, mod, create,
                                version) or None; or None when unknown
    A put/cas with an unknown outcome but a revision learnt elsewhere (the final
    history) carries that revision and ret None.
    """

    __slots__ = ("call", "ret", "kind", "inp", "out", "ref")

    def __init__(self, call, ret, kind, inp, out, ref=None):
        self.call, self.ret, self.kind, self.inp, self.out, self.ref = call, ret, kind, inp, out, ref

    def __repr__(self):
        ret = "inf" if self.ret is None else "%.6f" % self.ret
        return "%s(%r)->%r [%.6f, %s] %s" % (self.kind, self.inp, self.out, self.call, ret,
                                            self.ref or "")


def _after_put(s, value, rev):
    present, _, _, create, version, last_mod = s
    if rev is not None:
        if last_mod is not None and rev <= last_mod:
            return None  # a key's revisions only grow
        return (True, value, rev, create if present else rev, version + 1 if present else 1, rev)
    return (True, value, None, create if present else None,
            version + 1 if present else 1, last_mod)


def _read_matches(s, kv, header_rev):
    """State after a read that returned kv = (found, value, mod, create, version) at
    header_rev, or None if the read is impossible in state s."""
    present, value, mod, create, version, last_mod = s
    if header_rev is not None and last_mod is not None and header_rev < last_mod:
        return None  # the read saw a store older than this key's last change
    found, v, m, c, ver = kv
    if not found:
        return s if not present else None
    if not present or v != value or ver != version:
        return None
    if (mod is not None and mod != m) or (create is not None and create != c):
        return None
    if header_rev is not None and m > header_rev:
        return None
    if mod is None or create is None:  # bind the wildcard
        return (True, value, m, c, version, m if last_mod is None else max(last_mod, m))
    return s


def step(s, op):
    """The states op can lead to from s (empty: op is impossible in s)."""
    k, out = op.kind, op.out
    if k == "get":
        n = _read_matches(s, out[:5], out[5])
        return [n] if n is not None else []
    if k == "put":
        n = _after_put(s, op.inp, out)
        return [n] if n is not None else []
    if k == "del":
        present, last_mod = s[0], s[5]
        if out is None:
            return [(False, None, 0, 0, 0, last_mod)] if present else [s]
        deleted, hdr = out
        if deleted:
            if not present or (last_mod is not None and hdr <= last_mod):
                return []
            return [(False, None, 0, 0, 0, hdr)]
        if present or (last_mod is not None and hdr < last_mod):
            return []
        return [s]
    if k == "cas":
        expect, value = op.inp
        cur = s[2] if s[0] else 0  # etcd compares a missing key's mod_revision as 0
        may_match = cur is None or cur == expect
        may_differ = cur is None or cur != expect
        if out is None:  # unknown, revision never learnt
            res = []
            if may_match:
                res.append(_after_put(s, value, None))
            if may_differ:
                res.append(s)
            return [x for x in res if x is not None]
        ok, hdr, kv = out
        if ok:
            if not may_match:
                return []
            if cur is None:  # bind the wildcard before the put replaces it
                s = (s[0], s[1], expect, s[3], s[4], s[5])
            n = _after_put(s, value, hdr)
            return [n] if n is not None else []
        if not may_differ:
            return []
        n = _read_matches(s, kv, hdr) if kv is not None else s
        return [n] if n is not None else []
    raise ValueError("unknown operation kind %r" % k)


class Result:
    """ok: True (linearizable), False (not), None (gave up: budget spent).
    On False, `stuck` names the operations around the deepest point the search
    reached: the return it could not pass and the pending calls it tried there,
    with the model state."""

    def __init__(self, ok, steps, stuck=None):
        self.ok, self.steps, self.stuck = ok, steps, stuck

    def __repr__(self):
        return "Result(ok=%r, steps=%d)" % (self.ok, self.steps)


def check(ops, init=ABSENT, max_seconds=60.0):
    """Wing-Gong-Lowe search over one key's operations. See the module comment."""
    n = len(ops)
    # entries: (time, 0 call / 1 return, op index); calls first at equal times
    ents = [(op.call, 0, i) for i, op in enumerate(ops)]
    ents += [(op.ret, 1, i) for i, op in enumerate(ops) if op.ret is not None]
    ents.sort()
    m = len(ents)
    # doubly linked list over entry positions; position m is the head sentinel
    nxt = [p + 1 for p in range(m)] + [0 if m else -1]
    if m:
        nxt[m - 1] = -1
    prv = [p - 1 for p in range(m)] + [-1]
    if m:
        prv[0] = m
    is_call = [e[1] == 0 for e in ents]
    opi = [e[2] for e in ents]
    ret_pos = [-1] * n
    call_pos = [-1] * n
    for p, e in enumerate(ents):
        (ret_pos if e[1] else call_pos)[e[2]] = p
    must = sum(1 for op in ops if op.ret is not None)

    def unlink(p):
        nxt[prv[p]] = nxt[p]
        if nxt[p] != -1:
            prv[nxt[p]] = prv[p]

    def relink(p):
        nxt[prv[p]] = p
        if nxt[p] != -1:
            prv[nxt[p]] = p

    # Zobrist keys from a fixed seed: a rerun of the check explores the same way
    rng = random.Random(n)
    zob = [rng.getrandbits(128) for _ in range(n)]
    state, lin, done = init, 0, 0
    cache = set()
    stack = []  # (call position, state before)
    steps = 0
    deadline = time.monotonic() + max_seconds
    best = (-1, None)
    head = m
    p = nxt[head]
    while done < must:
        steps += 1
        if steps & 0xFFF == 0 and time.monotonic() > deadline:
            return Result(None, steps)
        if p == -1:  # only unknown calls left before nothing: cannot happen with must > done
            return Result(False, steps, _stuck(ops, ents, nxt, head, state, len(stack)))
        i = opi[p]
        if is_call[p]:
            bit = zob[i]
            chosen = None
            for ns in step(state, ops[i]):
                if (lin ^ bit, ns) not in cache:
                    chosen = ns
                    break
            if chosen is not None:
                cache.add((lin ^ bit, chosen))
                stack.append((p, state))
                state, lin = chosen, lin ^ bit
                if ops[i].ret is not None:
                    done += 1
                    unlink(ret_pos[i])
                unlink(p)
                p = nxt[head]
                continue
            p = nxt[p]
            continue
        # a return whose operation is still pending: backtrack
        if len(stack) > best[0]:
            best = (len(stack), _stuck(ops, ents, nxt, head, state, len(stack)))
        if not stack:
            return Result(False, steps, best[1])
        cp, state = stack.pop()
        ci = opi[cp]
        lin ^= zob[ci]
        relink(cp)
        if ops[ci].ret is not None:
            done -= 1
            relink(ret_pos[ci])
        p = cp  # re-examine: its other outcomes (if any) are not cached yet
    return Result(True, steps)


def _stuck(ops, ents, nxt, head, state, depth):
    """The first remaining return and the calls before it, at this point of the search."""
    pending, p = [], nxt[head]
    while p != -1:
        _, is_ret, i = ents[p]
        if is_ret:
            return {"linearized": depth, "state": state, "blocked": ops[i],
                    "candidates": pending}
        pending.append(ops[i])
        p = nxt[p]
    return {"linearized": depth, "state": state, "blocked": None, "candidates": pending}
