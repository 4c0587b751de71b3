"""The leader's disk during put-1, both systems, from the histograms both export
under etcd's names (bench/compare): how long a WAL fdatasync and a backend
commit take on average, and how many of each a put costs.

Why: a 1-client put waits for the leader's WAL fdatasync (and a follower's),
so a WAL sync slower than the disk's raw fdatasync is where quorum latency
above the floor goes first. etcd's buckets start at 1 ms, too coarse for a
sub-millisecond median, so the figures are means from the _sum and _count
deltas over the run.
"""

import re
import statistics

from compare_metrics import scrape

FAMILIES = {"wal": "etcd_disk_wal_fsync_duration_seconds",
            "commit": "etcd_disk_backend_commit_duration_seconds"}


def sums_and_counts(text):
    """{family key: (sum seconds, count)} of the FAMILIES in a /metrics body."""
    out = {}
    for key, name in FAMILIES.items():
        s = re.search(r"^%s_sum(?:\{[^}]*\})? (\S+)$" % name, text, re.M)
        c = re.search(r"^%s_count(?:\{[^}]*\})? (\S+)$" % name, text, re.M)
        if s and c:
            out[key] = (float(s.group(1)), float(c.group(1)))
    return out


class DiskProbe:
    """Scrapes an endpoint around a run: start() before, finish(puts) after."""

    def __init__(self, endpoint):
        self.endpoint, self.before = endpoint, None

    def start(self):
        try:
            self.before = sums_and_counts(scrape(self.endpoint))
        except OSError:
            self.before = None

    def finish(self, puts):
        """{"wal_mean_ms", "wal_per_put", "commit_mean_ms", "commit_per_put"} for
        the families both scrapes have; {} when a scrape failed."""
        if self.before is None:
            return {}
        try:
            after = sums_and_counts(scrape(self.endpoint))
        except OSError:
            return {}
        out = {}
        for key, (s1, c1) in after.items():
            if key not in self.before:
                continue
            s0, c0 = self.before[key]
            n = c1 - c0
            if n > 0:
                out[key + "_mean_ms"] = (s1 - s0) / n * 1000
                out[key + "_per_put"] = n / max(1, puts)
        return out


def table_lines(results):
    """Markdown rows for the put-1 runs' disk figures (medians over rounds)."""
    rows = {}
    for r in results:
        if r["workload"] == "put-1" and r.get("disk"):
            rows.setdefault(r["system"], []).append(r["disk"])
    if "ketcd" not in rows or "etcd" not in rows:
        return []

    def med(system, key):
        vals = [d[key] for d in rows[system] if key in d]
        return statistics.median(vals) if vals else None

    lines = ["", "put, 1 client: the leader's disk, both systems (their etcd_disk_* histograms, "
             "sum/count over each run; medians of the rounds):", "",
             "| | ketcd | etcd | ketcd/etcd |", "|---|---:|---:|---:|"]
    for key, label in [("wal_mean_ms", "WAL fdatasync, mean ms"), ("wal_per_put", "WAL fdatasyncs per put"),
                       ("commit_mean_ms", "backend commit, mean ms"),
                       ("commit_per_put", "backend commits per put")]:
        k, e = med("ketcd", key), med("etcd", key)
        if k is None or e is None:
            continue
        lines.append("| %s | %.3f | %.3f | %s |" % (label, k, e, "%.2f×" % (k / e) if e else "-"))
    return lines
