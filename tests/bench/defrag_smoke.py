#!/usr/bin/python3
"""CI smoke test of bench/compare --defrag: a --quick run with a small load
(put-1 only, one round) against a 3-member ketcd and a 3-member Debian etcd
must write the defragmentation section into table.md and summary.json, with
sane figures for both systems: every key deleted, etcd's dbSizeInUse below
its dbSize once compacted (the compaction happened), and for every member
of both systems dbSize and the data dir's disk use after the defrag no
larger than before; ketcd's dbSize must shrink (the defrag dropped what the
deletes and the compaction left behind). No timing is asserted. Runs without
the concurrent writer (--defrag-writes 0): writes after a member's defrag
legitimately grow its files (a fresh RocksDB WAL is preallocated).

usage: defrag_smoke.py --ketcd PATH --bench PATH [--keys N]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_smoke import check, check_cleaned_up, run_compare, verdict  # noqa: E402

ROWS = ["| Status dbSize before defrag, MiB |", "| Status dbSizeInUse before defrag, MiB |",
        "| data dir on disk (du) before defrag, MiB |", "| Status dbSize after defrag, MiB |",
        "| Status dbSizeInUse after defrag, MiB |", "| data dir on disk (du) after defrag, MiB |",
        "| `etcdctl defrag` per member, s |"]


def check_system(system, d, keys):
    check("%s: every loaded key deleted" % system, d["deleted"] >= keys, str(d["deleted"]))
    check("%s: compacted at the delete's revision" % system, d["compact_rev"] > keys, str(d["compact_rev"]))
    check("%s: a figure per member" % system, len(d["members"]) == 3, str(len(d["members"])))
    for m in d["members"]:
        b, a = m["before"], m["after"]
        name = "%s/%s" % (system, m["name"])
        check("%s: dbSize after defrag <= before" % name, a["db_mib"] <= b["db_mib"], json.dumps(m))
        check("%s: disk use after defrag <= before" % name, a["disk_mib"] <= b["disk_mib"], json.dumps(m))
        check("%s: dbSizeInUse <= dbSize" % name, b["in_use_mib"] <= b["db_mib"] and a["in_use_mib"] <= a["db_mib"],
              json.dumps(m))
        check("%s: defrag took a positive time" % name, m["defrag_s"] > 0, json.dumps(m))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--keys", type=int, default=5000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ketcd-defrag-smoke-")
    try:
        out = os.path.join(tmp, "out")
        r = run_compare(["--quick", "--rounds", "1", "--only", "put-1", "--keys", str(args.keys), "--defrag",
                         "--defrag-writes", "0", "--out", out, "--ketcd", args.ketcd, "--bench", args.bench], 50, tmp)
        if r is None:
            return 1
        try:
            with open(os.path.join(out, "table.md")) as f:
                table = f.read()
            check("table.md has the defrag section", "Defragmentation after deleting" in table, table[-2000:])
            for row in ROWS:
                check("table.md has %s" % row, row in table)
        except OSError as e:
            check("table.md written", False, str(e))
        try:
            with open(os.path.join(out, "summary.json")) as f:
                load = json.load(f)["load"]
            k, e = load["ketcd"]["defrag"], load["etcd"]["defrag"]
            check_system("ketcd", k, args.keys)
            check_system("etcd", e, args.keys)
            check("etcd: dbSizeInUse below dbSize once compacted", e["before_in_use_mib"] < e["before_db_mib"],
                  "%.3f / %.3f" % (e["before_in_use_mib"], e["before_db_mib"]))
            check("ketcd: dbSize shrank with the defrag", k["after_db_mib"] < k["before_db_mib"],
                  "%.3f -> %.3f" % (k["before_db_mib"], k["after_db_mib"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            check("summary.json has the defrag figures", False, repr(e))
        check_cleaned_up(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return verdict("defrag smoke")


if __name__ == "__main__":
    sys.exit(main())
