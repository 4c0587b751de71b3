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
  disk       libfiu (Debian's fiu-utils): members run under `fiu-run -x`; for `down`
             seconds one member's fdatasync/fsync fails with EIO, or its pwrite (the
             raft WAL) or write (RocksDB's files) with EIO or ENOSPC (fiu-ctrl, by PID);
             the member must stop loudly (a fatal log line, non-zero exit) rather than
             go on, and is restarted on its data dir as a killed one is
  slow       the leader's or a follower's syncs (fsync, fdatasync, sync_file_range)
             each take `delay_ms` longer, for `down` seconds, but succeed: our preload
             shim slowdisk/slowdisk.cc (members run with it, after libfiu's when disk is
             asked for too) sleeps for the delay the harness writes into the member's
             control file; the member must keep serving (no stop), and the shim's
             counters there must show delayed calls
  member     the leader or a follower replaced as etcd's runbook has it: member remove,
             stopped by PID, data dir wiped, member add (a voter, or a learner then
             promoted: alternately) of a new member started with
             --initial-cluster-state existing; after `down` seconds with one member
             less (member_fault.py)
"""

import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import struct
import threading
import time
import urllib.request

from checks import anomaly

import grpc
import etcd3.etcdrpc as rpc

KINDS = ("kill", "pause", "partition", "oneway", "disk", "member", "slow")
FAILPOINT_KINDS = ("partition", "oneway")
# disk modes: (libfiu failure point, errno, weight). ketcd's WAL writes with pwrite
# and syncs with fdatasync (fsync: directories); RocksDB writes its WAL, tables,
# MANIFEST and LOG with write and syncs with fdatasync/fsync.
DISK_MODES = {
    "fdatasync-eio": ("posix/io/sync/fdatasync", errno.EIO, 0.3),
    "fsync-eio": ("posix/io/sync/fsync", errno.EIO, 0.1),
    "pwrite-eio": ("posix/io/rw/pwrite", errno.EIO, 0.15),
    "pwrite-enospc": ("posix/io/rw/pwrite", errno.ENOSPC, 0.15),
    "write-eio": ("posix/io/rw/write", errno.EIO, 0.15),
    "write-enospc": ("posix/io/rw/write", errno.ENOSPC, 0.15),
}
# s: what a member replacement takes besides `down` (removal, the removed member's
# stop, start-up, catching up, the promotion), for spacing the schedule
MEMBER_EXTRA = 6.0
CUT_SIGNAL = {"partition": signal.SIGUSR1, "in": signal.SIGRTMIN + 1, "out": signal.SIGRTMIN + 2}


def schedule(seed, duration, kinds, election_s):
    """[{"at", "kind", "target", "down"}] for a run of `duration` seconds."""
    rng = random.Random("faults-%s" % seed)
    out, t, learner = [], 3.0, None
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
        elif kind == "disk":
            target = rng.choice(["leader", "follower"])
            modes = sorted(DISK_MODES)
            mode = rng.choices(modes, [DISK_MODES[m][2] for m in modes])[0]
            down = rng.uniform(0.5, 2.0)
        elif kind == "slow":
            target = rng.choice(["leader", "follower"])
            delay_ms = rng.randint(50, 400)
            down = rng.uniform(2.0, 6.0)
        elif kind == "member":
            target = rng.choices(["leader", "follower"], [0.3, 0.7])[0]
            down = rng.uniform(0.5, 2.5)
            # voter and learner alternate, from a drawn start; the new member on
            # fresh ports or the removed one's; sometimes the removed member is
            # restarted on its data dir first (the cluster must refuse it)
            learner = rng.random() < 0.5 if learner is None else not learner
            member = {"learner": learner, "fresh_ports": rng.random() < 0.5,
                      "revenant": rng.random() < 0.4}
        else:  # oneway: which member, and which direction it loses
            target = rng.choice(["leader-in", "leader-out", "follower-in", "follower-out"])
            down = rng.uniform(2.0, 5.0)
        extra = MEMBER_EXTRA if kind == "member" else 0.0
        if t + down + extra + 4.0 > duration:
            break
        out.append({"at": round(t, 3), "kind": kind, "target": target, "down": round(down, 3),
                    "pick": rng.random()})
        if kind == "disk":
            out[-1]["mode"] = mode
        if kind == "member":
            out[-1].update(member)
        if kind == "slow":
            out[-1]["delay_ms"] = delay_ms
        t += down + extra + rng.uniform(4.0, 8.0)
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

    def __init__(self, cluster, log_path, partition_ok, disk_ok=False, slow_lib=None):
        self.cluster = cluster
        self.log = open(log_path, "a", buffering=1)
        self.partition_ok = partition_ok
        self.disk_ok = disk_ok  # the members run under fiu-run (launch_under_fiu)
        self.disk_outcomes = []
        self.slow_lib = slow_lib  # the members run with the slowdisk shim (launch_slow)
        self.slow_outcomes = []
        self.restarts = {m.endpoint: [] for m in cluster.members}  # CLOCK_MONOTONIC
        # a member_fault.MemberChanger when the schedule replaces members (run sets it)
        self.membership = None
        self.paused, self.cut = set(), set()
        self.done = 0
        self.no_recovery = []
        # Members restarted by the driving thread die with it (PR_SET_PDEATHSIG
        # follows the thread that forked): drive() keeps its thread until release.
        self.drained = threading.Event()
        self.release = threading.Event()
        # set when the load ends before the schedule does (run --ops): no fault starts after it
        self.stopping = threading.Event()

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
        elif kind == "disk":
            self.disk_fault(victims[0], fault)
        elif kind == "slow":
            self.slow_fault(victims[0], fault)
        elif kind == "member":
            self.membership.replace(victims[0], fault)
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

    def disk_fault(self, m, fault):
        """Fail one libc call of m for fault["down"] seconds; note how m ended up
        (stopped, with its last log line, or still running) and restart it if it stopped."""
        point, err, _ = DISK_MODES[fault["mode"]]
        t0 = time.monotonic()
        # failinfo is the errno the call fails with (without it libfiu draws one)
        enabled = fiu_ctrl(m, "enable name=%s,failnum=1,failinfo=%d" % (point, err))
        self.note(ev="disk-enabled", member=m.name, pid=m.pid, point=point,
                  errno=errno.errorcode[err], ok=enabled)
        while m.alive() and time.monotonic() < t0 + fault["down"]:
            time.sleep(0.05)
        if m.alive():
            self.note(ev="disk-disabled", member=m.name,
                      ok=fiu_ctrl(m, "disable name=%s" % point))
            time.sleep(0.3)  # a failing call in flight when it was disabled still counts
        out = {"member": m.name, "mode": fault["mode"], "point": point, "enabled": enabled}
        if m.alive():
            out.update(stopped=False)
        else:
            rc = m.proc.returncode
            m.kill9()  # closes the log
            line = last_log_line(m.log_path)
            out.update(stopped=True, rc=rc, after=round(time.monotonic() - t0, 3), line=line,
                       how=classify_stop(rc, line))
        self.disk_outcomes.append(out)
        self.note(ev="disk-outcome", **out)
        if out["stopped"]:
            self.restart(m)

    def slow_fault(self, m, fault):
        """Make m's syncs fault["delay_ms"] slower for fault["down"] seconds; note the
        shim's counts (till the last delayed call woke) and m's WAL fsyncs while the
        delay was on (ketcd's histogram: the server's own view), and whether m stopped
        (restarted then: a slow disk must not stop a member, check_slow flags it)."""
        before, fsync0 = slow_counters(m), wal_fsync(m)
        t0 = time.monotonic()
        enabled = set_slow(m, fault["delay_ms"])
        self.note(ev="slow-enabled", member=m.name, pid=m.pid, delay_ms=fault["delay_ms"],
                  ok=enabled)
        while m.alive() and time.monotonic() < t0 + fault["down"]:
            time.sleep(0.05)
        fsync1 = wal_fsync(m)
        self.note(ev="slow-disabled", member=m.name, ok=set_slow(m, 0))
        # a sync sleeping when the delay was switched off is counted when it wakes
        time.sleep(fault["delay_ms"] / 1000.0 + 0.3)
        after = slow_counters(m)
        out = {"member": m.name, "delay_ms": fault["delay_ms"], "enabled": enabled,
               "stopped": not m.alive()}
        if before and after:
            out.update(calls=after["calls"] - before["calls"],
                       delayed=after["delayed"] - before["delayed"],
                       slept_ms=after["slept_ms"] - before["slept_ms"])
        if fsync0 and fsync1 and fsync1[1] > fsync0[1]:
            out["wal_fsyncs"] = fsync1[1] - fsync0[1]
            out["wal_fsync_mean_ms"] = round(
                1000 * (fsync1[0] - fsync0[0]) / (fsync1[1] - fsync0[1]), 1)
        if out["stopped"]:
            rc = m.proc.returncode
            m.kill9()  # closes the log
            line = last_log_line(m.log_path)
            out.update(rc=rc, line=line, how=classify_stop(rc, line))
        self.slow_outcomes.append(out)
        self.note(ev="slow-outcome", **out)
        if out["stopped"]:
            self.restart(m)

    def restart(self, m):
        m.spawn()
        self.restarts.setdefault(m.endpoint, []).append(time.monotonic())
        self.note(ev="restarted", member=m.name, pid=m.pid)

    def heal_all(self):
        """Undo whatever a fault left (an interrupted run): every member running,
        none paused, none cut off."""
        for m in list(self.paused):
            m.send_signal(signal.SIGCONT)
        for m in list(self.cut):
            m.send_signal(signal.SIGUSR2)
        self.paused, self.cut = set(), set()
        if self.disk_ok:
            self.restart_stopped()
        if self.slow_lib:
            for m in self.cluster.members:
                set_slow(m, 0)
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
            if when > stop_at or self.stopping.wait(max(0.0, when - time.monotonic())):
                break
            if fault["kind"] in FAILPOINT_KINDS and not self.partition_ok:
                self.note(ev="skipped", kind=fault["kind"], why="needs ketcd's test failpoint")
                continue
            if fault["kind"] == "disk" and not self.disk_ok:
                self.note(ev="skipped", kind="disk", why=DISK_SKIP)
                continue
            if fault["kind"] == "slow" and not self.slow_lib:
                self.note(ev="skipped", kind="slow", why=SLOW_SKIP)
                continue
            if fault["kind"] == "member" and self.membership is None:
                self.note(ev="skipped", kind="member", why="no member changer")
                continue
            if self.disk_ok:
                self.restart_stopped()
            self.run(fault)

    def restart_stopped(self):
        """A member that stopped since its disk fault (a late failing call, or a
        RocksDB background error met at its next write): noted as an outcome of
        the last disk fault, restarted."""
        for m in self.cluster.members:
            if m.proc is not None and not m.alive():
                rc = m.proc.returncode
                m.kill9()
                line = last_log_line(m.log_path)
                out = {"member": m.name, "mode": "late", "stopped": True, "rc": rc,
                       "line": line, "how": classify_stop(rc, line)}
                self.disk_outcomes.append(out)
                self.note(ev="disk-outcome", **out)
                self.restart(m)


DISK_SKIP = ("libfiu's preload reaches only calls through libc: Go's runtime (etcd) "
             "makes its file system calls as raw syscalls")
FIU_RUN, FIU_CTRL = "fiu-run", "fiu-ctrl"
SLOW_SKIP = ("the slowdisk shim wraps libc's sync calls: Go's runtime (etcd) makes "
             "its file system calls as raw syscalls")
# fiu-run sets LD_PRELOAD to libfiu's libraries alone: this trampoline, exec'd by
# it (same PID), appends the slowdisk shim, which then sits behind libfiu's
# wrappers (a failing call fails undelayed; a passing one is delayed)
SLOW_AFTER_FIU = ["/bin/sh", "-c", 'export LD_PRELOAD="$LD_PRELOAD $KETCD_SLOWDISK_LIB"; '
                  'exec "$@"', "slowdisk"]
# the shim's control file (slowdisk.cc): u32 delay_ms at 0; u64 calls[3] at 8,
# delayed[3] at 32, slept_ms at 56
SLOW_CTL_SIZE = 64


def launch_under_fiu(cluster):
    """Start (and restart) every member as `fiu-run -x BINARY ...` (fiu-run execs the
    server: same PID), its control FIFOs <member tmpdir>/fiu-PID.{in,out}."""
    for tool in (FIU_RUN, FIU_CTRL):
        if shutil.which(tool) is None:
            raise SystemExit("the disk fault needs %s: apt-get install fiu-utils" % tool)
    for m in cluster.members:
        under_fiu(m)


def under_fiu(m):
    """m's (re)starts go through fiu-run (a member added later too)."""
    plain = m.argv
    m.fiu_fifo = os.path.join(m.tmpdir, "fiu")
    after = SLOW_AFTER_FIU if getattr(m, "slow_ctl", None) else []
    m.argv = (lambda plain, fifo: lambda: [FIU_RUN, "-x", "-f", fifo] + after + plain())(
        plain, m.fiu_fifo)


def launch_slow(cluster, lib):
    """Every member (re)started with the slowdisk shim preloaded (call before
    launch_under_fiu: that one then keeps it)."""
    if not os.path.exists(lib):
        raise SystemExit("the slow fault needs the slowdisk shim %s: "
                         "ninja -C BUILD ketcd_slowdisk, or --slowdisk-lib" % lib)
    for m in cluster.members:
        under_slow(m, lib)


def under_slow(m, lib):
    """m's (re)starts preload the shim, with a control file of its own (zeroed: the
    delay off) in m's tmpdir; under_fiu, if called after, keeps the shim."""
    os.makedirs(m.tmpdir, exist_ok=True)
    m.slow_ctl = os.path.join(m.tmpdir, "slowdisk.ctl")
    with open(m.slow_ctl, "wb") as f:
        f.write(bytes(SLOW_CTL_SIZE))
    m.env_extra.update(LD_PRELOAD=lib, KETCD_SLOWDISK_LIB=lib, KETCD_SLOWDISK_CTL=m.slow_ctl)


def set_slow(m, delay_ms):
    """Write m's sync delay into its control file (the running shim maps it); False
    if m has none or is not running (nothing would be delayed)."""
    path = getattr(m, "slow_ctl", None)
    if not path:
        return False
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, struct.pack("<I", delay_ms), 0)
        finally:
            os.close(fd)
    except OSError:
        return False
    return m.alive()


def slow_counters(m):
    """The shim's counters in m's control file: calls seen, calls delayed (all three
    sync functions summed) and ms slept; None without a control file."""
    path = getattr(m, "slow_ctl", None)
    if not path:
        return None
    with open(path, "rb") as f:
        v = struct.unpack("<II7Q", f.read(SLOW_CTL_SIZE))
    return {"calls": sum(v[2:5]), "delayed": sum(v[5:8]), "slept_ms": v[8]}


def wal_fsync(m, timeout=2.0):
    """(seconds, count) of m's etcd_disk_wal_fsync_duration_seconds histogram, or None."""
    try:
        with urllib.request.urlopen("http://%s/metrics" % m.endpoint, timeout=timeout) as r:
            text = r.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None
    got = dict(re.findall(r"^etcd_disk_wal_fsync_duration_seconds_(sum|count) (\S+)$", text,
                          re.MULTILINE))
    if "sum" not in got or "count" not in got:
        return None
    return float(got["sum"]), float(got["count"])


def fiu_ctrl(member, command, timeout=5.0):
    """One fiu-ctrl command to the running member; True if it answered success.
    fiu-ctrl runs in its own process group, ended by that id if it hangs (the member
    died between the command and its reply)."""
    if not member.alive():
        return False
    p = subprocess.Popen([FIU_CTRL, "-f", member.fiu_fifo, "-c", command, str(member.pid)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.communicate(timeout=10)
        return False
    return p.returncode == 0 and b"rror" not in out


def last_log_line(path, n=4096):
    """The last line of a member's log that is the server's own (not blank)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except (OSError, TypeError):
        return ""
    lines = [x for x in lines if x.strip()]
    return lines[-1][-300:] if lines else ""


def classify_stop(rc, line):
    """How a member stopped after a disk fault: "fatal" (its own fatal log line, a
    non-zero exit), "assert" (a library's assertion), "clean-exit" (status 0: it went
    down as if nothing happened), "crash" (a signal or error with no message)."""
    if rc == 0:
        return "clean-exit"
    if re.search(r"\bfatal\b|\bpanic\b", line, re.IGNORECASE):
        return "fatal"
    if "Assertion" in line:
        return "assert"
    return "crash"


def check_disk(outcomes):
    """Anomalies among disk-fault outcomes: a fault never switched on (fiu-ctrl
    failed: nothing was tested); a member that went down without saying why (a
    crash, or a library's assertion that does not name the error), or as if it had
    shut down cleanly; a member that kept running through a failed write, pwrite
    or fdatasync (every member writes its WAL and store all along, so the error was
    swallowed; a directory fsync may not be called while its fault is on); and
    faults that stopped no member at all."""
    found = []
    for o in outcomes:
        if o.get("enabled") is False:
            found.append(anomaly("disk", "%s: %s was never switched on" % (o["member"], o["point"])))
        elif o.get("stopped"):
            if o["how"] != "fatal":
                found.append(anomaly("disk", "%s under %s stopped with %s (status %s): %r"
                                     % (o["member"], o["mode"], o["how"], o["rc"], o["line"])))
        elif o.get("mode") != "fsync-eio":
            found.append(anomaly("disk", "%s kept running through %s" % (o["member"], o["mode"])))
    if outcomes and not any(o.get("stopped") and o.get("how") == "fatal" for o in outcomes):
        found.append(anomaly("disk", "no disk fault stopped a member: %d outcomes" % len(outcomes)))
    return found

def check_slow(outcomes):
    """Anomalies among slow-fault outcomes: a fault never switched on (no control
    file, or the member was not running); a member that stopped under a slow disk
    (syncs that succeed, late, are no reason to stop); and a fault that delayed
    no call on a member that stayed up (the shim was not in the member, or sat
    behind something that answered its syncs: nothing was tested)."""
    found = []
    for o in outcomes:
        if o.get("enabled") is False:
            found.append(anomaly("slow", "%s: slow syncs (%s ms) never switched on"
                                 % (o["member"], o["delay_ms"])))
        elif o.get("stopped"):
            found.append(anomaly("slow", "%s stopped under %s ms slow syncs with %s (status %s): %r"
                                 % (o["member"], o["delay_ms"], o.get("how"), o.get("rc"),
                                    o.get("line"))))
        elif not o.get("delayed"):
            found.append(anomaly("slow", "%s: %s ms slow syncs delayed no call (%s calls seen)"
                                 % (o["member"], o["delay_ms"], o.get("calls"))))
    return found
