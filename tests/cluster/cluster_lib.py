"""Shared parts of the three-member cluster scenarios (cluster_test.py):
load workers and pollers (run as processes of the driver script), etcdctl
helpers, leader and convergence waits, dumps and the scenario context."""

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
sys.path.insert(0, HERE)

import durability  # noqa: E402
import harness  # noqa: E402

# The driver script: load workers and pollers are its --worker/--poller modes.
DRIVER = os.path.join(HERE, "cluster_test.py")


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
            [harness.PYTHON, DRIVER, "--poller",
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
                [harness.PYTHON, DRIVER, "--worker",
                 "--endpoints", self.cluster.endpoints, "--worker-id", str(i),
                 "--prefix", self.prefix, "--out", self.outs[i],
                 "--stop-file", self.stop_file, "--pause", str(self.pause),
                 "--max-seconds", str(self.max_seconds)],
                stdin=subprocess.DEVNULL, env=harness.clean_env({"PYTHONDONTWRITEBYTECODE": "1"}),
                preexec_fn=harness._die_with_parent))

    def acks(self):
        return durability.count_acks(self.outs)

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
        return durability.read_records(self.outs)


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


def require_failpoints(ctx):
    if not ctx.is_ketcd and not ctx.args.force:
        raise Skip("needs ketcd's test failpoints (KETCD_TEST_FAILPOINTS=1, SIGUSR1/SIGUSR2); "
                   "server %s is not ketcd" % ctx.binary)
