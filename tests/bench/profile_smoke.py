#!/usr/bin/python3
"""CI smoke test of bench/compare --profile: a 1-round --quick run of put-1
against a 3-member ketcd and a 3-member Debian etcd, with the extra round
in which each leader is recorded by `perf record`, must exit 0 and leave in
the results directory, per system, flame-put-1-<system>.svg (well-formed
XML with frames) and .folded, with frames of the system's own code: a
ketcd namespace (server::, storage::, raft::) in ketcd's (DWARF unwinding
reached past the libraries), a go.etcd.io function in etcd's (the stripped
binary's frames named from .gopclntab); table.md's profile section linking
both graphs with a top-functions table; summary.json's "profile" with
samples for both, while the medians still count one run per system (the
profiled run is not one of them); no perf data, process or temp dir left.
No performance is asserted.

Exits 77 (skipped) when perf is not installed or may not record here.

usage: profile_smoke.py --ketcd PATH --bench PATH
"""
import argparse
import glob
import json
import os
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from compare_smoke import ROOT, check, check_cleaned_up, run_compare, verdict  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "bench"))
import compare_profile  # noqa: E402

OWN_CODE = {"ketcd": ("server::", "storage::", "raft::"), "etcd": ("go.etcd.io/",)}


def check_graph(out, system):
    base = os.path.join(out, "flame-put-1-%s" % system)
    try:
        root = ET.parse(base + ".svg").getroot()
    except (OSError, ET.ParseError) as e:
        check("%s: the SVG parses" % system, False, str(e))
        return
    titles = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}title")]
    check("%s: the SVG has frames" % system, len(titles) > 10, str(len(titles)))
    names = [t[:t.rfind(" (")] for t in titles]
    own = [n for n in names if n.startswith(OWN_CODE[system])]
    check("%s: frames of its own code (%s)" % (system, ", ".join(OWN_CODE[system])), bool(own), str(names[:40]))
    try:
        with open(base + ".folded") as f:
            lines = f.read().splitlines()
        check("%s: folded stacks 'a;b count'" % system, lines and all(
            line.rpartition(" ")[2].isdigit() and ";" in line for line in lines), str(lines[:3]))
    except OSError as e:
        check("%s: .folded written" % system, False, str(e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--bench", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ketcd-profile-smoke-")
    try:
        why = compare_profile.unusable(tmp)
        if why:
            print("profile smoke: skipped: %s" % why)
            return 77
        out = os.path.join(tmp, "out")
        r = run_compare(["--quick", "--profile", "--only", "put-1", "--rounds", "1", "--out", out,
                         "--ketcd", args.ketcd, "--bench", args.bench], 110, tmp)
        if r is None:
            return 1
        check("says it profiles in a round of its own", "profile round" in r.stdout, r.stdout[-2000:])
        for system in ("ketcd", "etcd"):
            check_graph(out, system)
        try:
            with open(os.path.join(out, "table.md")) as f:
                table = f.read()
            check("table.md: the profile section", "## Where the leaders' CPU went" in table, table[-2000:])
            check("table.md links both flame graphs", "(flame-put-1-ketcd.svg)" in table and
                  "(flame-put-1-etcd.svg)" in table)
            check("table.md: the top-functions table", "| 1 | `" in table and "| # | ketcd: function (self)" in table)
        except OSError as e:
            check("table.md written", False, str(e))
        try:
            with open(os.path.join(out, "summary.json")) as f:
                summary = json.load(f)
            prof = summary.get("profile") or []
            check("summary.json: a profile per system with samples", sorted(p["system"] for p in prof) ==
                  ["etcd", "ketcd"] and all(p["samples"] > 0 and p["top_self"] for p in prof), json.dumps(prof)[:500])
            row = summary["rows"][0]
            check("the profiled run is not in the medians", row["ketcd"]["runs"] == 1 and row["etcd"]["runs"] == 1
                  and all(run["round"] == 1 for run in summary["runs"]), json.dumps(row)[:500])
        except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
            check("summary.json parses", False, repr(e))
        left = glob.glob(os.path.join(out, "**", "*.data*"), recursive=True)
        check("no perf data in the results", not left, str(left))
        for path in glob.glob(os.path.join(out, "flame-*")):
            with open(path, errors="replace") as f:
                text = f.read()
            check("%s names no local path" % os.path.basename(path), tmp not in text and ROOT + os.sep not in text)
        check_cleaned_up(tmp, "compare's temp dir (perf data) removed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return verdict("profile smoke")


if __name__ == "__main__":
    sys.exit(main())
