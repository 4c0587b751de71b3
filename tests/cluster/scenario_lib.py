"""What the scenario scripts of tests/cluster share: a named check that logs
its success or raises Failure with the detail, etcdctl with a bounded run,
and the main() that runs the chosen scenarios, each with a temp dir of its
own and a time bound, and exits 1 if any failed.

Log lines are tagged with the script's name ("[autotls]" for
autotls_test.py). A scenario is a function (server binary, temp dir).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))

import harness  # noqa: E402

TAG = os.path.basename(sys.argv[0]).replace("_test.py", "").replace(".py", "")


class Failure(Exception):
    pass


def log(msg):
    print("[%s] %s %s" % (TAG, time.strftime("%H:%M:%S"), msg), flush=True)


def check(what, ok, detail=""):
    if not ok:
        raise Failure("%s\n%s" % (what, detail))
    log("ok: " + what)


# For scripts that run every check and report all failures at the end.
failures = []


def soft_check(what, ok, detail=""):
    """Logs the check; a failure is recorded in `failures`, not raised."""
    if ok:
        log("ok: " + what)
    else:
        failures.append(what)
        log("FAIL: %s: %s" % (what, detail))


def etcdctl(endpoints, tls, *args, timeout=15, command_timeout="5s"):
    """(exit code, stdout, stderr) of etcdctl against `endpoints` with the
    TLS flags `tls`."""
    r = subprocess.run([harness.ETCDCTL, "--endpoints=" + endpoints, "--dial-timeout=2s",
                        "--command-timeout=" + command_timeout] + tls + list(args),
                       env=harness.etcdctl_env(), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def soft_main(body, flags=(), size=3, default_timeout=150):
    """For the scripts of soft checks: parses --server and --timeout, runs
    body(cluster) on a started harness.Cluster of `size` members with
    `flags` (stopped and removed after), and returns 1 if any check failed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--timeout", type=float, default=default_timeout)
    args = ap.parse_args()
    harness.sweep_stale_tmpdirs()
    timer = threading.Timer(args.timeout, lambda: os._exit(3))
    timer.daemon = True
    timer.start()
    with harness.Cluster(os.path.abspath(args.server), size, extra_flags=flags) as c:
        c.start(health_timeout=30)
        body(c)
        if failures:
            log(c.log_tails(15))
    if failures:
        log("FAILED: %d check(s): %s" % (len(failures), "; ".join(failures)))
        return 1
    log("PASS")
    return 0


def main(scenarios, default_timeout=150):
    """Runs --scenario (or all of `scenarios`, a dict name -> function)
    against --server; returns the exit code."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--scenario", default="all", choices=["all"] + list(scenarios))
    ap.add_argument("--scenario-timeout", type=float, default=default_timeout)
    args = ap.parse_args()
    server = os.path.abspath(args.server)  # members run in their temp dirs
    names = list(scenarios) if args.scenario == "all" else [args.scenario]

    def on_alarm(signum, frame):
        raise Failure("scenario ran past %.0f s" % args.scenario_timeout)

    signal.signal(signal.SIGALRM, on_alarm)
    failed = []
    for name in names:
        tmp = tempfile.mkdtemp(prefix=harness.TMP_PREFIX)
        signal.alarm(int(args.scenario_timeout))
        try:
            scenarios[name](server, tmp)
            log("PASS %s" % name)
        except (Failure, harness.HarnessError, subprocess.TimeoutExpired) as e:
            log("FAIL %s: %s" % (name, e))
            failed.append(name)
        finally:
            signal.alarm(0)
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0
