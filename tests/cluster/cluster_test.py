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
sys.path.insert(0, HERE)

import harness  # noqa: E402
import cluster_lib as lib  # noqa: E402
from cluster_lib import (ERROR, FAIL, PASS, SKIP, Ctx, Failure, ScenarioTimeout, Skip,  # noqa: E402
                         log, poller_main, worker_main)
from scenarios_basic import (sc_bootstrap, sc_kill_all, sc_leader_kill, sc_partition,  # noqa: E402
                             sc_readwrite)
from scenarios_disk import sc_shutdown_pending, sc_snapshot_catchup, sc_wal_corruption  # noqa: E402
from scenarios_watch_lease import sc_watch_lease_failover  # noqa: E402

SCENARIOS = lib.SCENARIOS

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
    args.server = os.path.abspath(args.server)  # members run in their temp dirs
    lib.INJECT = args.inject
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

