"""Seeded fault schedules and their execution against a harness.Cluster.

The schedule is a pure function of (seed, duration, fault kinds): the same
--seed replays the same list of faults at the same offsets with the same
durations. Which member "the leader" is at that moment depends on the run; the
executed log records the member each fault hit.

Kinds:
  kill       SIGKILL of the leader, a follower, or every member; restarted on the
             same data dir after `down` seconds
  pause      SIGSTOP of the leader for longer than the election timeout, then SIGCONT
  partition  ketcd's test failpoint (KETCD_TEST_FAILPOINTS=1): SIGUSR1 cuts the
             member off from every peer (both directions), SIGUSR2 heals it
  oneway     the same failpoint, one direction: SIGRTMIN+1 drops what the member
             receives from its peers, SIGRTMIN+2 what it sends to them
"""

import json
import random
import signal
import threading
import time

import grpc
import etcd3.etcdrpc as rpc

KINDS = ("kill", "pause", "partition", "oneway")
FAILPOINT_KINDS = ("partition", "oneway")
CUT_SIGNAL = {"partition": signal.SIGUSR1, "in": signal.SIGRTMIN + 1, "out": signal.SIGRTMIN + 2}


def schedule(seed, duration, kinds, election_s):
    """[{"at", "kind", "target", "down"}] for a run of `duration` seconds."""
    rng = random.Random("faults-%s" % seed)
    out, t = [], 3.0
    while kinds:
        kind = rng.choice(sorted(kinds))
        if kind == "kill":
            target = rng.choices(["leader", "follower", "all"], [0.45, 0.35, 0.2])[0]
            down = rng.uniform(0.5, 2.5)
        elif kind == "pause":
            target, down = "leader", rng.uniform(2.0, 4.0) * election_s
        elif kind == "partition":
            target = rng.choice(["leader", "follower"])
            down = rng.uniform(2.0, 5.0)
        else:  # oneway: which member, and which direction it loses
            target = rng.choice(["leader-in", "leader-out", "follower-in", "follower-out"])
            down = rng.uniform(2.0, 5.0)
        if t + down + 4.0 > duration:
            break
        out.append({"at": round(t, 3), "kind": kind, "target": target, "down": round(down, 3),
                    "pick": rng.random()})
        t += down + rng.uniform(4.0, 8.0)
    return out


def status(member, timeout=0.5):
    try:
        with grpc.insecure_channel(member.endpoint) as ch:
            r = rpc.MaintenanceStub(ch).Status(rpc.StatusRequest(), timeout=timeout)
            return {"id": r.header.member_id, "leader": r.leader, "term": r.raftTerm,
                    "rev": r.header.revision, "index": r.raftIndex}
    except grpc.RpcError:
        return None


def agreed_leader(members, timeout):
    """The member every running member names as leader, within timeout, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sts = [status(m) for m in members]
        if all(sts):
            leaders = {s["leader"] for s in sts}
            ids = {s["id"]: m for s, m in zip(sts, members)}
            if len(leaders) == 1 and next(iter(leaders)) in ids:
                return ids[next(iter(leaders))]
        time.sleep(0.1)
    return None


class Injector:
    """Runs a schedule on a cluster from the driver's thread; logs every action."""

    def __init__(self, cluster, log_path, partition_ok):
        self.cluster = cluster
        self.log = open(log_path, "a", buffering=1)
        self.partition_ok = partition_ok
        self.restarts = {m.endpoint: [] for m in cluster.members}  # CLOCK_MONOTONIC
        self.paused, self.cut = set(), set()
        self.done = 0
        self.no_recovery = []
        # Members restarted by the driving thread die with it (PR_SET_PDEATHSIG
        # follows the thread that forked): drive() keeps its thread until release.
        self.drained = threading.Event()
        self.release = threading.Event()

    def note(self, **rec):
        rec["t"] = time.monotonic()
        self.log.write(json.dumps(rec) + "\n")

    def pick(self, fault):
        members = self.cluster.members
        if fault["target"] == "all":
            return list(members)
        leader = agreed_leader(members, 3.0)
        if leader is None:  # no agreed leader: a member chosen by the schedule's draw
            return [members[int(fault["pick"] * len(members))]]
        if fault["target"].startswith("leader"):
            return [leader]
        others = [m for m in members if m is not leader]
        return [others[int(fault["pick"] * len(others))]]

    def run(self, fault):
        victims = self.pick(fault)
        names = [m.name for m in victims]
        kind = fault["kind"]
        self.note(ev="fault", kind=kind, target=fault["target"], members=names, down=fault["down"])
        if kind == "kill":
            for m in victims:
                m.kill9()
            time.sleep(fault["down"])
            for m in victims:
                self.restart(m)
        elif kind == "pause":
            for m in victims:
                m.send_signal(signal.SIGSTOP)
                self.paused.add(m)
            time.sleep(fault["down"])
            for m in victims:
                m.send_signal(signal.SIGCONT)
                self.paused.discard(m)
        else:  # partition, oneway
            sig = CUT_SIGNAL["partition" if kind == "partition" else fault["target"].split("-")[1]]
            for m in victims:
                m.send_signal(sig)
                self.cut.add(m)
            time.sleep(fault["down"])
            for m in victims:
                m.send_signal(signal.SIGUSR2)
                self.cut.discard(m)
        self.done += 1
        self.note(ev="healed", kind=kind, members=names)
        t0 = time.monotonic()
        leader = agreed_leader(self.cluster.members, 20.0)
        if leader is None:
            self.no_recovery.append(dict(fault, members=names))
        self.note(ev="recovered" if leader else "no-leader", leader=leader.name if leader else None,
                  after=round(time.monotonic() - t0, 3))

    def restart(self, m):
        m.spawn()
        self.restarts[m.endpoint].append(time.monotonic())
        self.note(ev="restarted", member=m.name, pid=m.pid)

    def heal_all(self):
        """Undo whatever a fault left (an interrupted run): every member running,
        none paused, none cut off."""
        for m in list(self.paused):
            m.send_signal(signal.SIGCONT)
        for m in list(self.cut):
            m.send_signal(signal.SIGUSR2)
        self.paused, self.cut = set(), set()
        for m in self.cluster.members:
            if not m.alive():
                self.restart(m)

    def drive(self, plan, t_start, stop_at):
        """Run every fault of plan at t_start + at, none starting after stop_at; then
        set drained and wait for release (see __init__)."""
        try:
            self._drive(plan, t_start, stop_at)
        finally:
            self.drained.set()
            self.release.wait()

    def _drive(self, plan, t_start, stop_at):
        for fault in plan:
            when = t_start + fault["at"]
            if when > stop_at:
                break
            time.sleep(max(0.0, when - time.monotonic()))
            if fault["kind"] in FAILPOINT_KINDS and not self.partition_ok:
                self.note(ev="skipped", kind=fault["kind"], why="needs ketcd's test failpoint")
                continue
            self.run(fault)
