"""The member fault of a robustness run: a member replaced under load, the way
etcd's runbook ("replacing a failed machine") has an operator do it, with etcdctl:

  1. `member remove ID` through the other members (the victim is a follower, or
     the leader: the rest must then elect a new one); a removed member stops by
     itself (etcd: about a second after it applies its removal), else it is
     stopped by PID;
  2. sometimes (fault["revenant"]) the removed member is started again on its old
     data dir: the cluster must refuse its id (etcd: its peers answer "the member
     has been permanently removed from the cluster" and it stops); it must not be
     listed again nor named leader;
  3. its data dir wiped; `down` seconds with one member less;
  4. `member add NAME --peer-urls URL` of a new member (a new name; on fresh ports
     or the removed member's, fault["fresh_ports"]), alternately a voter and a
     learner (`--learner`), retried while the cluster answers "unhealthy cluster"
     (strict reconfiguration wants the voters connected for 5 s);
  5. the new member started with the --initial-cluster `member add` printed and
     --initial-cluster-state existing; a learner is then promoted, `member promote`
     retried while it answers that the learner is not in sync with the leader.

The member set of the rest of the run follows: cluster.members (fault targets, the
final convergence, HashKV), the endpoints file the clients and watchers read when
they move to another member, the restart times of each endpoint (the serializable
checks' "same member"), the kept logs (removed members' included).
Every step is noted in faults.jsonl; the outcomes go to final.json ("membership"),
with every member's final member list, which check() compares with the members
in place at the end: no removed id, no learner left, all lists equal.
"""

import json
import os
import re
import shutil
import subprocess
import time

import faults
import harness
from checks import anomaly

LAGGING = "can only promote a learner member which is in sync with leader"
NOT_LEARNER = "can only promote a learner member"
UNHEALTHY = "unhealthy cluster"
SELF_STOP_S = 5.0   # a removed member stops itself about 1 s after applying its removal
REVENANT_S = 8.0    # a revenant learns it is removed at its first peer stream
CHANGE_S = 20.0     # retries of member remove / member add
PROMOTE_S = 30.0    # retries of member promote while the learner catches up


def etcdctl(endpoints, *args, timeout=15.0):
    """(exit status, stdout, error) of etcdctl 3.4 against endpoints (a list); error:
    its "Error: ..." line (its retry warnings before it are JSON log lines)."""
    argv = [harness.ETCDCTL, "--endpoints=" + ",".join(endpoints), "--dial-timeout=2s",
            "--command-timeout=5s"] + list(args)
    try:
        r = subprocess.run(argv, env=harness.etcdctl_env(), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout,
                           preexec_fn=harness._die_with_parent)
    except subprocess.TimeoutExpired:
        return -1, "", "etcdctl timed out after %.0fs" % timeout
    err = r.stderr.decode("utf-8", "replace").strip()
    lines = [x for x in err.splitlines() if x.startswith("Error:")]
    return r.returncode, r.stdout.decode("utf-8", "replace"), (lines[-1] if lines else err)[-300:]


def member_list(endpoint):
    """{id: {"name", "peer", "learner"}} as one member lists them, or None."""
    rc, out, _ = etcdctl([endpoint], "member", "list", "-w", "json")
    if rc != 0:
        return None
    try:
        ms = json.loads(out).get("members", [])
    except ValueError:
        return None
    return {m["ID"]: {"name": m.get("name", ""), "peer": ",".join(m.get("peerURLs", [])),
                      "learner": bool(m.get("isLearner"))} for m in ms}


class Joiner(harness.Member):
    """A member added with `member add`: started with the cluster it printed and
    --initial-cluster-state existing (a restart on its data dir ignores both)."""

    def __init__(self, like, name, ports, initial_cluster):
        super().__init__(like.binary, name, like.cluster, os.path.join(like.cluster.tmpdir, name),
                         ports, like.extra_flags, like.env_extra, like.certs)
        self.initial_cluster = initial_cluster

    def cluster_flags(self):
        return ["--initial-cluster", self.initial_cluster, "--initial-cluster-state", "existing",
                "--initial-cluster-token", self.cluster.token]


class MemberChanger:
    """Runs the member faults of an Injector (faults.py) from its driving thread."""

    def __init__(self, inj, endpoints_file):
        self.inj = inj
        self.cluster = inj.cluster
        self.endpoints_file = endpoints_file
        self.retired = []        # removed members: stopped, their logs kept
        self.removed_ids = []    # their ids
        self.outcomes = []
        self.replaced = {}       # endpoint -> [times a member with an empty data dir started]
        self.names = len(self.cluster.members)  # new members are m<names + 1>, ...
        self.failed = False      # a replacement left the cluster short: no more of them
        self.write_endpoints()

    def write_endpoints(self):
        tmp = self.endpoints_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("".join(m.endpoint + "\n" for m in self.cluster.members))
        os.replace(tmp, self.endpoints_file)

    def note(self, **rec):
        self.inj.note(**rec)

    def replace(self, victim, fault):
        out = {"member": victim.name, "learner": fault["learner"],
               "fresh_ports": fault["fresh_ports"], "revenant": fault["revenant"]}
        if self.failed:
            self.note(ev="skipped", kind="member", why="an earlier replacement failed")
            return
        try:
            self._replace(victim, fault, out)
        finally:
            self.failed = self.failed or "error" in out
            self.outcomes.append(out)
            self.note(ev="member-outcome", **out)

    def _replace(self, victim, fault, out):
        survivors = [m for m in self.cluster.members if m is not victim]
        eps = [m.endpoint for m in survivors]
        vid = self.member_id(victim, survivors)
        if vid is None:
            out["error"] = "the id of %s is unknown" % victim.name
            return
        out["id"] = "%x" % vid
        t0 = time.monotonic()
        ok, tries, err = self.retry(lambda: etcdctl(eps, "member", "remove", "%x" % vid),
                                    done_again="member not found")
        self.note(ev="member-removed", member=victim.name, id=out["id"], ok=ok, tries=tries,
                  err=err, after=round(time.monotonic() - t0, 3))
        if not ok:
            out["error"] = "member remove %s failed for %.0fs: %s" % (out["id"], CHANGE_S, err)
            return
        at = self.cluster.members.index(victim)
        self.cluster.members.remove(victim)
        self.retired.append(victim)
        self.removed_ids.append(vid)
        self.write_endpoints()
        out["stop"] = self.stop_removed(victim, SELF_STOP_S)
        self.note(ev="member-stopped", member=victim.name, **out["stop"])
        if fault["revenant"]:
            out["revenant_run"] = self.revenant(victim, vid, survivors)
            self.note(ev="member-revenant", member=victim.name, **out["revenant_run"])
        shutil.rmtree(victim.data_dir, ignore_errors=True)
        time.sleep(fault["down"])
        joiner = self.add(victim, survivors, fault, out)
        if joiner is None:
            return
        self.cluster.members.insert(at, joiner)
        joiner.spawn()
        now = time.monotonic()
        self.inj.restarts.setdefault(joiner.endpoint, []).append(now)
        self.replaced.setdefault(joiner.endpoint, []).append(now)
        self.write_endpoints()
        self.note(ev="member-started", member=joiner.name, pid=joiner.pid)
        if fault["learner"]:
            t0 = time.monotonic()
            ok, tries, err = self.retry(lambda: etcdctl(eps, "member", "promote", out["new_id"]),
                                        again=(LAGGING, UNHEALTHY), done_again=NOT_LEARNER,
                                        bound=PROMOTE_S, step=0.3)
            out["promote"] = {"ok": ok, "tries": tries, "after": round(time.monotonic() - t0, 3)}
            self.note(ev="member-promoted", member=joiner.name, err=err, **out["promote"])
            if not ok:
                out["error"] = "member promote %s failed for %.0fs: %s" % (
                    out["new_id"], PROMOTE_S, err)

    def member_id(self, m, survivors):
        st = faults.status(m, 2.0)
        if st is not None:
            return st["id"]
        for s in survivors:
            ms = member_list(s.endpoint) or {}
            for mid, info in ms.items():
                if info["name"] == m.name:
                    return mid
        return None

    @staticmethod
    def retry(call, again=(UNHEALTHY,), done_again=None, bound=CHANGE_S, step=0.5):
        """(done, tries, last error) of call() repeated until it succeeds, for at most
        `bound` seconds. Any error is retried (a timeout may hide a change that took
        effect); done_again in an answer after the first try means an earlier try
        did take effect. `again`: answers expected while waiting (not logged)."""
        deadline, tries, err = time.monotonic() + bound, 0, ""
        while True:
            rc, stdout, stderr = call()
            tries += 1
            if rc == 0:
                return True, tries, err
            if done_again and tries > 1 and done_again in stderr and not any(
                    a in stderr for a in again):
                return True, tries, stderr
            err = stderr
            if time.monotonic() > deadline:
                return False, tries, err
            time.sleep(step)

    @staticmethod
    def stop_removed(m, bound):
        """Waits up to bound for m to stop by itself; else stops it by PID."""
        t0 = time.monotonic()
        while m.alive() and time.monotonic() < t0 + bound:
            time.sleep(0.05)
        if m.alive():
            rc, how = m.stop(), "stopped"
        else:
            rc, how = m.proc.returncode, "exited"
            m.kill9()  # reaped already: closes the log
        return {"how": how, "rc": rc, "after": round(time.monotonic() - t0, 3),
                "alive": m.alive(), "line": faults.last_log_line(m.log_path)}

    def revenant(self, m, vid, survivors):
        """m started again on its data dir; the cluster must not take it back."""
        m.spawn()
        t0, named = time.monotonic(), set()
        while m.alive() and time.monotonic() < t0 + REVENANT_S:
            for s in survivors:
                st = faults.status(s, 0.5)
                if st is not None and st["leader"] == vid:
                    named.add(s.name)
            time.sleep(0.1)
        ran = time.monotonic() - t0
        res = self.stop_removed(m, 0.0)
        res["ran"] = round(ran, 3)  # its "after" is the stop's own (0: it had exited)
        listed = [s.name for s in survivors if vid in (member_list(s.endpoint) or {})]
        res.update(named_leader_by=sorted(named), listed_by=listed)
        return res

    def add(self, victim, survivors, fault, out):
        """`member add` of the new member; the Joiner, not started, or None."""
        self.names += 1
        name = "m%d" % self.names
        ports = harness.free_ports(2) if fault["fresh_ports"] else (victim.client_port,
                                                                    victim.peer_port)
        peer = "%s://%s:%d" % (victim.peer_scheme, harness.HOST, ports[1])
        eps = [m.endpoint for m in survivors]
        args = ["member", "add", name, "--peer-urls=" + peer]
        args += ["--learner"] if fault["learner"] else []
        t0 = time.monotonic()
        res = {}

        def call():
            rc, stdout, stderr = etcdctl(eps, *args)
            res["stdout"] = stdout
            return rc, stdout, stderr
        ok, tries, err = self.retry(call, done_again="Peer URLs already exists")
        out.update(new=name, peer=peer)
        initial, mid = None, None
        if ok and "added to cluster" in res.get("stdout", ""):
            printed = dict(re.findall(r'^(ETCD_[A-Z_]+)="(.*)"$', res["stdout"], re.M))
            found = re.search(r"Member +([0-9a-f]+) added to cluster", res["stdout"])
            initial, mid = printed.get("ETCD_INITIAL_CLUSTER"), found and found.group(1)
        elif ok:  # an earlier try took effect: the cluster as listed
            ms = member_list(eps[0]) or {}
            mine = [i for i, x in ms.items() if x["peer"] == peer]
            mid = "%x" % mine[0] if mine else None
            initial = ",".join("%s=%s" % (name if x["peer"] == peer else x["name"], x["peer"])
                               for x in ms.values() if x["name"] or x["peer"] == peer)
        self.note(ev="member-added", member=name, peer=peer, learner=fault["learner"], ok=ok,
                  tries=tries, err=err, id=mid, initial_cluster=initial,
                  after=round(time.monotonic() - t0, 3))
        if not ok or not mid or not initial:
            out["error"] = "member add %s failed: %s" % (name, err or res.get("stdout", ""))
            return None
        out.update(new_id=mid, initial_cluster=initial)
        joiner = Joiner(victim, name, ports, initial)
        if self.inj.slow_lib:
            faults.under_slow(joiner, self.inj.slow_lib)  # its own control file
        if self.inj.disk_ok:
            faults.under_fiu(joiner)
        return joiner

    def final(self):
        """The record for final.json: outcomes, and every member's list at the end."""
        ids = {}
        for m in self.cluster.members:
            st = faults.status(m, 2.0)
            ids[m.name] = "%x" % st["id"] if st else None
        lists = {}
        for m in self.cluster.members:
            ms = member_list(m.endpoint)
            lists[m.name] = None if ms is None else sorted(
                ["%x" % i, x["name"], x["learner"]] for i, x in ms.items())
        return {"changes": self.outcomes, "removed_ids": ["%x" % i for i in self.removed_ids],
                "ids": ids, "lists": lists, "replaced": self.replaced,
                "retired": [m.name for m in self.retired]}


def check(rec):
    """Anomalies of the membership record (MemberChanger.final)."""
    if not rec:
        return []
    found = []

    def bad(what):
        found.append(anomaly("membership", what))

    for o in rec["changes"]:
        if o.get("error"):
            bad("replacing %s: %s" % (o["member"], o["error"]))
        stop = o.get("stop") or {}
        if stop.get("alive"):
            bad("%s still runs after its removal and a stop by PID" % o["member"])
        rev = o.get("revenant_run") or {}
        if rev.get("how") == "stopped":
            bad("%s, removed, restarted on its data dir, kept running for %.0fs (etcd: its "
                "peers refuse its id and it stops); its last line: %r"
                % (o["member"], REVENANT_S, rev.get("line")))
        if rev.get("named_leader_by") or rev.get("listed_by"):
            bad("%s, removed, restarted on its data dir, was named leader by %s, listed by %s"
                % (o["member"], rev.get("named_leader_by"), rev.get("listed_by")))
    ids = rec["ids"]
    removed = set(rec["removed_ids"])
    want = sorted(i for i in ids.values() if i)
    for name, lst in sorted(rec["lists"].items()):
        if lst is None or ids.get(name) is None:
            bad("%s did not answer member list or status at the end" % name)
            continue
        listed = sorted(i for i, _, _ in lst)
        if set(listed) & removed:
            bad("%s lists removed member(s) %s" % (name, sorted(set(listed) & removed)))
        if listed != want:
            bad("%s lists %s; the members in place are %s" % (name, lst, ids))
        learners = [n for _, n, learner in lst if learner]
        if learners:
            bad("%s lists learner(s) %s at the end" % (name, learners))
    return found
