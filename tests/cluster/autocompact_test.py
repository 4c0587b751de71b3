#!/usr/bin/python3
"""Auto-compaction (--auto-compaction-mode, --auto-compaction-retention),
differential where etcd 3.4 allows it:

    /usr/bin/python3 tests/cluster/autocompact_test.py --server BUILD/server/ketcd

  - bad flag values: etcd 3.4 and ketcd refuse the same ones, exit 1, with
    the same message (etcd's "etcd --help" read as "ketcd --help");
  - periodic, retention 2s, on 3 members, against Debian's etcd 3.4 and
    ketcd, transcripts compared: while a writer puts 120 keys at ~20/s the
    compaction trails the head (it keeps the revisions of the last 2 s);
    once writes stop, every member compacts to the head, at the same
    revision (endpoint hashkv: hash and compact_revision equal);
    `etcdctl get --rev` below it and `etcdctl compact` give etcd's compacted
    error; the leader is killed (kill -9) and the new leader goes on
    compacting. On ketcd, the compaction log lines come from the leader
    only;
  - revision, retention 10, on 3 ketcd members only: etcd's revision mode
    acts every 5 minutes, with no way to shorten it, so ketcd runs with the
    test failpoint KETCD_TEST_AUTO_COMPACTION_INTERVAL=1s (honoured only
    with KETCD_TEST_FAILPOINTS=1): 30 puts, every member compacts to head-10
    and logs nothing more while no write comes; after the leader is killed
    the new one compacts 5 later puts to head-10.
Every process is stopped by PID; temp dirs are removed; bounded by --timeout.
"""

import argparse
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import grpc

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))
import harness  # noqa: E402
import etcd3.etcdrpc as etcdrpc  # noqa: E402
from scenario_lib import failures as failed, log, soft_check as check_log  # noqa: E402

ETCD = "/usr/bin/etcd"
FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]
COMPACTED = "etcdserver: mvcc: required revision has been compacted"


class Failure(Exception):
    pass


def etcdctl(endpoint, *args):
    r = subprocess.run([harness.ETCDCTL, "--endpoints=" + endpoint, "--dial-timeout=2s",
                        "--command-timeout=5s"] + list(args), env=harness.etcdctl_env(),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    # etcdctl's JSON warnings (timestamps, client ids) are not what is compared.
    err = [line for line in r.stderr.decode().splitlines() if not line.startswith("{")]
    return r.returncode, r.stdout.decode().strip(), "\n".join(err).strip()


def hashkv(member):
    """(hash, compact_revision, header revision) of one member, or None."""
    try:
        with grpc.insecure_channel(member.endpoint) as ch:
            r = etcdrpc.MaintenanceStub(ch).HashKV(etcdrpc.HashKVRequest(revision=0), timeout=5)
            return r.hash, r.compact_revision, r.header.revision
    except grpc.RpcError:
        return None


def leader(members):
    for m in members:
        try:
            with grpc.insecure_channel(m.endpoint) as ch:
                s = etcdrpc.MaintenanceStub(ch).Status(etcdrpc.StatusRequest(), timeout=5)
                if s.leader == s.header.member_id:
                    return m
        except grpc.RpcError:
            pass
    return None


def new_leader(survivors, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = leader(survivors)
        if m is not None:
            return m
        time.sleep(0.1)
    raise Failure("no new leader among %s" % [m.name for m in survivors])


def put(member, key, value):
    with grpc.insecure_channel(member.endpoint) as ch:
        return etcdrpc.KVStub(ch).Put(etcdrpc.PutRequest(key=key.encode(), value=value.encode()),
                                      timeout=10).header.revision


def wait_compacted(members, rev, timeout=20):
    """Until every member's compact_revision is `rev`; their hashkv answers."""
    deadline = time.monotonic() + timeout
    answers = []
    while time.monotonic() < deadline:
        answers = [hashkv(m) for m in members]
        if all(a is not None and a[1] == rev for a in answers):
            return answers
        time.sleep(0.1)
    raise Failure("compact_revision never reached %d on every member: %s" % (rev, answers))


def compaction_checks(t, members, head, what):
    """Lines for the transcript once every member compacted to `head`."""
    answers = wait_compacted(members, head)
    t.append("%s: every member compacted to %d" % (what, head))
    t.append("%s: hashkv equal on %d members: %s" % (what, len(members), len({a[0] for a in answers}) == 1))
    ep = members[0].endpoint
    t.append("%s: get --rev=%d: %s" % (what, head - 1, etcdctl(ep, "get", "k", "--rev=%d" % (head - 1))))
    t.append("%s: get --rev=%d: %s" % (what, head, etcdctl(ep, "get", "k", "--print-value-only",
                                                           "--rev=%d" % head)))
    t.append("%s: compact %d: %s" % (what, head - 1, etcdctl(ep, "compact", str(head - 1))))


def log_count(member, needle):
    if not member.log_path or not os.path.exists(member.log_path):
        return 0
    with open(member.log_path, errors="replace") as f:
        return f.read().count(needle)


def periodic(binary, is_ketcd):
    t = []
    flags = FLAGS + ["--auto-compaction-mode", "periodic", "--auto-compaction-retention", "2s"]
    with harness.Cluster(binary, 3, extra_flags=flags) as c:
        c.start(health_timeout=30)
        first = new_leader(c.members)
        # 120 puts at ~20/s: the compaction keeps the last 2 s, ~40 revisions.
        lags = []
        for i in range(1, 121):
            head = put(first, "k", "v%d" % i)
            if i % 20 == 0 and i >= 80:
                a = hashkv(first)
                lags.append((a[1], head) if a else None)
            time.sleep(0.05)
        t.append("120 puts, head %d" % head)
        trailing = [x for x in lags if x and x[0] > 1 and head > x[0]]
        t.append("while writing, compacted behind the head: %s" %
                 (bool(trailing) and all(h - c >= 5 for c, h in trailing)))
        log("while writing, (compacted, head): %s" % lags)
        compaction_checks(t, c.members, head, "quiet")
        if is_ketcd:
            others = [m for m in c.members if m is not first]
            check_log("the leader logs its compactions",
                      log_count(first, "completed auto periodic compaction") > 0)
            check_log("followers log no compaction",
                      all(log_count(m, "auto periodic compaction") == 0 for m in others))
        first.kill9()
        survivors = [m for m in c.members if m is not first]
        second = new_leader(survivors)
        for i in range(121, 141):
            head = put(second, "k", "v%d" % i)
        t.append("after the leader's kill, 20 puts, head %d" % head)
        compaction_checks(t, survivors, head, "new leader")
        if is_ketcd:
            check_log("the new leader logs its compactions",
                      log_count(second, "completed auto periodic compaction") > 0)
    return t


def revision(binary):
    flags = FLAGS + ["--auto-compaction-mode", "revision", "--auto-compaction-retention", "10"]
    env = {"KETCD_TEST_FAILPOINTS": "1", "KETCD_TEST_AUTO_COMPACTION_INTERVAL": "1s"}
    with harness.Cluster(binary, 3, extra_flags=flags, env_extra=env) as c:
        c.start(health_timeout=30)
        first = new_leader(c.members)
        for i in range(1, 31):
            head = put(first, "k", "v%d" % i)
        try:
            answers, missed = wait_compacted(c.members, head - 10), ""
        except Failure as e:
            answers, missed = [], str(e)
        check_log("revision: every member compacted to head-10 (%d)" % (head - 10),
                  len(answers) == 3 and all(a[1] == head - 10 for a in answers), missed)
        check_log("revision: hashkv equal on every member", len({a[0] for a in answers}) == 1, str(answers))
        rc, out, err = etcdctl(first.endpoint, "get", "k", "--rev=%d" % (head - 11))
        check_log("revision: get below the compaction: etcd's error", rc != 0 and COMPACTED in err, err)
        rc, out, err = etcdctl(first.endpoint, "get", "k", "--print-value-only", "--rev=%d" % (head - 10))
        check_log("revision: get at the compaction", rc == 0 and out == "v%d" % (head - 11), out + err)
        started = "starting auto revision compaction revision=%d revision-compaction-retention=10" % (head - 10)
        check_log("revision: the leader logs it", log_count(first, started) == 1)
        rounds = log_count(first, "starting auto revision compaction")
        time.sleep(2.5)  # two more rounds with no write: nothing to do
        check_log("revision: nothing more while no write comes, nothing logged by followers",
                  log_count(first, "starting auto revision compaction") == rounds and
                  all(log_count(m, "auto revision compaction") == 0 for m in c.members if m is not first))
        first.kill9()
        survivors = [m for m in c.members if m is not first]
        second = new_leader(survivors)
        for i in range(31, 36):
            head = put(second, "k", "v%d" % i)
        wait_compacted(survivors, head - 10)
        check_log("revision: after the leader's kill, the new leader compacts to head-10 (%d)" % (head - 10),
                  log_count(second, "completed auto revision compaction revision=%d" % (head - 10)) == 1)


def refusal(binary, args, tmp):
    """(exit code, the message) of a server started with bad flags."""
    data = tempfile.mkdtemp(prefix="flags-", dir=tmp)
    port = harness.free_ports(2)
    try:
        r = subprocess.run([binary, "--data-dir", os.path.join(data, "d"),
                            "--listen-client-urls", "http://127.0.0.1:%d" % port[0],
                            "--advertise-client-urls", "http://127.0.0.1:%d" % port[0],
                            "--listen-peer-urls", "http://127.0.0.1:%d" % port[1],
                            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % port[1],
                            "--initial-cluster", "default=http://127.0.0.1:%d" % port[1]] + args,
                           env=harness.clean_env(), stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
    except subprocess.TimeoutExpired:
        return "started", ""  # killed by subprocess.run
    err = r.stderr.decode()
    m = re.search(r"(?:etcdmain|ketcd): (.*)", err.strip().splitlines()[-1]) if err.strip() else None
    msg = m.group(1).replace("'etcd --help'", "'ketcd --help'") if m else err.strip()[-200:]
    return r.returncode, msg


BAD_FLAGS = [
    ["--auto-compaction-mode", "hourly"],
    ["--auto-compaction-mode", "hourly", "--auto-compaction-retention", "1"],
    ["--auto-compaction-retention", "1.5"],
    ["--auto-compaction-retention", "-1"],
    ["--auto-compaction-retention", "abc"],
    ["--auto-compaction-retention", "1x"],
    ["--auto-compaction-mode", "revision", "--auto-compaction-retention", "ten"],
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--etcd", default=ETCD, help="the reference server")
    ap.add_argument("--timeout", type=int, default=150)
    args = ap.parse_args()
    server = os.path.abspath(args.server)

    def on_alarm(signum, frame):
        raise harness.HarnessError("ran past %d s" % args.timeout)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.timeout)
    harness.sweep_stale_tmpdirs()
    tmp = tempfile.mkdtemp(prefix=harness.TMP_PREFIX)
    try:
        for bad in BAD_FLAGS:
            want, got = refusal(args.etcd, bad, tmp), refusal(server, bad, tmp)
            check_log("%s refused as etcd does: %s" % (" ".join(bad), got), want == got and want[0] == 1,
                      "etcd %s, ketcd %s" % (want, got))
        runs = {}
        for binary in (args.etcd, server):
            log("periodic, against %s" % binary)
            runs[binary] = periodic(binary, binary == server)
        want, got = runs[args.etcd], runs[server]
        log("periodic transcript:\n  " + "\n  ".join(got))
        check_log("periodic: the transcripts are equal (%d lines)" % len(got), want == got and len(got) > 0,
                  "\n" + "\n".join(difflib.unified_diff(want, got, "etcd", "ketcd", lineterm="")))
        log("revision, against ketcd only")
        revision(server)
    except (harness.HarnessError, Failure, subprocess.TimeoutExpired, grpc.RpcError) as e:
        check_log("ran to the end", False, str(e))
    finally:
        signal.alarm(0)
        shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        log("FAILED: %d check(s): %s" % (len(failed), "; ".join(failed)))
        return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
