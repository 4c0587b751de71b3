"""The command line of a single-member differential test: the same scenario
run against Debian's etcd and against ketcd, its rows printed and compared.

A scenario is run(binary, label) -> [(row name, what was seen)].
"""
import argparse


def run_systems(run, width=40):
    """Parses --ketcd, --etcd and --against, runs the chosen systems (etcd
    first) and prints their rows; returns (args, {label: rows})."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    ap.add_argument("--against", default="both", choices=["both", "ketcd", "etcd"])
    args = ap.parse_args()
    results = {}
    for label, binary in (("etcd", args.etcd), ("ketcd", args.ketcd)):
        if args.against in (label, "both"):
            results[label] = run(binary, label)
            for name, got in results[label]:
                print("%-6s %-*s %s" % (label, width, name, got), flush=True)
    return args, results


def mismatches(results):
    """(row name, etcd's, ketcd's) for each row where the two differ; none
    unless both ran."""
    if "etcd" not in results or "ketcd" not in results:
        return []
    return [(a[0], a[1], b[1]) for a, b in zip(results["etcd"], results["ketcd"]) if a != b]


def report(args, results):
    """Prints each row where etcd and ketcd differ and a count; the exit
    code: 1 if any differ, 0 otherwise (and when only one system ran)."""
    if args.against != "both":
        return 0
    bad = mismatches(results)
    for name, want, got in bad:
        print("MISMATCH %s: etcd %r, ketcd %r" % (name, want, got))
    print("%d passed, %d failed" % (len(results["etcd"]) - len(bad), len(bad)))
    return 1 if bad else 0
