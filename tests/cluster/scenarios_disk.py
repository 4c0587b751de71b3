"""Cluster scenarios on the disk and the raft log: wal_corruption,
shutdown_pending, snapshot_catchup."""

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

import harness  # noqa: E402,F401
import cluster_lib as lib  # noqa: E402
from cluster_lib import *  # noqa: E402,F401,F403


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


def judge_refusal(failures, what, m, rc, started, damage, named, expected):
    """Records a failure unless m's exit code rc (after start on a `damage`d
    WAL) is non-zero and `named` holds the log lines that explain it."""
    log("%s: %s exited with %d after %.2fs" % (what, m.name, rc, time.monotonic() - started))
    if rc == 0:
        failures.append("%s: %s exited with status 0 on a %s WAL" % (what, m.name, damage))
    elif not named:
        failures.append("%s: %s refused to start, but no log line %s" % (what, m.name, expected))
    else:
        log("%s: error: %s" % (what, named[-1].strip()[:300]))
        return
    log("FAIL %s\n%s" % (failures[-1], m.log_tail(15)))


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
        named = [ln for ln in read_log(m).splitlines() if re.search(must_match, ln, re.I)]
        judge_refusal(failures, what, m, rc, t, "damaged", named, "matches %r" % must_match)

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
        named = [ln for ln in read_log(f).splitlines() if re.search(r"wal", ln, re.I) or fname in ln]
        judge_refusal(failures, what, f, rc, t, "corrupted", named,
                      "names the WAL (\"wal\" or %s)" % fname)
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
    if lib.INJECT == "snapshot_sent":  # self-test: pretend none was sent
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
