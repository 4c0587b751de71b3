#!/usr/bin/python3
"""Three-member cluster scenarios: bootstrap, replication, leader crash, full crash,
partition (failpoint), WAL corruption.

Run with /usr/bin/python3 (Debian's, with python3-etcd3) and Debian's etcdctl:

    /usr/bin/python3 cluster_test.py --server /usr/bin/etcd --scenario all
    /usr/bin/python3 cluster_test.py --server BUILD/server/ketcd --scenario leader_kill

Every scenario starts a fresh 3-member cluster on 127.0.0.1 (free ports, one temp
dir, --heartbeat-interval 50 --election-timeout 500, static --initial-cluster) and
is bounded to --scenario-timeout seconds (100, plus at most ~20 s of clean-up: a
hang is a failure); members, load workers and pollers are stopped by PID (and die
with the driver: PDEATHSIG) and the temp dir is removed in all cases.
Self-test of the checks: --inject lost_ack|election_bound makes leader_kill /
kill_all fail on purpose.

Scenarios:
  bootstrap       one leader; `endpoint status --cluster` from every member lists
                  all three with the same leader and raft term; `member list`
                  shows the three members with their client URLs.
  readwrite       puts/deletes/txns through every member; linearizable reads
                  through every member see every acknowledged write (values and
                  mod revisions); serializable reads converge (bounded).
  leader_kill     write load over all members (python3-etcd3 worker processes);
                  kill -9 the leader: a new leader within 3 election timeouts,
                  writes continue; restart the old leader on its data dir; after
                  the load: identical serializable dumps (kvs and header revision)
                  on all members, every acknowledged write present.
  kill_all        kill -9 all three members under load, restart all three: no
                  acknowledged write lost, identical members.
  partition       (ketcd only: KETCD_TEST_FAILPOINTS=1, SIGUSR1 isolates a member
                  from its peers, SIGUSR2 heals) follower cut off: linearizable get
                  and put through it fail, serializable get answers, the majority
                  serves writes, leader and term unchanged, also after it rejoins
                  (pre-vote); then the leader cut off: a new leader, writes go on;
                  heal: one leader, converged members.
  wal_corruption  (ketcd only) a cleanly stopped follower: (a) torn tail of the last
                  WAL segment (truncated inside the last record, then the last
                  record's bytes zeroed) -> restarts, reports the torn tail, catches
                  up; (b) one byte flipped in an early record -> refuses to start
                  with an error naming the WAL; the other two keep serving.

Exit status: 0 pass, 1 failure, 2 harness error, 77 skipped (with --scenario all:
1 if any failed, else 2 if any harness error, else 77 if all skipped, else 0).
"""

import argparse
import base64
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))

import harness  # noqa: E402

HEARTBEAT_MS = 50
ELECTION_MS = 500
SCENARIOS = ["bootstrap", "readwrite", "leader_kill", "kill_all", "partition", "wal_corruption",
             "shutdown_pending", "snapshot_catchup", "watch_lease_failover"]
KETCD_ONLY = {"partition", "wal_corruption", "snapshot_catchup"}

INJECT = None  # --inject: deliberately wrong expectations, to prove the checks can fail

PASS, FAIL, ERROR, SKIP = "PASS", "FAIL", "ERROR", "SKIP"
EXIT = {PASS: 0, FAIL: 1, ERROR: 2, SKIP: 77}


class Failure(Exception):
    """The server misbehaved: exit 1."""


class Skip(Exception):
    """The scenario does not apply to this server: exit 77."""


class ScenarioTimeout(Exception):
    """The scenario ran past its bound (a hang counts as a failure)."""


def log(msg):
    print("[cluster] %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# --------------------------------------------------------------------------
# load worker process (python3-etcd3; its own process, never forked from the driver)
# --------------------------------------------------------------------------
def worker_main(args):
    import etcd3

    endpoints = args.endpoints.split(",")
    idx = args.worker_id % len(endpoints)
    rnd = random.Random("%s-%d" % (args.prefix, args.worker_id))
    t_end = time.monotonic() + args.max_seconds
    client = None
    n = 0
    with open(args.out, "a", buffering=1) as out:
        while time.monotonic() < t_end and not os.path.exists(args.stop_file):
            if client is None:
                host, port = endpoints[idx].rsplit(":", 1)
                client = etcd3.client(host=host, port=int(port), timeout=3)
            key = "%s/w%02d/%06d" % (args.prefix, args.worker_id, n)
            value = "v.%d.%d.%016x" % (args.worker_id, n, rnd.getrandbits(64))
            n += 1  # a key is attempted once, whatever the outcome
            # "attempt" before the request, "ack" after the response
            out.write(json.dumps({"t": "attempt", "k": key, "v": value,
                                  "ep": endpoints[idx]}) + "\n")
            try:
                resp = client.put(key, value)
            except Exception as e:  # grpc errors, etcd3's translated errors
                out.write(json.dumps({"t": "error", "k": key, "ep": endpoints[idx],
                                      "e": "%s: %s" % (type(e).__name__, str(e)[:200])}) + "\n")
                # try the next member (the current one may be dead or cut off)
                try:
                    client.close()
                except Exception:
                    pass
                client = None
                idx = (idx + 1) % len(endpoints)
                time.sleep(0.05)
                continue
            out.write(json.dumps({"t": "ack", "k": key, "v": value, "ep": endpoints[idx],
                                  "rev": resp.header.revision,
                                  "ts": time.time()}) + "\n")
            if args.pause > 0:
                time.sleep(args.pause)
    if client is not None:
        try:
            client.close()
        except Exception:
            pass
    return 0


def poller_main(args):
    """Poll Maintenance.Status of every endpoint (one thread and connection each) and
    log {"ep", "t0", "t1" (CLOCK_MONOTONIC before/after), "id", "leader", "term"}."""
    import etcd3
    from etcd3 import etcdrpc

    t_end = time.monotonic() + args.max_seconds
    lock = threading.Lock()
    out = open(args.out, "a", buffering=1)

    def poll(ep):
        host, port = ep.rsplit(":", 1)
        client = etcd3.client(host=host, port=int(port), timeout=0.5)
        while time.monotonic() < t_end and not os.path.exists(args.stop_file):
            t0 = time.monotonic()
            try:
                r = client.maintenancestub.Status(etcdrpc.StatusRequest(), 0.5)
                rec = {"ep": ep, "t0": t0, "t1": time.monotonic(), "id": r.header.member_id,
                       "leader": r.leader, "term": r.raftTerm}
            except Exception as e:  # noqa: BLE001
                rec = {"ep": ep, "t0": t0, "t1": time.monotonic(), "err": type(e).__name__}
                time.sleep(0.05)
            with lock:
                out.write(json.dumps(rec) + "\n")
            time.sleep(0.005)

    ts = [threading.Thread(target=poll, args=(ep,), daemon=True)
          for ep in args.endpoints.split(",")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.close()
    return 0


class Poller:
    """A process that polls Status of some members every few ms, to time elections."""

    def __init__(self, cluster, members, tag):
        self.members = members
        d = os.path.join(cluster.tmpdir, "poller-" + tag)
        os.makedirs(d, exist_ok=True)
        self.out = os.path.join(d, "status.jsonl")
        self.stop_file = os.path.join(d, "STOP")
        self.proc = subprocess.Popen(
            [harness.PYTHON, os.path.abspath(__file__), "--poller",
             "--endpoints", ",".join(m.endpoint for m in members), "--out", self.out,
             "--stop-file", self.stop_file, "--max-seconds", "60"],
            stdin=subprocess.DEVNULL, env=harness.clean_env({"PYTHONDONTWRITEBYTECODE": "1"}),
            preexec_fn=harness._die_with_parent)

    def records(self):
        recs = []
        try:
            with open(self.out) as f:
                for line in f:
                    if line.endswith("\n"):
                        recs.append(json.loads(line))
        except OSError:
            pass
        return recs

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            eps = {r["ep"] for r in self.records() if "leader" in r}
            if eps == {m.endpoint for m in self.members}:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise harness.HarnessError("status poller not answering within %ds: %s"
                                   % (timeout, self.records()[-5:]))

    def wait_new_leader(self, since, exclude_id, timeout, what):
        """First moment (CLOCK_MONOTONIC) after `since` at which every polled member had
        answered with the same new leader (!= 0, != exclude_id). Returns (leader id,
        term, t_first: receive time of the first answer naming a new leader,
        t_all: when all polled members agree)."""
        deadline = time.monotonic() + timeout
        eps = {m.endpoint for m in self.members}
        while True:
            # sweep the answers in receive order: the first moment at which the latest
            # answer of every member names the same new leader (the term is not compared:
            # etcd's Status may update leader and term one after the other)
            last = {}
            t_first = None  # first answer naming a new leader (a leader exists)
            for r in sorted(self.records(), key=lambda r: r["t1"]):
                if r["t0"] < since:
                    continue
                last[r["ep"]] = r
                if t_first is None and r.get("leader") not in (None, 0, exclude_id):
                    t_first = r["t1"]
                if set(last) != eps:
                    continue
                leaders = {x.get("leader") for x in last.values()}
                if len(leaders) == 1 and leaders.pop() not in (None, 0, exclude_id):
                    return (r["leader"], max(x["term"] for x in last.values()),
                            t_first, r["t1"])
            if time.monotonic() >= deadline:
                last = {}
                for r in self.records():
                    last[r["ep"]] = r
                raise Failure("%s: no new leader within %.0fs; last statuses: %s"
                              % (what, timeout, list(last.values())))
            time.sleep(0.05)

    def stop(self):
        try:
            with open(self.stop_file, "w") as f:
                f.write("stop\n")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Load:
    """W worker processes writing unique keys <prefix>/wNN/<n> over the members."""

    def __init__(self, cluster, prefix, workers, pause=0.0, max_seconds=100):
        self.cluster = cluster
        self.prefix = prefix
        self.dir = os.path.join(cluster.tmpdir, "load-" + prefix.replace("/", "_"))
        os.makedirs(self.dir, exist_ok=True)
        self.stop_file = os.path.join(self.dir, "STOP")
        self.outs = [os.path.join(self.dir, "worker%02d.jsonl" % i) for i in range(workers)]
        self.procs = []
        self.workers = workers
        self.pause = pause
        self.max_seconds = max_seconds

    def start(self):
        for i in range(self.workers):
            self.procs.append(subprocess.Popen(
                [harness.PYTHON, os.path.abspath(__file__), "--worker",
                 "--endpoints", self.cluster.endpoints, "--worker-id", str(i),
                 "--prefix", self.prefix, "--out", self.outs[i],
                 "--stop-file", self.stop_file, "--pause", str(self.pause),
                 "--max-seconds", str(self.max_seconds)],
                stdin=subprocess.DEVNULL, env=harness.clean_env({"PYTHONDONTWRITEBYTECODE": "1"}),
                preexec_fn=harness._die_with_parent))

    def acks(self):
        n = 0
        for p in self.outs:
            try:
                with open(p, "rb") as f:
                    n += f.read().count(b'"t": "ack"')
            except OSError:
                pass
        return n

    def wait_acks(self, target, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.acks() >= target:
                return
            if all(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.05)
        raise Failure("%s: only %d acknowledged writes (wanted %d within %.0fs)%s"
                      % (what, self.acks(), target, timeout, self.error_summary()))

    def error_summary(self, n=5):
        errs = []
        for p in self.outs:
            try:
                with open(p) as f:
                    for line in f:
                        if '"t": "error"' in line and line.endswith("\n"):
                            errs.append(json.loads(line))
            except OSError:
                pass
        if not errs:
            return ""
        return "\n  last worker errors:\n" + "\n".join(
            "    %s via %s: %s" % (e["k"], e["ep"], e["e"]) for e in errs[-n:])

    def stop(self, timeout=15):
        with open(self.stop_file, "w") as f:
            f.write("stop\n")
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass

    def records(self):
        attempts, acks, errors = {}, [], []
        for p in self.outs:
            try:
                f = open(p)
            except OSError:
                continue
            with f:
                for line in f:
                    if not line.endswith("\n"):
                        continue
                    r = json.loads(line)
                    if r["t"] == "attempt":
                        attempts[r["k"]] = r["v"]
                    elif r["t"] == "ack":
                        acks.append(r)
                    else:
                        errors.append(r)
        return attempts, acks, errors


def verify_acks(load, dump, prefix):
    """Every acknowledged put is in dump (value, create == mod == acked revision);
    every key under prefix was attempted with exactly that value."""
    attempts, acks, errors = load.records()
    if INJECT == "lost_ack" and acks:  # self-test: an acknowledged write that was never made
        acks.append(dict(acks[-1], k=acks[-1]["k"] + "-never-written", rev=acks[-1]["rev"] + 10**6))
        attempts[acks[-1]["k"]] = acks[-1]["v"]
    rev, kvs = dump
    present = {k: kv for k, kv in kvs.items() if k.startswith(prefix + "/")}
    problems, unacked, max_rev = harness.check_acks(attempts, acks, present, rev)
    log("verify: %d attempted, %d acknowledged, %d failed attempts, %d keys present "
        "(%d of them unacknowledged), max acked rev %d, store rev %d"
        % (len(attempts), len(acks), len(errors), len(present), unacked, max_rev, rev))
    if problems:
        raise Failure("%d violation(s):\n  %s%s" % (
            len(problems), "\n  ".join(problems[:30]),
            "\n  ... and %d more" % (len(problems) - 30) if len(problems) > 30 else ""))
    return len(acks)


# --------------------------------------------------------------------------
# etcdctl helpers
# --------------------------------------------------------------------------
class Ctl:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    def __repr__(self):
        return "rc=%s after %.2fs, stdout=%r, stderr=%r" % (
            self.rc, self.elapsed, self.out[-300:], self.err.strip()[-400:])


def ctl(endpoints, args, cmd_timeout="5s", timeout=20, stdin=None):
    if not isinstance(endpoints, str):
        endpoints = ",".join(m.endpoint for m in endpoints) if isinstance(endpoints, list) \
            else endpoints.endpoint
    argv = [harness.ETCDCTL, "--endpoints=" + endpoints, "--dial-timeout=2s",
            "--command-timeout=" + cmd_timeout] + list(args)
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, env=harness.etcdctl_env(), input=stdin,
                           stdin=None if stdin is not None else subprocess.DEVNULL,
                           capture_output=True, timeout=timeout,
                           preexec_fn=harness._die_with_parent)
    except subprocess.TimeoutExpired:
        return Ctl(None, "", "etcdctl did not return within %ss" % timeout,
                   time.monotonic() - t0)
    return Ctl(r.returncode, r.stdout.decode("utf-8", "replace"),
               r.stderr.decode("utf-8", "replace"), time.monotonic() - t0)


def ctl_ok(endpoints, args, what, **kw):
    r = ctl(endpoints, args, **kw)
    if r.rc != 0:
        raise Failure("%s: etcdctl %s failed: %r" % (what, " ".join(args), r))
    return r


def ctl_json(endpoints, args, what, **kw):
    r = ctl_ok(endpoints, list(args) + ["-w", "json"], what, **kw)
    try:
        return json.loads(r.out)
    except ValueError:
        raise Failure("%s: etcdctl %s: not JSON: %r" % (what, " ".join(args), r.out[:500]))


def status(member, cmd_timeout="2s"):
    """Maintenance.Status of one member, or None if it does not answer."""
    r = ctl(member, ["endpoint", "status", "-w", "json"], cmd_timeout=cmd_timeout, timeout=10)
    if r.rc != 0:
        return None
    try:
        st = json.loads(r.out)[0]["Status"]
        return {"id": st["header"]["member_id"], "leader": st.get("leader", 0),
                "term": st.get("raftTerm", 0), "index": st.get("raftIndex", 0),
                "revision": st["header"].get("revision", 0)}
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def statuses(members, cmd_timeout="2s"):
    """Status of several members, queried in parallel."""
    res = [None] * len(members)

    def one(i):
        res[i] = status(members[i], cmd_timeout)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(members))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return res


def member_ids(cluster):
    """name -> member id, from member list matched by peer URL (known from bootstrap;
    names and client URLs may appear only once a member has published them).
    Also sets m.id on each member."""
    ml = ctl_json(cluster.members, ["member", "list"], "member list")
    by_peer = {}
    for x in ml.get("members", []):
        for u in x.get("peerURLs") or []:
            by_peer[u] = x["ID"]
    ids = {}
    for m in cluster.members:
        if m.peer_url not in by_peer:
            raise Failure("member list has no member with peer URL %s (%s): %s"
                          % (m.peer_url, m.name, json.dumps(ml)))
        m.id = ids[m.name] = by_peer[m.peer_url]
    if len(set(ids.values())) != len(ids):
        raise Failure("member list: duplicate member ids: %s" % json.dumps(ml))
    return ids


def by_id(cluster, mid):
    for m in cluster.members:
        if getattr(m, "id", None) == mid:
            return m
    return None


def wait_leader(cluster, members, timeout, exclude_id=None, poll=0.02, what="leader"):
    """Bounded wait until every member in members answers Status with the same
    leader (non-zero, one of members, != exclude_id) and the same term.
    Returns (leader member, term, seconds waited)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    last = None
    while True:
        sts = statuses(members)
        last = sts
        if all(s is not None for s in sts):
            leaders = {s["leader"] for s in sts}
            terms = {s["term"] for s in sts}
            if len(leaders) == 1 and len(terms) == 1:
                lid = leaders.pop()
                lm = by_id(cluster, lid)
                if lid != 0 and lid != exclude_id and lm in members:
                    return lm, terms.pop(), time.monotonic() - t0
        if time.monotonic() >= deadline:
            break
        time.sleep(poll)
    raise Failure("%s: no agreed leader among %s within %.1fs; last statuses: %s"
                  % (what, [m.name for m in members], timeout, fmt_statuses(members, last)))


def fmt_statuses(members, sts):
    out = []
    for m, s in zip(members, sts):
        if s is None:
            out.append("%s: no answer" % m.name)
        else:
            lm = None
            for mm in members:
                if getattr(mm, "id", None) == s["leader"]:
                    lm = mm.name
            out.append("%s: leader=%x(%s) term=%d index=%d rev=%d" % (
                m.name, s["leader"], lm or "?", s["term"], s["index"], s["revision"]))
    return "; ".join(out)


def b64(s):
    return base64.b64decode(s).decode("utf-8", "replace") if s else ""


def dump(member, consistency="s", what="dump"):
    """All keys of one member: (header revision, {key: kv}). Serializable by default
    (the member's local state)."""
    j = ctl_json(member, ["get", "", "--from-key", "--consistency=" + consistency],
                 "%s via %s" % (what, member.name), cmd_timeout="10s", timeout=30)
    kvs = {}
    for kv in j.get("kvs", []) or []:
        k = b64(kv.get("key", ""))
        kvs[k] = {"value": b64(kv.get("value", "")),
                  "create_revision": kv.get("create_revision", 0),
                  "mod_revision": kv.get("mod_revision", 0),
                  "version": kv.get("version", 0), "lease": kv.get("lease", 0)}
    return j["header"].get("revision", 0), kvs


def diff_dumps(names, dumps):
    ref_name, (ref_rev, ref) = names[0], dumps[0]
    lines = []
    for name, (rev, kvs) in zip(names[1:], dumps[1:]):
        if rev != ref_rev:
            lines.append("header revision: %s=%d %s=%d" % (ref_name, ref_rev, name, rev))
        only_ref = sorted(set(ref) - set(kvs))
        only_other = sorted(set(kvs) - set(ref))
        changed = sorted(k for k in set(ref) & set(kvs) if ref[k] != kvs[k])
        if only_ref:
            lines.append("%d keys only on %s (not on %s), e.g. %s"
                         % (len(only_ref), ref_name, name, only_ref[:3]))
        if only_other:
            lines.append("%d keys only on %s (not on %s), e.g. %s"
                         % (len(only_other), name, ref_name, only_other[:3]))
        for k in changed[:3]:
            lines.append("%s differs: %s=%s %s=%s" % (k, ref_name, ref[k], name, kvs[k]))
        if len(changed) > 3:
            lines.append("... %d differing keys in all" % len(changed))
    return lines


def wait_converged(members, timeout, what="converge"):
    """Bounded wait until the serializable dumps of all members are identical
    (kvs and header revision). Returns (dump, seconds)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        dumps, errors = [], []
        for m in members:
            try:
                dumps.append(dump(m, "s", what))
            except Failure as e:
                errors.append(str(e))
        if not errors and all(d == dumps[0] for d in dumps[1:]):
            return dumps[0], time.monotonic() - t0
        if time.monotonic() >= deadline:
            detail = errors or diff_dumps([m.name for m in members], dumps)
            raise Failure("%s: members not identical after %.0fs:\n  %s"
                          % (what, timeout, "\n  ".join(detail)))
        time.sleep(0.2)


def check_one_leader(cluster, members, what):
    """Exactly one member considers itself leader, and all agree on it and on the term."""
    lm, term, _ = wait_leader(cluster, members, 10, what=what)
    sts = statuses(members)
    selfleaders = [m.name for m, s in zip(members, sts) if s and s["leader"] == s["id"]]
    if selfleaders != [lm.name]:
        raise Failure("%s: members claiming leadership: %s (agreed leader %s); %s"
                      % (what, selfleaders, lm.name, fmt_statuses(members, sts)))
    return lm, term


# --------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------
class Ctx:
    def __init__(self, args):
        self.args = args
        self.binary = args.server
        self.is_ketcd = "ketcd" in os.path.basename(args.server)
        self.clusters = []
        self.loads = []
        self.pollers = []

    def cluster(self, env_extra=None, extra_flags=()):
        flags = ["--heartbeat-interval", str(HEARTBEAT_MS),
                 "--election-timeout", str(ELECTION_MS)] + list(extra_flags)
        if self.args.snapshot_count:
            flags += ["--snapshot-count", str(self.args.snapshot_count)]
        c = harness.Cluster(self.binary, 3, extra_flags=flags, env_extra=env_extra)
        self.clusters.append(c)
        log("cluster: %s  (temp dir %s)" % (
            ", ".join("%s client %s peer %s" % (m.name, m.endpoint, m.peer_port)
                      for m in c.members), c.tmpdir))
        return c

    def start(self, cluster, timeout=30):
        t = time.monotonic()
        cluster.start(health_timeout=timeout)
        log("all members serve linearizable reads after %.2fs" % (time.monotonic() - t))
        member_ids(cluster)

    def poller(self, cluster, members, tag):
        p = Poller(cluster, members, tag)
        self.pollers.append(p)
        p.wait_ready()
        return p

    def load(self, cluster, prefix, workers=None, pause=0.0):
        ld = Load(cluster, prefix, workers or self.args.workers, pause)
        self.loads.append(ld)
        ld.start()
        return ld

    def cleanup(self):
        for ld in self.loads:
            try:
                ld.kill()
            except Exception as e:  # noqa: BLE001 - keep cleaning up
                log("cleanup: load: %s" % e)
        for p in self.pollers:
            try:
                p.stop()
            except Exception as e:  # noqa: BLE001
                log("cleanup: poller: %s" % e)
        for c in self.clusters:
            try:
                c.cleanup()
            except Exception as e:  # noqa: BLE001
                log("cleanup: cluster: %s" % e)
        self.clusters, self.loads, self.pollers = [], [], []

    def log_tails(self, n=25):
        return "\n".join(c.log_tails(n) for c in self.clusters)


def sc_bootstrap(ctx):
    c = ctx.cluster()
    ctx.start(c)
    lm, term = check_one_leader(c, c.members, "bootstrap")
    log("leader %s (%x), term %d" % (lm.name, lm.id, term))
    want_eps = sorted(m.client_url for m in c.members)
    # endpoint status --cluster needs the members' client URLs: bounded wait for them
    deadline = time.monotonic() + 15
    for m in c.members:
        while True:
            r = ctl(m, ["endpoint", "status", "--cluster", "-w", "json"])
            problem = None
            if r.rc != 0:
                problem = "etcdctl failed: %r" % r
            else:
                try:
                    j = json.loads(r.out)
                    eps = sorted(e["Endpoint"] for e in j)
                    leaders = {e["Status"]["leader"] for e in j}
                    terms = {e["Status"]["raftTerm"] for e in j}
                    ids = sorted(e["Status"]["header"]["member_id"] for e in j)
                    if eps != want_eps:
                        problem = "endpoints %s, want %s" % (eps, want_eps)
                    elif ids != sorted(mm.id for mm in c.members):
                        problem = "member ids %s, want %s" % (ids, sorted(mm.id for mm in c.members))
                    elif leaders != {lm.id}:
                        problem = "leaders %s, want {%d}" % (leaders, lm.id)
                    elif terms != {term}:
                        problem = "raft terms %s, want {%d}" % (terms, term)
                except (ValueError, KeyError, TypeError) as e:
                    problem = "bad JSON (%s): %r" % (e, r.out[:500])
            if problem is None:
                break
            if time.monotonic() >= deadline:
                raise Failure("endpoint status --cluster via %s: %s" % (m.name, problem))
            time.sleep(0.2)
        log("endpoint status --cluster via %s: 3 endpoints, leader %x, term %d"
            % (m.name, lm.id, term))
    r = ctl_ok(c.members[0], ["endpoint", "status", "--cluster", "-w", "table"], "status table")
    print(r.out, end="", flush=True)
    ml = ctl_json(c.members, ["member", "list"], "member list")
    got = sorted((x.get("name"), tuple(x.get("peerURLs") or []), tuple(x.get("clientURLs") or []),
                  x["ID"]) for x in ml.get("members", []))
    want = sorted((m.name, (m.peer_url,), (m.client_url,), m.id) for m in c.members)
    if got != want:
        raise Failure("member list: got %s, want %s" % (got, want))
    r = ctl_ok(c.members, ["member", "list", "-w", "table"], "member list table")
    print(r.out, end="", flush=True)
    r = ctl_ok(c.members[1], ["endpoint", "health", "--cluster"], "endpoint health")
    healthy = [ln for ln in (r.out + r.err).splitlines() if "is healthy" in ln]
    if len(healthy) != 3:
        raise Failure("endpoint health --cluster: %d healthy endpoints: %r" % (len(healthy), r))
    print(r.out + r.err, end="", flush=True)


def sc_readwrite(ctx):
    c = ctx.cluster()
    ctx.start(c)
    lm, term = check_one_leader(c, c.members, "readwrite")
    log("leader %s, term %d" % (lm.name, term))
    expect = {}  # key -> (value, mod_revision, version) or None (deleted)
    n_per_member = 15
    # unique keys through each member; read each back linearizably through another member
    for i, m in enumerate(c.members):
        other = c.members[(i + 1) % 3]
        for n in range(n_per_member):
            k, v = "rw/%s/%03d" % (m.name, n), "val-%s-%d-%d" % (m.name, n, random.getrandbits(32))
            rev = ctl_json(m, ["put", k, v], "put via %s" % m.name)["header"]["revision"]
            expect[k] = (v, rev, 1)
            g = ctl_json(other, ["get", k], "linearizable get via %s" % other.name)
            kvs = g.get("kvs") or []
            if len(kvs) != 1 or b64(kvs[0]["value"]) != v or kvs[0]["mod_revision"] != rev:
                raise Failure("read-after-write: put %s=%s via %s acked at rev %d, linearizable "
                              "get via %s returned %s" % (k, v, m.name, rev, other.name, g))
    # one key overwritten through every member in turn
    for rnd in range(3):
        for i, m in enumerate(c.members):
            v = "shared-%d-%s" % (rnd, m.name)
            rev = ctl_json(m, ["put", "rw/shared", v], "put via %s" % m.name)["header"]["revision"]
            ver = rnd * 3 + i + 1
            expect["rw/shared"] = (v, rev, ver)
    # deletes and a txn through followers and the leader
    for i, m in enumerate(c.members):
        k = "rw/%s/%03d" % (c.members[(i + 2) % 3].name, 0)
        j = ctl_json(m, ["del", k], "delete via %s" % m.name)
        if j.get("deleted", 0) != 1:
            raise Failure("delete %s via %s: %s" % (k, m.name, j))
        expect[k] = None
    txn_m = c.members[(c.members.index(lm) + 1) % 3]
    stdin = b'value("rw/shared") = "shared-2-%s"\n\nput rw/txn yes\n\nput rw/txn no\n\n' % (
        c.members[2].name.encode())
    r = ctl_ok(txn_m, ["txn", "-w", "json"], "txn via %s" % txn_m.name, stdin=stdin)
    j = json.loads(r.out)
    if not j.get("succeeded"):
        raise Failure("txn via %s: compare should succeed: %s" % (txn_m.name, r.out))
    expect["rw/txn"] = ("yes", j["header"]["revision"], 1)
    final_rev = j["header"]["revision"]
    log("%d puts, 3 deletes, 1 txn through all members; last revision %d"
        % (n_per_member * 3 + 9, final_rev))

    def mismatches(d):
        rev, kvs = d
        bad = []
        for k, e in sorted(expect.items()):
            kv = kvs.get(k)
            if e is None:
                if kv is not None:
                    bad.append("%s deleted but present: %s" % (k, kv))
            elif kv is None:
                bad.append("%s missing (want %s)" % (k, e))
            elif (kv["value"], kv["mod_revision"], kv["version"]) != e:
                bad.append("%s: got (value, mod_revision, version) = %s, want %s"
                           % (k, (kv["value"], kv["mod_revision"], kv["version"]), e))
        extra = sorted(set(kvs) - set(expect))
        if extra:
            bad.append("unexpected keys %s" % extra[:5])
        if rev != final_rev:
            bad.append("header revision %d, want %d" % (rev, final_rev))
        return bad

    # linearizable: immediately exact, through every member
    for m in c.members:
        bad = mismatches(dump(m, "l", "linearizable get"))
        if bad:
            raise Failure("linearizable read via %s misses acknowledged writes:\n  %s"
                          % (m.name, "\n  ".join(bad[:20])))
    log("linearizable reads through all 3 members see every acknowledged write")
    # serializable: converge within a bound
    t0 = time.monotonic()
    for m in c.members:
        while True:
            bad = mismatches(dump(m, "s", "serializable get"))
            if not bad:
                break
            if time.monotonic() - t0 > 10:
                raise Failure("serializable read via %s not converged after 10s:\n  %s"
                              % (m.name, "\n  ".join(bad[:20])))
            time.sleep(0.1)
    log("serializable reads converged on all members after %.2fs" % (time.monotonic() - t0))


def check_hashkv(members, what):
    """Maintenance.HashKV at one revision is equal on every member."""
    rev = None
    hashes = {}
    for m in members:
        j = ctl_json(m, ["endpoint", "status", "-w", "json"], "status via %s" % m.name)
        r = j[0]["Status"]["header"]["revision"] if isinstance(j, list) else j["header"]["revision"]
        rev = r if rev is None else min(rev, r)
    for m in members:
        j = ctl_json(m, ["endpoint", "hashkv", "--rev", str(rev), "-w", "json"], "hashkv via %s" % m.name)
        h = j[0]["HashKV"] if isinstance(j, list) else j
        hashes[m.name] = (h["hash"], h.get("compact_revision", 0))
    if len(set(hashes.values())) != 1:
        raise Failure("%s: HashKV at revision %d differs: %s" % (what, rev, hashes))
    log("%s: HashKV at revision %d equal on all members: %s" % (what, rev, list(hashes.values())[0][0]))


def sc_leader_kill(ctx):
    c = ctx.cluster()
    ctx.start(c)
    old, term, _ = wait_leader(c, c.members, 10)
    log("leader %s (%x), term %d" % (old.name, old.id, term))
    ld = ctx.load(c, "lk")
    ld.wait_acks(300, 30, "load before the kill")
    survivors = [m for m in c.members if m is not old]
    poller = ctx.poller(c, survivors, "leader-kill")
    before = ld.acks()
    t_kill = time.monotonic()
    old.kill9()
    log("SIGKILL leader %s (pid %d) after %d acknowledged writes" % (old.name, old.proc.pid, before))
    lid, _, t_first, t_all = poller.wait_new_leader(t_kill, old.id, 10,
                                                    "after killing the leader")
    poller.stop()
    elect = t_first - t_kill
    new, new_term, _ = wait_leader(c, survivors, 10, exclude_id=old.id,
                                   what="after killing the leader")
    if new.id != lid:
        raise Failure("the survivors first agreed on leader %x, then on %s" % (lid, new.name))
    bound = 3 * ELECTION_MS / 1000.0
    if INJECT == "election_bound":  # self-test: an impossible bound
        bound = 0.001
    log("new leader %s, term %d: elected %.3fs after the kill (first survivor reporting it; "
        "bound: 3 election timeouts = %.1fs), both survivors agree after %.3fs"
        % (new.name, new_term, elect, bound, t_all - t_kill))
    if new_term <= term:
        raise Failure("new leader's term %d is not above the old term %d" % (new_term, term))
    if elect > bound:
        raise Failure("new leader only after %.3fs > %.1fs (3 election timeouts)" % (elect, bound))
    ld.wait_acks(ld.acks() + 100, 20, "writes after the leader kill")
    log("writes continue: %d acknowledged after the kill" % (ld.acks() - before))
    t = time.monotonic()
    old.start(health_timeout=30)
    log("old leader %s restarted on its data dir, serves linearizable reads after %.2fs"
        % (old.name, time.monotonic() - t))
    time.sleep(2.0)  # keep the load running while it catches up
    ld.stop()
    total = ld.acks()
    log("load stopped: %d acknowledged writes (%d after the kill)" % (total, total - before))
    if total - before <= 0:
        raise Failure("no acknowledged write after the kill")
    d, secs = wait_converged(c.members, 30, "after restart of the old leader")
    log("all 3 members identical after %.2fs: %d keys, revision %d" % (secs, len(d[1]), d[0]))
    verify_acks(ld, d, "lk")
    check_hashkv(c.members, "after restart of the old leader")
    check_one_leader(c, c.members, "end of leader_kill")


def sc_kill_all(ctx):
    c = ctx.cluster()
    ctx.start(c)
    wait_leader(c, c.members, 10)
    ld = ctx.load(c, "ka")
    ld.wait_acks(500, 30, "load before the kill")
    for m in c.members:
        m.kill9()
    log("SIGKILL all 3 members after %d acknowledged writes" % ld.acks())
    ld.stop()
    t = time.monotonic()
    c.start(health_timeout=30)
    log("all 3 restarted on their data dirs, serve linearizable reads after %.2fs"
        % (time.monotonic() - t))
    lm, term = check_one_leader(c, c.members, "after the restart")
    log("leader %s, term %d" % (lm.name, term))
    for m in c.members:  # and the restarted cluster takes writes through every member
        ctl_ok(m, ["put", "ka-after/" + m.name, "x"], "put after restart via %s" % m.name)
    d, secs = wait_converged(c.members, 30, "after restart of all members")
    log("all 3 members identical after %.2fs: %d keys, revision %d" % (secs, len(d[1]), d[0]))
    verify_acks(ld, d, "ka")
    check_hashkv(c.members, "after restart of all members")


def require_failpoints(ctx):
    if not ctx.is_ketcd and not ctx.args.force:
        raise Skip("needs ketcd's test failpoints (KETCD_TEST_FAILPOINTS=1, SIGUSR1/SIGUSR2); "
                   "server %s is not ketcd" % ctx.binary)


def sc_partition(ctx):
    require_failpoints(ctx)
    c = ctx.cluster(env_extra={"KETCD_TEST_FAILPOINTS": "1"})
    ctx.start(c)
    lm, term = check_one_leader(c, c.members, "before the partition")
    time.sleep(1.0)  # a steady leader
    lm2, term2, _ = wait_leader(c, c.members, 5)
    if (lm2, term2) != (lm, term):
        raise Failure("leader not steady: %s term %d, then %s term %d" % (lm.name, term, lm2.name, term2))
    fol = [m for m in c.members if m is not lm]
    f, o = fol[0], fol[1]
    ctl_ok(lm, ["put", "p/before", "1"], "put before the partition")
    wait_converged(c.members, 10, "before the partition")
    log("leader %s, term %d; isolating follower %s (SIGUSR1)" % (lm.name, term, f.name))
    f.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    # linearizable get and put through the isolated follower fail within a bound
    for what, args in (("linearizable get", ["get", "p/before"]),
                       ("put", ["put", "p/isolated", "x"])):
        r = ctl(f, args, cmd_timeout="3s", timeout=15)
        if r.rc == 0:
            raise Failure("%s through isolated follower %s succeeded: %r" % (what, f.name, r))
        if r.rc is None:
            raise Failure("%s through isolated follower %s: no answer within 15s (etcdctl "
                          "--command-timeout=3s)" % (what, f.name))
        log("%s through isolated %s fails after %.2fs: %s"
            % (what, f.name, r.elapsed, (r.err.strip().splitlines() or ["?"])[-1][:200]))
    r = ctl(f, ["get", "p/before", "--consistency=s", "--print-value-only"], cmd_timeout="3s")
    if r.rc != 0 or r.out.strip() != "1":
        raise Failure("serializable get through isolated follower %s: %r" % (f.name, r))
    log("serializable get through isolated %s answers" % f.name)
    for i in range(10):  # the majority keeps serving writes
        for m in (lm, o):
            ctl_ok(m, ["put", "p/maj/%s/%d" % (m.name, i), "v%d" % i],
                   "put via %s during the partition" % m.name, cmd_timeout="3s")
    time.sleep(3.0)  # 6 election timeouts: the isolated member would campaign without pre-vote
    lm2, term2, _ = wait_leader(c, [lm, o], 5, what="majority during the partition")
    if (lm2, term2) != (lm, term):
        raise Failure("majority: leader %s term %d changed to %s term %d during the follower's "
                      "partition" % (lm.name, term, lm2.name, term2))
    log("majority served 20 puts; leader %s term %d unchanged" % (lm.name, term))
    st = status(f)  # Status is local: answers while cut off
    if st is not None:
        log("isolated %s reports term %d, leader %x (with pre-vote its term stays %d)"
            % (f.name, st["term"], st["leader"], term))
    if not f.alive():
        raise Failure("isolated member %s exited (%s)" % (f.name, f.proc.returncode))
    f.send_signal(signal.SIGUSR2)
    log("healed %s (SIGUSR2)" % f.name)
    d, secs = wait_converged(c.members, 20, "after the follower rejoined")
    log("members identical %.2fs after the heal (%d keys, revision %d)" % (secs, len(d[1]), d[0]))
    if "p/isolated" in d[1]:
        log("note: the put through the isolated follower was applied after the heal "
            "(allowed: the client got an error, the outcome is unknown)")
    time.sleep(1.0)
    lm2, term2, _ = wait_leader(c, c.members, 5, what="after the follower rejoined")
    if (lm2, term2) != (lm, term):
        raise Failure("the rejoining follower disrupted the leader: was %s term %d, now %s term %d "
                      "(pre-vote should prevent it)" % (lm.name, term, lm2.name, term2))
    log("after the rejoin: leader %s term %d unchanged" % (lm.name, term))
    ctl_ok(f, ["put", "p/after-rejoin", "ok"], "put via the rejoined follower")

    # now isolate the leader
    old = lm
    others = [m for m in c.members if m is not old]
    poller = ctx.poller(c, others, "leader-isolated")
    t0 = time.monotonic()
    old.send_signal(signal.SIGUSR1)
    log("isolating the leader %s (SIGUSR1)" % old.name)
    lid, _, t_first, t_all = poller.wait_new_leader(t0, old.id, 10,
                                                    "after isolating the leader")
    poller.stop()
    new, new_term, _ = wait_leader(c, others, 10, exclude_id=old.id,
                                   what="after isolating the leader")
    log("new leader %s term %d, elected %.3fs after isolating the leader, both others "
        "agree after %.3fs" % (new.name, new_term, t_first - t0, t_all - t0))
    if new_term <= term:
        raise Failure("new term %d not above %d" % (new_term, term))
    for i in range(5):
        for m in others:
            ctl_ok(m, ["put", "p/maj2/%s/%d" % (m.name, i), "w%d" % i],
                   "put via %s with the old leader isolated" % m.name, cmd_timeout="3s")
    log("the new majority served 10 puts")
    st = status(old)
    if st is not None:
        log("isolated old leader %s reports term %d, leader %x (%s)"
            % (old.name, st["term"], st["leader"],
               "still claims leadership: no check-quorum step-down" if st["leader"] == old.id
               else "stepped down"))
    r = ctl(old, ["put", "p/old-leader", "x"], cmd_timeout="3s", timeout=15)
    if r.rc == 0:
        raise Failure("put through the isolated old leader %s succeeded: %r" % (old.name, r))
    log("put through the isolated old leader fails after %.2fs" % r.elapsed)
    old.send_signal(signal.SIGUSR2)
    log("healed %s (SIGUSR2)" % old.name)
    d, secs = wait_converged(c.members, 20, "after the old leader rejoined")
    lm3, term3 = check_one_leader(c, c.members, "after the old leader rejoined")
    log("one leader %s term %d; members identical %.2fs after the heal (%d keys, revision %d)"
        % (lm3.name, term3, secs, len(d[1]), d[0]))
    for k in ["p/before", "p/after-rejoin"] + ["p/maj/%s/%d" % (m.name, i) for m in (lm, o)
                                                for i in range(10)] + \
             ["p/maj2/%s/%d" % (m.name, i) for m in others for i in range(5)]:
        if k not in d[1]:
            raise Failure("acknowledged put %s missing after the heal" % k)


def wal_segments(member):
    wdir = os.path.join(member.data_dir, "member", "wal")
    try:
        names = sorted(n for n in os.listdir(wdir) if n.endswith(".wal"))
    except OSError as e:
        raise Failure("no WAL dir %s: %s" % (wdir, e))
    if not names:
        raise Failure("no *.wal segment in %s: %s" % (wdir, os.listdir(wdir)))
    return [os.path.join(wdir, n) for n in names]


def data_end(path):
    """Offset just past the last non-zero byte (segments are pre-allocated with zeros)."""
    with open(path, "rb") as f:
        data = f.read()
    return len(data.rstrip(b"\0")), len(data)


def wait_exit(member, timeout):
    try:
        member.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    member._close_log()
    return member.proc.returncode


def read_log(member):
    try:
        with open(member.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (OSError, TypeError):
        return ""


TORN_RE = re.compile(r"torn|truncat|repair|partial|incomplete|unexpected.?eof|tail", re.I)


def sc_wal_corruption(ctx):
    if not ctx.is_ketcd and not ctx.args.force:
        raise Skip("WAL layout/messages are ketcd's (<data-dir>/member/wal/*.wal); "
                   "server %s is not ketcd" % ctx.binary)
    c = ctx.cluster()
    ctx.start(c)
    lm, term, _ = wait_leader(c, c.members, 10)
    f = [m for m in c.members if m is not lm][0]
    others = [m for m in c.members if m is not f]
    log("leader %s; the follower %s gets its WAL damaged" % (lm.name, f.name))
    # enough records that offset 200 of the first segment is far from the tail;
    # etcdctl has no batch put: one txn (no compares) per 50 keys keeps it quick
    for b in range(4):
        ops = "".join("put wal/pre/%03d value-%03d-%s\n" % (i, i, "x" * 40)
                      for i in range(b * 50, b * 50 + 50))
        j = json.loads(ctl_ok(lm, ["txn", "-w", "json"], "txn put",
                              stdin=("\n" + ops + "\n\n").encode()).out)
        if not j.get("succeeded") or len(j.get("responses", [])) != 50:
            raise Failure("txn of 50 puts: %s" % str(j)[:300])
    for i in range(20):
        ctl_ok(c.members[i % 3], ["put", "wal/single/%02d" % i, "s%d" % i], "put")
    wait_converged(c.members, 10, "before stopping the follower")
    failures = []
    backup = os.path.join(c.tmpdir, "wal-backup")

    def stop_and_backup(m, what):
        rc = m.stop(term_timeout=10)
        log("%s: stopped follower %s cleanly (SIGTERM), exit %s" % (what, m.name, rc))
        wdir = os.path.join(m.data_dir, "member", "wal")
        if os.path.isdir(backup):
            shutil.rmtree(backup)
        shutil.copytree(wdir, backup)

    def restore_and_restart(m, what):
        """Put the undamaged WAL back, restart, catch up (after a refusal or a failure)."""
        wdir = os.path.join(m.data_dir, "member", "wal")
        if m.alive():
            m.stop()
        shutil.rmtree(wdir)
        shutil.copytree(backup, wdir)
        try:
            m.start(health_timeout=30)
            wait_converged(c.members, 20, "%s: after restoring the WAL" % what)
            log("%s: restored the undamaged WAL of %s; it restarted and caught up"
                % (what, m.name))
        except (harness.HarnessError, Failure) as e:
            raise Failure("%s; and %s did not restart on its restored WAL either: %s"
                          % ("; ".join(failures), m.name, e))

    def restart_and_catch_up(m, what, expect_keys):
        m.spawn()
        try:
            m.wait_healthy(30)
        except harness.HarnessError as e:
            failures.append("%s: %s did not restart: %s" % (what, m.name, str(e).splitlines()[0]))
            log("FAIL %s: %s did not restart:\n%s" % (what, m.name, m.log_tail(15)))
            restore_and_restart(m, what)
            return
        txt = read_log(m)
        torn = [ln for ln in txt.splitlines() if TORN_RE.search(ln) and re.search("wal", ln, re.I)]
        d, secs = wait_converged(c.members, 20, "%s: catch up" % what)
        missing = [k for k in expect_keys if k not in d[1]]
        if missing:
            raise Failure("%s: keys missing after catch-up: %s" % (what, missing[:5]))
        log("%s: %s restarted and caught up in %.2fs (%d keys, revision %d)"
            % (what, m.name, secs, len(d[1]), d[0]))
        if not torn:
            failures.append("%s: %s restarted but its log does not report the torn WAL tail "
                            "(no line matching %s and 'wal')" % (what, m.name, TORN_RE.pattern))
            log("FAIL %s\n%s" % (failures[-1], m.log_tail(15)))
        else:
            log("%s: log reports: %s" % (what, torn[0].strip()[:300]))

    def expect_refusal(m, what, must_match):
        """m must refuse to start (exit != 0 within 20s) with a log line matching must_match."""
        t = time.monotonic()
        m.spawn()
        rc = wait_exit(m, 20)
        if rc is None:
            failures.append("%s: %s still running 20s after start on a damaged WAL" % (what, m.name))
            log("FAIL %s\n%s" % (failures[-1], m.log_tail(15)))
            m.stop()
            return
        txt = read_log(m)
        named = [ln for ln in txt.splitlines() if re.search(must_match, ln, re.I)]
        log("%s: %s exited with %d after %.2fs" % (what, m.name, rc, time.monotonic() - t))
        if rc == 0:
            failures.append("%s: %s exited with status 0 on a damaged WAL" % (what, m.name))
            log("FAIL %s\n%s" % (failures[-1], m.log_tail(15)))
        elif not named:
            failures.append("%s: %s refused to start, but no log line matches %r"
                            % (what, m.name, must_match))
            log("FAIL %s\n%s" % (failures[-1], m.log_tail(15)))
        else:
            log("%s: error: %s" % (what, named[-1].strip()[:300]))

    def writes_while_down(tag):
        keys = ["wal/%s/%02d" % (tag, i) for i in range(10)]
        for i, k in enumerate(keys):
            ctl_ok(others[i % 2], ["put", k, "%s-%d" % (tag, i)], "put while %s is down" % f.name)
        return keys

    def last_segment(m):
        last = wal_segments(m)[-1]
        end, size = data_end(last)
        if end < 16:
            raise Failure("last WAL segment %s has no data (size %d)" % (last, size))
        return last, end, size

    # (a0) a torn NEW batch: stray non-zero bytes after the last complete batch of the
    # last segment (its write was cut by a crash: never acknowledged, never applied)
    what = "(a0) torn new batch"
    stop_and_backup(f, what)
    last, end, size = last_segment(f)
    at = (end + 7) // 8 * 8
    with open(last, "r+b") as fh:
        fh.seek(at)
        fh.write(bytes(random.Random(7).getrandbits(8) | 1 for _ in range(40)))
    log("%s: wrote 40 stray bytes at offset %d of %s (data ended at %d)"
        % (what, at, os.path.basename(last), end))
    restart_and_catch_up(f, what, writes_while_down("a0"))

    # (a1) the last segment truncated inside its last (synced, applied) record
    what = "(a1) truncated last record"
    stop_and_backup(f, what)
    last, end, size = last_segment(f)
    os.truncate(last, end - 5)
    log("%s: truncated %s from %d bytes (data ends at %d) to %d"
        % (what, os.path.basename(last), size, end, end - 5))
    # The cut removes a batch that was synced, acknowledged to the leader and
    # applied: a crash cannot do that (only a disk that lies, or a hand).
    # The member must refuse to rejoin, not pretend: its peers count on it.
    expect_refusal(f, what, r"lost entries")
    restore_and_restart(f, what)

    # (a2) the last bytes of the last record zeroed (pre-allocated file, torn write)
    what = "(a2) zeroed end of the last record"
    stop_and_backup(f, what)
    last, end, size = last_segment(f)
    with open(last, "r+b") as fh:
        fh.seek(end - 6)
        fh.write(b"\0" * 6)
    log("%s: zeroed bytes %d..%d of %s (data ended at %d, file size %d)"
        % (what, end - 6, end, os.path.basename(last), end, size))
    expect_refusal(f, what, r"lost entries")
    restore_and_restart(f, what)

    # (b) one byte flipped in an early record of the first segment: refuse to start
    what = "(b) flipped byte in an early record"
    stop_and_backup(f, what)
    first = wal_segments(f)[0]
    end, size = data_end(first)
    off = 200
    if end < off + 1024:
        raise Failure("first WAL segment %s holds only %d bytes of data; cannot corrupt offset "
                      "%d far from the tail" % (first, end, off))
    with open(first, "r+b") as fh:
        fh.seek(off)
        b = fh.read(1)
        fh.seek(off)
        fh.write(bytes([b[0] ^ 0xFF]))
    log("%s: flipped byte %d of %s (0x%02x -> 0x%02x; data ends at %d)"
        % (what, off, os.path.basename(first), b[0], b[0] ^ 0xFF, end))
    t = time.monotonic()
    f.spawn()
    rc = wait_exit(f, 20)
    fname = os.path.basename(first)
    if rc is None:
        reads = ctl(f, ["get", "wal/pre/000", "--consistency=s"], cmd_timeout="2s")
        failures.append("%s: %s still running 20s after start on a corrupted WAL "
                        "(serializable get: %r)" % (what, f.name, reads))
        log("FAIL %s\n%s" % (failures[-1], f.log_tail(15)))
    else:
        txt = read_log(f)
        named = [ln for ln in txt.splitlines() if re.search(r"wal", ln, re.I) or fname in ln]
        log("%s: %s exited with %d after %.2fs" % (what, f.name, rc, time.monotonic() - t))
        if rc == 0:
            failures.append("%s: %s exited with status 0 on a corrupted WAL" % (what, f.name))
            log("FAIL %s\n%s" % (failures[-1], f.log_tail(15)))
        elif not named:
            failures.append("%s: %s refused to start, but no log line names the WAL (\"wal\" "
                            "or %s)" % (what, f.name, fname))
            log("FAIL %s\n%s" % (failures[-1], f.log_tail(15)))
        else:
            log("%s: error: %s" % (what, named[-1].strip()[:300]))
    for m in others:
        ctl_ok(m, ["put", "wal/b/%s" % m.name, "b"], "put via %s with %s down" % (m.name, f.name))
    for m in others:
        j = ctl_json(m, ["get", "wal/b/", "--prefix", "--keys-only"], "get via %s" % m.name)
        if j.get("count") != 2:
            raise Failure("%s: linearizable get via %s: expected 2 keys under wal/b/: %s"
                          % (what, m.name, j))
    log("%s: the other two members keep serving reads and writes" % what)
    if f.alive():
        f.stop()
    if failures:
        raise Failure("%d of 4 WAL sub-cases failed:\n  %s" % (len(failures), "\n  ".join(failures)))


def sc_shutdown_pending(ctx):
    """SIGTERM of a member with requests it cannot finish (it is cut off from
    its peers) still exits promptly and cleanly, answering them with an error.
    Regression: gRPC's Shutdown waited forever for a read that raft never
    answered."""
    require_failpoints(ctx)
    c = ctx.cluster(env_extra={"KETCD_TEST_FAILPOINTS": "1"})
    ctx.start(c)
    lm, term = check_one_leader(c, c.members, "before the partition")
    f = [m for m in c.members if m is not lm][0]
    f.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    env = harness.etcdctl_env()
    pending = []
    for args in (["get", "s/x"], ["put", "s/y", "1"]):
        pending.append(subprocess.Popen(
            [harness.ETCDCTL, "--endpoints=" + f.endpoint, "--command-timeout=30s"] + args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL,
            preexec_fn=harness._die_with_parent))
    time.sleep(0.5)
    t = time.monotonic()
    f.send_signal(signal.SIGTERM)
    rc = wait_exit(f, 10)
    took = time.monotonic() - t
    for p in pending:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    if rc is None:
        raise Failure("%s did not exit within 10s of SIGTERM with requests pending\n%s"
                      % (f.name, f.log_tail(15)))
    if rc != 0:
        raise Failure("%s exited with %d on SIGTERM\n%s" % (f.name, rc, f.log_tail(15)))
    if took > 5:
        raise Failure("%s took %.1fs to exit on SIGTERM (bound 5s)" % (f.name, took))
    answered = [p.returncode for p in pending]
    if any(code == 0 for code in answered):
        raise Failure("a request to the cut-off member succeeded: exit codes %s" % answered)
    log("%s exited cleanly %.2fs after SIGTERM; its pending requests got errors" % (f.name, took))
    others = [m for m in c.members if m is not f]
    ctl_ok(others[0], ["put", "s/after", "1"], "put on the majority")


def member_log(member):
    """Everything the member printed, over all its starts."""
    out = []
    for path in sorted(glob.glob(os.path.join(member.tmpdir, "server-*.log"))):
        with open(path, "rb") as f:
            out.append(f.read().decode("utf-8", "replace"))
    return "\n".join(out)


SNAP_COUNT, SNAP_CATCHUP = 200, 50


def sc_snapshot_catchup(ctx):
    """A follower stopped while far more than --snapshot-count entries are written
    (and the leader compacted its log past them) catches up by a snapshot."""
    if not ctx.is_ketcd and not ctx.args.force:
        raise Skip("uses ketcd's --experimental-snapshot-catchup-entries and its log lines")
    c = ctx.cluster(extra_flags=["--snapshot-count", str(SNAP_COUNT),
                                 "--experimental-snapshot-catchup-entries", str(SNAP_CATCHUP)])
    ctx.start(c)
    lm, term, _ = wait_leader(c, c.members, 10)
    f = [m for m in c.members if m is not lm][0]
    ctl_ok(lm, ["put", "sc/before", "1"], "put before the stop")
    wait_converged(c.members, 10, "before the stop")
    f.stop()
    log("leader %s; stopped follower %s (SIGTERM)" % (lm.name, f.name))
    others = [m for m in c.members if m is not f]
    ld = ctx.load(c, "sc")
    want = 4 * SNAP_COUNT + 5 * SNAP_CATCHUP
    ld.wait_acks(want, 60, "writes while %s is down" % f.name)
    ld.stop()
    ctl_ok(lm, ["del", "sc/before"], "delete while the follower is down")
    ctl_ok(lm, ["compact", str(dump(lm)[0] - 10)], "compact while the follower is down")
    log("%d acknowledged writes while %s was down (--snapshot-count %d, catch-up entries %d)"
        % (ld.acks(), f.name, SNAP_COUNT, SNAP_CATCHUP))
    t = time.monotonic()
    f.start(health_timeout=30)
    log("%s restarted, serves linearizable reads after %.2fs" % (f.name, time.monotonic() - t))
    d, secs = wait_converged(c.members, 30, "after %s's return" % f.name)
    log("all 3 members identical after %.2fs: %d keys, revision %d" % (secs, len(d[1]), d[0]))
    if "sc/before" in d[1]:
        raise Failure("sc/before, deleted while %s was down, is back" % f.name)
    verify_acks(ld, d, "sc")
    check_hashkv(c.members, "after the catch-up by snapshot")
    sent = [m.name for m in others if re.search(r"sent a snapshot at index \d+ to member %x\b" % f.id,
                                                member_log(m))]
    installed = re.findall(r"installed a snapshot at index (\d+)", member_log(f))
    if INJECT == "snapshot_sent":  # self-test: pretend none was sent
        sent = []
    if not sent or not installed:
        raise Failure("no snapshot went to %s (sent by %s, installed at %s): it caught up from the "
                      "log, so the scenario did not test state transfer" % (f.name, sent, installed))
    log("%s sent a snapshot; %s installed it at index %s" % (sent[0], f.name, installed[-1]))
    # The installed state, its membership and its raft log survive a restart.
    f.stop()
    f.start(health_timeout=30)
    for m in c.members:
        ctl_ok(m, ["put", "sx/after/" + m.name, "x"], "put via %s after the catch-up" % m.name)
    d2, _ = wait_converged(c.members, 30, "after %s's second restart" % f.name)
    verify_acks(ld, d2, "sc")
    ml = ctl_json(f, ["member", "list"], "member list via %s" % f.name)
    got = sorted((x.get("name"), tuple(x.get("peerURLs") or [])) for x in ml.get("members", []))
    want_ml = sorted((m.name, (m.peer_url,)) for m in c.members)
    if got != want_ml:
        raise Failure("member list via %s after the snapshot: %s, want %s" % (f.name, got, want_ml))
    check_hashkv(c.members, "after the second restart")


def grant(member, ttl):
    r = ctl_ok(member, ["lease", "grant", str(ttl)], "lease grant via %s" % member.name)
    m = re.match(r"lease ([0-9a-f]+) granted", r.out)
    if not m:
        raise Failure("lease grant printed %r" % r.out)
    return m.group(1)


def count_prefix(member, prefix):
    """Keys under prefix in the member's own state (serializable)."""
    j = ctl_json(member, ["get", prefix, "--prefix", "--consistency=s"],
                 "get %s via %s" % (prefix, member.name))
    return len(j.get("kvs") or [])


WL_WRITES, WL_WATCHERS, WL_TTL = 10000, 100, 4


def sc_watch_lease_failover(ctx):
    """100 watchers (a third on each member) see every one of 10,000 writes in
    order while the leader is killed half-way; those on the dead leader re-watch
    from their last revision + 1 elsewhere. A lease with keys expires across the
    leader change within bounds; a kept-alive lease outlives it."""
    c = ctx.cluster()
    ctx.start(c)
    lm, term, _ = wait_leader(c, c.members, 10)
    f1, f2 = [m for m in c.members if m is not lm]
    lb = grant(f1, WL_TTL)
    ctl_ok(f2, ["put", "--lease=" + lb, "lb/1", "x"], "put with lease B")
    keeper = subprocess.Popen([harness.ETCDCTL, "--endpoints=%s,%s" % (f1.endpoint, f2.endpoint),
                               "lease", "keep-alive", lb], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=harness.etcdctl_env(),
                              preexec_fn=harness._die_with_parent)
    wdir = os.path.join(c.tmpdir, "watch")
    os.makedirs(wdir, exist_ok=True)
    until = os.path.join(wdir, "UNTIL")
    start_rev = dump(lm)[0] + 1
    # Four client processes of 25 watchers (Python parses ~10^6 events here).
    per = WL_WATCHERS // 4
    outs = [os.path.join(wdir, "events%d.json" % p) for p in range(4)]
    watchers = [subprocess.Popen(
        [harness.PYTHON, os.path.join(HERE, "watch_client.py"),
         "--endpoints", ",".join(m.endpoint for m in (f1, lm, f2)), "--prefix", "wl/",
         "--start-rev", str(start_rev), "--watchers", str(per), "--index-base", str(p * per),
         "--out", outs[p], "--until-file", until, "--max-seconds", "170"],
        stdin=subprocess.DEVNULL, env=harness.clean_env({"PYTHONDONTWRITEBYTECODE": "1"}),
        preexec_fn=harness._die_with_parent) for p in range(4)]
    try:
        time.sleep(1.0)  # the watchers are in place
        # Four writers: on 2 cores the servers also feed 100 watchers and
        # four Python clients parse ~10^6 responses.
        ld = ctx.load(c, "wl", workers=4)
        ld.wait_acks(WL_WRITES * 3 // 10, 60, "writes before the kill")
        # Lease A is granted 1 s before the kill: it expires during the
        # leader change, and the new leader must revoke it.
        la = grant(f1, WL_TTL)
        for i in range(3):
            ctl_ok(f1, ["put", "--lease=" + la, "la/%d" % i, "x"], "put with lease A")
        time.sleep(1.0)
        if count_prefix(f2, "la/") != 3:
            raise Failure("lease A's keys are not on %s before the kill" % f2.name)
        t_kill = time.monotonic()
        lm.kill9()
        log("SIGKILL leader %s after %d acknowledged writes; lease A (TTL %ds) is not kept alive"
            % (lm.name, ld.acks(), WL_TTL))
        new, _, _ = wait_leader(c, [f1, f2], 10, exclude_id=lm.id, what="after the kill")
        t_elected = time.monotonic()
        # Lease A: as in etcd, the new leader gives every lease its TTL plus
        # an election timeout from its promotion; its keys must be gone on
        # both survivors within that, plus 3.5 s: the lessor's leadership
        # poll and expiry checks (0.5 s each), its read barrier, the revoke's
        # round trip, and this loop's own polling (two etcdctl runs, up to
        # ~1 s on a loaded 2-core machine).
        bound = WL_TTL + ELECTION_MS / 1000.0 + 3.5
        while True:
            left = [count_prefix(m, "la/") for m in (f1, f2)]
            if left == [0, 0]:
                break
            if time.monotonic() - t_elected > bound:
                raise Failure("lease A's keys still on the survivors %.1fs after the new leader "
                              "(bound %.1fs): %s" % (time.monotonic() - t_elected, bound, left))
            time.sleep(0.2)
        log("lease A's keys gone from both survivors %.2fs after the kill, %.2fs after the new "
            "leader was known (bound %.1fs)" % (time.monotonic() - t_kill,
                                                time.monotonic() - t_elected, bound))
        ld.wait_acks(WL_WRITES, 150, "all writes")
        ld.stop()
        final_rev = dump(new, "l")[0]
        with open(until, "w") as f:
            f.write(str(final_rev))
        res = {"revs": [], "deletes": [], "key_crcs": [], "reconnects": []}
        for p, w in enumerate(watchers):
            try:
                w.wait(timeout=180)
            except subprocess.TimeoutExpired:
                raise Failure("watch client %d did not finish" % p)
            with open(outs[p]) as f:
                part = json.load(f)
            for k in res:
                res[k] += part[k]
        # The write history of wl/: every key is written once (a create).
        d = dump(new, "l")
        hist = sorted((kv["mod_revision"], k) for k, kv in d[1].items()
                      if k.startswith("wl/") and kv["mod_revision"] >= start_rev)
        want_revs = [r for r, _ in hist]
        want_crc = zlib.crc32(b"".join(k.encode() + b"\0" for _, k in hist))
        bad = []
        for i, revs in enumerate(res["revs"]):
            if revs != want_revs or res["key_crcs"][i] != want_crc or res["deletes"][i] != 0:
                dups = len(revs) - len(set(revs))
                bad.append("watcher %d (started on %s, %d reconnects): %d events, want %d; "
                           "%d duplicates, first difference at %s, keys %s" % (
                               i, (f1, lm, f2)[i % 3].name, res["reconnects"][i], len(revs),
                               len(want_revs), dups,
                               next((j for j, (a, b) in enumerate(zip(revs, want_revs)) if a != b),
                                    min(len(revs), len(want_revs))),
                               "equal" if res["key_crcs"][i] == want_crc else "differ"))
        want = want_revs
        if bad:
            raise Failure("%d of %d watchers did not see exactly the write history:\n  %s"
                          % (len(bad), WL_WATCHERS, "\n  ".join(bad[:5])))
        moved = sum(1 for i, n in enumerate(res["reconnects"]) if n > 0 and i % 3 == 1)
        log("all %d watchers saw exactly the %d writes in order (final revision %d); %d of the "
            "watchers on the killed leader re-watched on a survivor"
            % (WL_WATCHERS, len(want), final_rev, moved))
        if moved == 0:
            raise Failure("no watcher on the killed leader re-watched: the failover went untested")
        # Lease B outlived the leader change, kept alive through the survivors.
        for m in (f1, f2):
            if count_prefix(m, "lb/") != 1:
                raise Failure("lease B's key is gone on %s though it was kept alive" % m.name)
        log("kept-alive lease B and its key survived the leader change (%.1fs after the kill)"
            % (time.monotonic() - t_kill))
        lm.start(health_timeout=30)
        d2, _ = wait_converged(c.members, 30, "after the old leader's return")
        if any(k.startswith("la/") for k in d2[1]) or "lb/1" not in d2[1]:
            raise Failure("after its return, %s disagrees on the leases' keys" % lm.name)
        check_hashkv(c.members, "after the old leader's return")
    finally:
        for p in [keeper] + watchers:
            if p.poll() is None:
                p.kill()
                p.wait()


SCENARIO_FUNCS = {
    "watch_lease_failover": sc_watch_lease_failover,
    "snapshot_catchup": sc_snapshot_catchup,
    "bootstrap": sc_bootstrap,
    "readwrite": sc_readwrite,
    "leader_kill": sc_leader_kill,
    "kill_all": sc_kill_all,
    "partition": sc_partition,
    "wal_corruption": sc_wal_corruption,
    "shutdown_pending": sc_shutdown_pending,
}


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------
def run_scenario(name, args):
    ctx = Ctx(args)
    t0 = time.monotonic()
    log("==== scenario %s (server %s, bound %ds) ====" % (name, args.server, args.scenario_timeout))

    def on_alarm(*_):
        raise ScenarioTimeout("scenario %s exceeded %ds" % (name, args.scenario_timeout))

    result, msg = PASS, ""
    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, args.scenario_timeout)
        try:
            SCENARIO_FUNCS[name](ctx)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except Skip as e:
        result, msg = SKIP, str(e)
    except (Failure, ScenarioTimeout) as e:
        result, msg = FAIL, str(e)
    except harness.HarnessError as e:
        result, msg = ERROR, str(e)
    except Exception as e:  # noqa: BLE001 - a bug in the test is a harness error
        import traceback
        traceback.print_exc()
        result, msg = ERROR, "%s: %s" % (type(e).__name__, e)
    finally:
        signal.signal(signal.SIGALRM, old)
        if result in (FAIL, ERROR):
            print(ctx.log_tails(args.log_lines), flush=True)
        ctx.cleanup()
    secs = time.monotonic() - t0
    log("==== %s %s (%.1fs)%s" % (name, result, secs, (": " + msg) if msg else ""))
    return result, secs, msg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", help="server binary (etcd or ketcd)")
    ap.add_argument("--scenario", default="all", help="|".join(SCENARIOS) + "|all")
    ap.add_argument("--scenario-timeout", type=int, default=100,
                    help="bound per scenario (s); the clean-up after it adds at most ~20 s")
    ap.add_argument("--workers", type=int, default=3, help="load worker processes")
    ap.add_argument("--snapshot-count", type=int, default=0,
                    help="pass --snapshot-count to the members (default: the server's default)")
    ap.add_argument("--log-lines", type=int, default=30, help="log tail lines per member on failure")
    ap.add_argument("--force", action="store_true",
                    help="run ketcd-only scenarios against another server anyway")
    ap.add_argument("--inject", choices=["lost_ack", "election_bound", "snapshot_sent"],
                    help="self-test of the checks: add a fabricated acknowledged write "
                         "(leader_kill, kill_all) or use an impossible election bound "
                         "(leader_kill); the scenario must then FAIL")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--poller", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--endpoints", help=argparse.SUPPRESS)
    ap.add_argument("--worker-id", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--prefix", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--stop-file", help=argparse.SUPPRESS)
    ap.add_argument("--pause", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--max-seconds", type=float, default=100, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker_main(args)
    if args.poller:
        return poller_main(args)
    if not args.server:
        ap.error("--server PATH is required")
    global INJECT
    INJECT = args.inject
    names = SCENARIOS if args.scenario == "all" else args.scenario.split(",")
    for n in names:
        if n not in SCENARIO_FUNCS:
            ap.error("unknown scenario %r (one of %s, all)" % (n, ", ".join(SCENARIOS)))
    if not (os.path.isfile(args.server) and os.access(args.server, os.X_OK)):
        print("server binary not executable: %s" % args.server)
        return 2
    if not os.access(harness.ETCDCTL, os.X_OK):
        print("%s missing (Debian package etcd-client)" % harness.ETCDCTL)
        return 77
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    for n in names:
        results.append((n,) + run_scenario(n, args))
    print("\n==== summary (server %s) ====" % args.server)
    for n, res, secs, msg in results:
        first = msg.splitlines()[0][:150] if msg else ""
        print("  %-15s %-5s %6.1fs  %s" % (n, res, secs, first))
    codes = [r for _, r, _, _ in results]
    if FAIL in codes:
        return 1
    if ERROR in codes:
        return 2
    if all(r == SKIP for r in codes):
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
