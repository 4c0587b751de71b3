#!/usr/bin/python3
"""CI smoke test of bench/compare: a 1-round --quick run of two workloads
against a 3-member ketcd and a 3-member Debian etcd prints the ratio table,
writes parseable results that name no path of this machine (they are meant
to be committed), and leaves no process behind. No performance is asserted.

With --tls, bench/compare runs both systems with mutual TLS on client and
peer links: every request of both must succeed over TLS (ketcd-bench
records that it dialed https), the results and the table's header must say
TLS, and no key material or certificate path may reach them. Without it,
they must say plaintext.

With --auth simple|jwt, bench/compare turns auth on in both systems and
ketcd-bench runs as the bench user: every request of both must succeed
(so each connection authenticated and its token was accepted), ketcd-bench
must record --user with the password masked, summary.json, every run and
the table's title must name the mode, and no password may reach the results.

usage: compare_smoke.py --ketcd PATH --bench PATH [--tls] [--auth simple|jwt]
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FAILED = []
# Workloads of each mode and their rows in the printed table; TLS (and auth) take one
# with 10 connections, so that more than one handshake is made.
WORKLOADS = {
    False: {"put-1": "| put, 1 client, leader |", "range-l-1": "| linearizable range, 1 client |"},
    True: {"put-1": "| put, 1 client, leader |", "put-100": "| put, 100 clients / 10 conns, leader |"},
}


def check(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail and not ok else ""), flush=True)
    if not ok:
        FAILED.append(name)


def leftover_pids(marker):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


def local_paths(tmp, *binaries):
    """This machine's paths, which committed results must not name: the checkout, the binaries' folders and
    compare's temp dirs under `tmp`."""
    return ({ROOT + os.sep, os.path.join(tmp, "ketcd-compare-")}
            | {os.path.dirname(os.path.abspath(b)) + os.sep for b in binaries})


def check_names_no_local_path(out, paths):
    """No file under `out` names one of `paths` (see local_paths)."""
    for path in glob.glob(os.path.join(out, "**", "*"), recursive=True):
        if os.path.isfile(path):
            with open(path, errors="replace") as f:
                named = [p for p in paths if p in f.read()]
            check("%s names no local path" % os.path.relpath(path, out), not named, str(named))


def check_cleaned_up(tmp, what="compare's temp dir removed"):
    """bench/compare, run with KETCD_BENCH_DATA=tmp, removed its temp dir and
    left no process whose command line names tmp (any found are killed)."""
    check(what, not glob.glob(os.path.join(tmp, "ketcd-compare-*")), str(glob.glob(os.path.join(tmp, "*"))))
    left = leftover_pids(tmp)
    check("no process left running", not left, str(left))
    for pid in left:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def run_compare(argv, timeout, tmp):
    """bench/compare with `argv` (its data under `tmp`); the finished process,
    checked to exit 0, or None (a failed check) past `timeout` seconds."""
    cmd = [sys.executable, os.path.join(ROOT, "bench", "compare")] + argv
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, KETCD_BENCH_DATA=tmp))
    except subprocess.TimeoutExpired as e:
        check("compare %s finishes within %d s" % (" ".join(argv[:2]), timeout), False, str(e))
        check_cleaned_up(tmp)  # kills the members compare left behind
        return None
    check("compare exits 0", r.returncode == 0, "exit %d\n%s%s" % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    return r


def verdict(name):
    """Prints the smoke's last line; its exit code."""
    print("%s: %s" % (name, "FAILED: " + ", ".join(FAILED) if FAILED else "all passed"))
    return 1 if FAILED else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--tls", action="store_true", help="run bench/compare --tls")
    ap.add_argument("--auth", choices=("none", "simple", "jwt"), default="none", help="run bench/compare --auth")
    args = ap.parse_args()
    workloads = WORKLOADS[args.tls or args.auth != "none"]  # auth: 10 conns, 10 logins
    tmp = tempfile.mkdtemp(prefix="ketcd-compare-smoke-")
    try:
        out = os.path.join(tmp, "out")
        argv = ["--quick", "--rounds", "1", "--only", ",".join(workloads), "--out", out,
                "--ketcd", args.ketcd, "--bench", args.bench]
        argv += ["--tls"] if args.tls else []
        argv += ["--auth", args.auth]
        r = run_compare(argv, 150, tmp)
        if r is None:
            return 1
        check("prints the ratio table", "ketcd/etcd" in r.stdout and all(row in r.stdout for row in workloads.values()),
              r.stdout[-2000:])
        # the leader's etcd_disk_* histograms around put-1 (plaintext /metrics only)
        check("put-1's disk rows for both systems only without TLS",
              ("| WAL fdatasyncs per put |" in r.stdout) is not args.tls, r.stdout[-2000:])
        transport = "TLS" if args.tls else "plaintext"
        try:
            with open(os.path.join(out, "summary.json")) as f:
                summary = json.load(f)
            check("summary.json says %s" % transport, summary["tls"] is args.tls, str(summary.get("tls")))
            check("every run dialed %s" % transport, all(run["tls"] is args.tls for run in summary["runs"]),
                  str([run.get("tls") for run in summary["runs"]]))
            check("summary.json says auth %s" % args.auth, summary.get("auth") == args.auth, str(summary.get("auth")))
            check("every run says auth %s" % args.auth, all(run.get("auth") == args.auth for run in summary["runs"]),
                  str([run.get("auth") for run in summary["runs"]]))
            rows = {row["workload"]: row for row in summary["rows"]}
            check("summary has both workloads", sorted(rows) == sorted(workloads), str(sorted(rows)))
            for name, row in rows.items():
                for system in ("ketcd", "etcd"):
                    check("%s/%s ran once without errors" % (name, system),
                          row[system]["runs"] == 1 and row[system]["errors"] == 0 and row[system]["rps"] > 0,
                          json.dumps(row[system]))
        except (OSError, ValueError, KeyError) as e:
            check("summary.json parses", False, str(e))
        raws = sorted(glob.glob(os.path.join(out, "raw", "*.json")))
        check("one raw JSON per run", len(raws) == 4, str(raws))
        for path in raws:
            try:
                with open(path) as f:
                    data = json.load(f)
                check("%s: argv[0] is ketcd-bench" % os.path.basename(path), data["argv"][0] == "ketcd-bench",
                      str(data["argv"][:1]))
                check("%s: %s to %s endpoints" % (os.path.basename(path), transport, "https" if args.tls else "http"),
                      data["tls"] is args.tls and data["endpoints"].startswith("https://") is args.tls
                      and ("tls/ca.crt" in data["argv"]) is args.tls, json.dumps(data["argv"]))
                check("%s: --user bench:*** only with --auth" % os.path.basename(path),
                      ("bench:***" in data["argv"]) is (args.auth != "none"), json.dumps(data["argv"]))
            except (OSError, ValueError, KeyError, IndexError) as e:
                check("%s parses" % os.path.basename(path), False, str(e))
        try:
            with open(os.path.join(out, "table.md")) as f:
                title = f.readline().strip()
            check("table.md's title says TLS only with --tls", (", TLS" in title) is args.tls, title)
            check("table.md's title names the auth mode", title.endswith(", auth " + args.auth)
                  is (args.auth != "none"), title)
        except OSError as e:
            check("table.md written", False, str(e))
        if shutil.which("gnuplot"):
            check("plots drawn", os.path.exists(os.path.join(out, "put-1.png")))
        # Results are committed: nothing in them may name this machine's paths.
        # (--out is ours, outside the repository, and may be quoted.)
        machine_paths = {ROOT + os.sep, os.path.dirname(os.path.dirname(os.path.abspath(args.ketcd))) + os.sep,
                         os.path.dirname(os.path.abspath(args.bench)) + os.sep,
                         os.path.join(tmp, "ketcd-compare-")}
        for path in glob.glob(os.path.join(out, "**", "*"), recursive=True):
            if os.path.isdir(path) or path.endswith(".png"):
                continue
            with open(path, errors="replace") as f:
                text = f.read()
            named = [p for p in machine_paths if p in text]
            check("%s names no local path" % os.path.relpath(path, out), not named, str(named))
            check("%s holds no key material" % os.path.relpath(path, out), "PRIVATE KEY" not in text)
            check("%s holds no password" % os.path.relpath(path, out), "bench-pw" not in text and "root-pw" not in text)
        check_cleaned_up(tmp, "compare's temp dir (data, certificates) removed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return verdict("compare smoke%s%s" % (" --tls" if args.tls else "",
                                          " --auth " + args.auth if args.auth != "none" else ""))


if __name__ == "__main__":
    sys.exit(main())
