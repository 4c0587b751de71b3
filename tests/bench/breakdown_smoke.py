#!/usr/bin/python3
"""CI smoke test of `ketcd-bench --breakdown`: a 3-member ketcd cluster,
puts from one client to the leader with the leader's /metrics as the
breakdown URL. Checks the output's shape, not its speed: every stage row is
printed, the server counted one write per put in every stage, the
percentiles are ordered, the stages fit inside the server's total, and the
--json file carries the figures. A URL that serves no ketcd stage
histograms (etcd's, or nothing) is a setup error (exit 2).

usage: breakdown_smoke.py --ketcd PATH --bench PATH
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))
import harness  # noqa: E402

FAILED = []
STAGES = ["propose_wait", "replication", "wal_append", "apply", "respond"]


def check(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail and not ok else ""), flush=True)
    if not ok:
        FAILED.append(name)


def leader(cluster):
    r = subprocess.run([harness.ETCDCTL, "--endpoints=" + cluster.endpoints, "endpoint", "status", "-w", "json"],
                       capture_output=True, text=True, env=harness.etcdctl_env(), timeout=20)
    for s in json.loads(r.stdout):
        if s["Status"]["leader"] == s["Status"]["header"]["member_id"]:
            return next(m for m in cluster.members if m.endpoint == s["Endpoint"])
    raise harness.HarnessError("no leader: " + r.stdout + r.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--bench", required=True)
    a = ap.parse_args()
    total = 400
    with harness.Cluster(a.ketcd, size=3) as c:
        c.start()
        lead = leader(c)
        url = "http://%s/metrics" % lead.endpoint.replace("http://", "")
        js = os.path.join(c.tmpdir, "put.json")
        r = subprocess.run([a.bench, "--endpoints", lead.endpoint, "--breakdown", url, "--json", js,
                            "--total", str(total), "put", "--val-size", "256"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        out = r.stdout
        check("put --breakdown exits 0", r.returncode == 0, "exit %d\n%s%s" % (r.returncode, out, r.stderr))
        check("breakdown header names the URL", ("Breakdown (server stages from %s" % url) in out, out)
        rows = {}
        for line in out.splitlines():
            m = re.match(r"\s+(client observed|server total|(?:\(within\) )?\w+)\s+([\d.]+)\s+([\d.]+)\s+"
                         r"([\d.]+)\s+(\d+)$", line)
            if m:
                rows[m.group(1).replace("(within) ", "")] = [float(x) for x in m.group(2, 3, 4, 5)]
        for name in ["client observed", "server total", "peer_wait"] + STAGES:
            check("row %s printed" % name, name in rows, out)
        if "peer_wait" in rows:
            # Per message, not per write: every put's append is answered by
            # both followers (heartbeat answers come on top).
            p50, p99, mean, count = rows["peer_wait"]
            check("peer_wait: both followers' answers counted (%d)" % count, count >= 2 * total, str(count))
            check("peer_wait: 0 < p50 <= p99", 0 < p50 <= p99, "%s %s" % (p50, p99))
        if all(n in rows for n in ["client observed", "server total"] + STAGES):
            for name in ["server total"] + STAGES:
                p50, p99, mean, count = rows[name]
                check("%s: one write per put counted (%d)" % (name, count), total <= count <= total + 5, str(count))
                check("%s: 0 < p50 <= p99" % name, 0 < p50 <= p99, "%s %s" % (p50, p99))
            stages_mean = sum(rows[s][2] for s in STAGES if s != "wal_append")
            check("stage means fit in the server total (%.3f <= %.3f ms)" % (stages_mean, rows["server total"][2]),
                  stages_mean <= rows["server total"][2] * 1.05 + 0.01)
            check("server total within the client's latency",
                  rows["server total"][2] <= rows["client observed"][2] * 1.05 + 0.01,
                  "%s vs %s" % (rows["server total"], rows["client observed"]))
        try:
            with open(js) as f:
                d = json.load(f)
            check("--json carries each stage's p50",
                  all("breakdown_%s_p50_ms" % s in d for s in STAGES + ["total", "peer_wait"]), str(sorted(d)))
        except (OSError, ValueError) as e:
            check("--json parses", False, str(e))

        # Not a ketcd stage source: exit 2 with a message.
        port = harness.free_ports(1)[0]
        for label, bad in [("nothing listening", "http://127.0.0.1:%d/metrics" % port),
                           ("no stage histograms", url.replace("/metrics", "/health")),
                           ("https", "https://127.0.0.1:%d/metrics" % port)]:
            r = subprocess.run([a.bench, "--endpoints", lead.endpoint, "--breakdown", bad, "--total", "5", "put"],
                               capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            check("--breakdown with %s exits 2 saying so" % label,
                  r.returncode == 2 and "--breakdown" in r.stderr, "exit %d: %s" % (r.returncode, r.stderr))
    print("breakdown smoke: %s" % ("FAILED " + ", ".join(FAILED) if FAILED else "ok"))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
