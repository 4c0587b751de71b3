#!/usr/bin/python3
"""CI smoke test of bench/compare: a 1-round --quick run of two workloads
against a 3-member ketcd and a 3-member Debian etcd prints the ratio table,
writes parseable results that name no path of this machine (they are meant
to be committed), and leaves no process behind. No performance is asserted.

usage: compare_smoke.py --ketcd PATH --bench PATH
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--bench", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ketcd-compare-smoke-")
    try:
        out = os.path.join(tmp, "out")
        env = dict(os.environ, KETCD_BENCH_DATA=tmp)
        cmd = [sys.executable, os.path.join(ROOT, "bench", "compare"), "--quick", "--rounds", "1",
               "--only", "put-1,range-l-1", "--out", out, "--ketcd", args.ketcd, "--bench", args.bench]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=150, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            check("compare finishes within 150 s", False, str(e))
            return 1
        check("compare exits 0", r.returncode == 0, "exit %d\n%s%s" % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
        check("prints the ratio table", "| put, 1 client, leader |" in r.stdout and "ketcd/etcd" in r.stdout
              and "| linearizable range, 1 client |" in r.stdout, r.stdout[-2000:])
        try:
            with open(os.path.join(out, "summary.json")) as f:
                summary = json.load(f)
            rows = {row["workload"]: row for row in summary["rows"]}
            check("summary has both workloads", sorted(rows) == ["put-1", "range-l-1"], str(sorted(rows)))
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
            except (OSError, ValueError, KeyError, IndexError) as e:
                check("%s parses" % os.path.basename(path), False, str(e))
        check("table.md written", os.path.exists(os.path.join(out, "table.md")))
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
        left = leftover_pids(tmp)
        check("no process left running", not left, str(left))
        for pid in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("compare smoke: %s" % ("FAILED: " + ", ".join(FAILED) if FAILED else "all passed"))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
