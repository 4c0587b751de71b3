#!/usr/bin/python3
"""CI smoke test of bench/compare --scale: a --quick run with a tiny store
(5,000 keys of 1 KiB) against a 3-member ketcd and a 3-member Debian etcd,
one after the other, must exit 0 and write every section's table into
table.md, summary.json's "scale" figures for both systems (all numbers
finite; the load, the ranges and the writer without errors; every random
range found its key; the writer measured in each phase and stopped by
SIGINT; compaction at a revision past the load and the overwrite; three
defrags, leader last; a restart time), one raw JSON per ketcd-bench run,
no path of this machine in the results, and nothing left running. Also
that ketcd-bench's range refuses KEY together with --key-space-size, and
neither. No speed is asserted.

usage: scale_smoke.py --ketcd PATH --bench PATH [--keys N]
"""
import argparse
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from compare_smoke import (check, check_cleaned_up, check_names_no_local_path, local_paths, run_compare,  # noqa: E402
                           verdict)

SECTIONS = ["Load (`put --sequential-keys`", "Memory and disk after the load:",
            "Linearizable range of one random loaded key per request", "Writes while the store is compacted",
            "Restart with the store:"]
ROWS = ["| puts/s |", "| MiB/s of values |", "| load time, s |", "| put p50 / p99 during the load, ms |",
        "| peak RSS per member (max of 3), MiB |", "| disk per member (du of the data dir, mean of 3), MiB |",
        "| Status dbSize per member (mean of 3), MiB |", "| req/s |", "| p50 / p99, ms |",
        "| ranges that found no key | 0 | 0 |", "| put p50 / p99 idle, ms", "| put p50 / p99 during the compaction, ms",
        "| put p50 / p99 during the defrags, ms", "| p99 during the compaction / idle p99 |",
        "| p99 during the defrags / idle p99 |", "| `etcdctl compaction --physical`, s |",
        "| `etcdctl defrag`, all 3 members, s |", "| writer errors | 0 | 0 |",
        "| the disk's writes (all 3 members), MiB/s: idle / compaction / defrags |",
        "| WAL fdatasyncs over 8 ms (all 3 members): idle / compaction / defrags |",
        "| follower restart until it serves a linearizable get, s |"]
RUNS = ["load", "range-random", "overwrite", "write-idle", "write-compaction", "write-defrag"]


def numbers(x, path=""):
    """Every number in x with its path, booleans aside."""
    if isinstance(x, dict):
        return [n for k, v in x.items() for n in numbers(v, path + "." + str(k))]
    if isinstance(x, list):
        return [n for i, v in enumerate(x) for n in numbers(v, "%s[%d]" % (path, i))]
    return [(path, x)] if isinstance(x, (int, float)) and not isinstance(x, bool) else []


def check_system(system, d, keys):
    bad = [(p, v) for p, v in numbers(d) if not math.isfinite(v) or v < 0]
    check("%s: every figure a finite number >= 0" % system, not bad, str(bad[:5]))
    check("%s: the load put every key without errors" % system, d["load"]["errors"] == 0 and d["load"]["rps"] > 0
          and d["load"]["seconds"] > 0, json.dumps(d["load"]))
    mem = d["memory"]
    check("%s: RSS, disk and dbSize of 3 members" % system, len(mem["members"]) == 3 and mem["peak_rss_mib"] > 0
          and all(m["disk_mib"] > 0 and m["db_mib"] > 0 for m in mem["members"]), json.dumps(mem))
    r = d["range"]
    check("%s: every random range found its key, none failed" % system,
          r["empty"] == 0 and r["errors"] == 0 and r["rps"] > 0 and r["p50_ms"] <= r["p99_ms"], json.dumps(r))
    w = d["writes"]
    check("%s: overwrote half the keys" % system, w["overwrite"]["keys"] == keys // 2, json.dumps(w["overwrite"]))
    check("%s: compacted past the load and the overwrite" % system, w["compact_rev"] > keys + keys // 2,
          str(w["compact_rev"]))
    for phase in ("idle", "compaction", "defrag"):
        p = w[phase]
        check("%s: writer %s measured without errors" % (system, phase),
              p["puts"] > 0 and p["errors"] == 0 and 0 < p["p50_ms"] <= p["p99_ms"], json.dumps(p))
        disk = p.get("disk", {})
        # Every put is synced by every member's WAL; the disk's write rate
        # is there when the data dir is on a block device.
        check("%s: WAL fdatasyncs and the slow ones counted during %s" % (system, phase),
              disk.get("wal_fsyncs", 0) >= p["puts"] and 0 <= disk.get("wal_fsyncs_slow", -1) <= disk["wal_fsyncs"]
              and disk.get("disk_write_mib_s", 0) >= 0, json.dumps(disk))
    check("%s: compaction and defrags took a positive time" % system,
          w["compaction"]["op_s"] > 0 and w["defrag"]["op_s"] > 0, json.dumps(w["compaction"]))
    members = w["defrag"]["members"]
    check("%s: three defrags, leader last" % system, len(members) == 3 and members[-1]["leader"]
          and not any(m["leader"] for m in members[:-1]), json.dumps(members))
    check("%s: p99 ratios to idle" % system, abs(w["p99_ratio_defrag"] * w["idle"]["p99_ms"]
                                                  - w["defrag"]["p99_ms"]) < 1e-6, json.dumps(w))
    check("%s: a restart time" % system, d["restart_s"] > 0, str(d["restart_s"]))


def check_results(out, tmp, args):
    try:
        with open(os.path.join(out, "table.md")) as f:
            table = f.read()
        for text in SECTIONS + ROWS:
            check("table.md has %s" % text, text in table, table[-1500:])
    except OSError as e:
        check("table.md written", False, str(e))
    try:
        with open(os.path.join(out, "summary.json")) as f:
            s = json.load(f)
        sc = s["scale"]
        check("summary.json: compared scale, %d keys of 1024 bytes" % args.keys, s["compared"] == "scale"
              and sc["keys"] == args.keys and sc["val_size"] == 1024, str((s["compared"], sc["keys"], sc["val_size"])))
        for system in ("ketcd", "etcd"):
            check_system(system, sc[system], args.keys)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        check("summary.json has the scale figures", False, repr(e))
    raws = sorted(os.path.basename(p) for p in glob.glob(os.path.join(out, "raw", "*.json")))
    want = sorted("%s-%s-r1.json" % (r, s) for r in RUNS for s in ("ketcd", "etcd"))
    check("one raw JSON per ketcd-bench run", raws == want, str(raws))
    for name in raws:
        try:
            with open(os.path.join(out, "raw", name)) as f:
                data = json.load(f)
            check("%s: argv[0] is ketcd-bench" % name, data["argv"][0] == "ketcd-bench", str(data["argv"][:1]))
            if name.startswith("write-"):
                check("%s: the writer was stopped by SIGINT" % name, data.get("interrupted") == 1, str(data.keys()))
            if name.startswith("range-"):
                check("%s: no range without its key" % name, data.get("ranges_empty") == 0, str(data.get("notes")))
        except (OSError, ValueError, KeyError, IndexError) as e:
            check("%s parses" % name, False, repr(e))
    check_names_no_local_path(out, local_paths(tmp, args.ketcd, args.bench))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--keys", type=int, default=5000)
    args = ap.parse_args()
    for argv, words in ((["foo", "--key-space-size", "5"], "not both"), ([], "a non-empty KEY or --key-space-size")):
        r = subprocess.run([args.bench, "--endpoints", "127.0.0.1:1", "--total", "1", "range"] + argv,
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        check("range %s exits 2 saying %r" % (" ".join(argv), words), r.returncode == 2 and words in r.stderr,
              "exit %d: %s" % (r.returncode, r.stderr))
    tmp = tempfile.mkdtemp(prefix="ketcd-scale-smoke-")
    try:
        out = os.path.join(tmp, "out")
        r = run_compare(["--scale", "--quick", "--scale-keys", str(args.keys), "--out", out, "--ketcd", args.ketcd,
                         "--bench", args.bench], 160, tmp)
        if r is not None:
            check("prints the tables", "| p99 during the defrags / idle p99 |" in r.stdout, r.stdout[-2000:])
            check_results(out, tmp, args)
        check_cleaned_up(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return verdict("scale smoke")


if __name__ == "__main__":
    sys.exit(main())
