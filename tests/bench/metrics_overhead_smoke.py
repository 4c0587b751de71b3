#!/usr/bin/python3
"""CI smoke test of bench/compare --metrics-overhead: a 1-round --quick run of
three workloads against a 3-member ketcd with --metrics basic and one with
--metrics extensive must print the basic/extensive table with a row per
workload and a header saying the leaders were scraped every second; every
run of both variants must have nonzero throughput, no errors and at least
one scrape; the extensive variant's kept scrape must hold
grpc_server_handling_seconds_bucket with Puts counted, the basic one's must
not hold it (and must be a real scrape: etcd's names, the Puts counted in
grpc_server_handled_total). No performance is asserted.

usage: metrics_overhead_smoke.py --ketcd PATH --bench PATH
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from compare_smoke import check, check_cleaned_up, run_compare, verdict  # noqa: E402

ROWS = {"put-1": "| put, 1 client, leader |", "put-1000": "| put, 1000 clients / 100 conns, leader |",
        "range-l-1000": "| linearizable range, 1000 clients |"}
HEADER = "| workload | basic req/s | extensive req/s | extensive/basic |"


def count(text, family, method):
    """The value of `family{grpc_method="<method>",...}` summed over its series."""
    pattern = r'^%s\{[^}]*grpc_method="%s"[^}]*\} (\S+)$' % (re.escape(family), method)
    return sum(float(v) for v in re.findall(pattern, text, re.M))


def check_scrapes(out):
    texts = {}
    for variant in ("basic", "extensive"):
        try:
            with open(os.path.join(out, "metrics-%s.txt" % variant)) as f:
                texts[variant] = f.read()
        except OSError as e:
            check("metrics-%s.txt kept" % variant, False, str(e))
            return
        check("%s: a real scrape (etcd_server_has_leader 1)" % variant,
              re.search(r"^etcd_server_has_leader 1$", texts[variant], re.M) is not None, texts[variant][:300])
        check("%s: the workloads' Puts counted in grpc_server_handled_total" % variant,
              count(texts[variant], "grpc_server_handled_total", "Put") >= 500,
              str(count(texts[variant], "grpc_server_handled_total", "Put")))
    check("extensive: grpc_server_handling_seconds_bucket exposed",
          "grpc_server_handling_seconds_bucket" in texts["extensive"])
    check("extensive: the Puts observed in grpc_server_handling_seconds",
          count(texts["extensive"], "grpc_server_handling_seconds_count", "Put") >= 500,
          str(count(texts["extensive"], "grpc_server_handling_seconds_count", "Put")))
    check("basic: no grpc_server_handling_seconds_bucket", "grpc_server_handling_seconds_bucket" not in texts["basic"])


def check_summary(out):
    try:
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        check("summary.json says metrics-overhead", summary.get("compared") == "metrics-overhead",
              str(summary.get("compared")))
        rows = {row["workload"]: row for row in summary["rows"]}
        check("summary has the three workloads", sorted(rows) == sorted(ROWS), str(sorted(rows)))
        for name, row in rows.items():
            for variant in ("basic", "extensive"):
                v = row[variant]
                check("%s/%s ran once, nonzero throughput, no errors" % (name, variant),
                      v["runs"] == 1 and v["errors"] == 0 and v["rps"] > 0, json.dumps(v))
                check("%s/%s: the leader scraped during the run" % (name, variant), v["scrapes"] >= 1, json.dumps(v))
        check("six runs, no other system", sorted(r["system"] for r in summary["runs"]) == ["basic"] * 3 +
              ["extensive"] * 3, str([r["system"] for r in summary["runs"]]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        check("summary.json parses", False, repr(e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--bench", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ketcd-metrics-smoke-")
    try:
        out = os.path.join(tmp, "out")
        r = run_compare(["--metrics-overhead", "--quick", "--rounds", "1", "--only", ",".join(ROWS), "--out", out,
                         "--ketcd", args.ketcd, "--bench", args.bench], 55, tmp)
        if r is None:
            return 1
        check("prints the basic/extensive table", HEADER in r.stdout, r.stdout[-2000:])
        for name, row in ROWS.items():
            check("table has the %s row" % name, row in r.stdout)
        check("the header says the leader was scraped every second", "/metrics is scraped every second" in r.stdout)
        check("no etcd column", "etcd req/s" not in r.stdout and "ketcd/etcd" not in r.stdout)
        check_summary(out)
        check_scrapes(out)
        check_cleaned_up(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return verdict("metrics overhead smoke")


if __name__ == "__main__":
    sys.exit(main())
