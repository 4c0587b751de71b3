"""bench/compare --metrics-overhead: what `--metrics extensive` costs ketcd
(issue 16), two ketcd clusters side by side in one run (see bench/compare's
help).

The same ketcd binary and cluster settings as bench/compare's (3 members on
127.0.0.1, data on the same disk), one cluster started with `--metrics
basic` (the default) and one with `--metrics extensive` (adds the
grpc_server_handling_seconds histograms: two clock reads and a bucket add
per call). Before the workloads, one scrape of each leader must show the
histogram on the extensive cluster and not on the basic one. While every
workload runs, its cluster's leader is scraped at /metrics on the client
port every second (as Prometheus would, the same in both variants), so the
scrape's own cost is in the figures; the last scrape of each variant is kept
as metrics-<variant>.txt. The variants alternate within rounds (basic first
in odd rounds), medians of the rounds; server CPU per request (all three
members' user+sys over the requests) is shown besides throughput, as it is
less at the mercy of a busy machine.
"""

import datetime
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

SYSTEMS = ("basic", "extensive")
DEFAULT_WORKLOADS = ("put-1", "put-1000", "put-1000-all", "range-l-1000")
HANDLING = "grpc_server_handling_seconds_bucket"
SCRAPE_INTERVAL_S = 1.0


def scrape(endpoint, timeout=5):
    """The body of http://<endpoint>/metrics (endpoint: host:port)."""
    with urllib.request.urlopen("http://%s/metrics" % endpoint, timeout=timeout) as r:
        return r.read().decode("utf-8", "replace")


class Scraper(threading.Thread):
    """Scrapes one endpoint's /metrics every SCRAPE_INTERVAL_S seconds, on a
    fixed schedule from its start (the first at once), until stop()."""

    def __init__(self, endpoint):
        super().__init__(daemon=True)
        self.endpoint, self.halt = endpoint, threading.Event()
        self.ms, self.failures, self.bytes, self.last = [], 0, 0, ""

    def run(self):
        due = time.monotonic()
        while not self.halt.is_set():
            t0 = time.perf_counter()
            try:
                self.last = scrape(self.endpoint)
                self.ms.append((time.perf_counter() - t0) * 1000)
                self.bytes = len(self.last)
            except OSError:
                self.failures += 1
            due += SCRAPE_INTERVAL_S
            self.halt.wait(max(0.0, due - time.monotonic()))

    def stop(self):
        self.halt.set()
        self.join(10)
        return {"scrapes": len(self.ms), "failures": self.failures, "bytes": self.bytes,
                "p50_ms": statistics.median(self.ms) if self.ms else float("nan"),
                "max_ms": max(self.ms, default=float("nan"))}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


def pick_workloads(only, known):
    names = [n.strip() for n in only.split(",") if n.strip()] if only else list(DEFAULT_WORKLOADS)
    unknown = [n for n in names if n not in [w[0] for w in known]]
    if unknown or not names:
        sys.exit("compare: unknown workload in --only: %s (known: %s)" % (",".join(unknown),
                                                                          ",".join(w[0] for w in known)))
    return [w for w in known if w[0] in names]


def check_exposure(clusters):
    """Refuses to measure unless exactly the extensive variant exposes the
    handling-time histogram (else the two columns would measure the same)."""
    for system, c in clusters.items():
        body = scrape(c.leader())
        if "etcd_server_has_leader" not in body:
            raise RuntimeError("%s: /metrics of the leader is not etcd's exposition:\n%s" % (system, body[:300]))
        if (HANDLING in body) != (system == "extensive"):
            raise RuntimeError("ketcd --metrics %s: %s %s in /metrics" % (
                system, HANDLING, "missing" if system == "extensive" else "present"))


def bench_scraped(runner, system, workload, total, round_no):
    """One ketcd-bench run (bench/compare's Runner) with the leader scraped meanwhile."""
    name, bargs, _, target, _ = workload
    scraper = Scraper(runner.clusters[system].leader())
    scraper.start()
    try:
        rec = runner.bench(system, name, bargs, total, target, round_no, timeout=600)
    finally:
        stats = scraper.stop()
    rec["scrape"] = stats
    rec["cpu_us_per_req"] = rec["server_cores"] / rec["rps"] * 1e6 if rec["rps"] else float("nan")
    if stats["failures"] or not stats["scrapes"]:
        raise RuntimeError("%s on %s: %d scrapes of the leader's /metrics failed, %d succeeded"
                           % (name, system, stats["failures"], stats["scrapes"]))
    return rec


def median_rows(results, workloads):
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
    rows = []
    for name, _, _, _, label in workloads:
        row = {"workload": name, "label": label}
        for system in SYSTEMS:
            rs = [r for r in results if r["workload"] == name and r["system"] == system]
            row[system] = {k: med([r[k] for r in rs]) for k in
                           ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "server_cores", "client_cores")}
            row[system].update(errors=sum(r["errors"] for r in rs), runs=len(rs),
                               scrapes=sum(r["scrape"]["scrapes"] for r in rs))
        b, e = row["basic"], row["extensive"]
        row.update(ratio_rps=ratio(e["rps"], b["rps"]), ratio_p99=ratio(e["p99_ms"], b["p99_ms"]),
                   ratio_cpu=ratio(e["cpu_us_per_req"], b["cpu_us_per_req"]))
        rows.append(row)
    return rows


def table(summary, rounds, results):
    s = summary
    lines = ["# ketcd `--metrics basic` vs `--metrics extensive` — %s" % s["date"], "",
             "`%s`, %d rounds (medians; basic and extensive alternate within each round), one ketcd binary, "
             "two clusters of 3 members on 127.0.0.1 that differ only in `--metrics`, plaintext, heartbeat 100 ms, "
             "election 1000 ms, snapshot-count 100000; %d cores (%s); disk fdatasync p50 %.3f ms, p99 %.3f ms; "
             "client `ketcd-bench`. **During every run the leader's /metrics is scraped every second, in both "
             "variants, as Prometheus would: the scrape's cost is in the figures.** Server CPU per request is "
             "the 3 members' user+sys over the run / requests." % (
                 s["command"], rounds, s["cores"], s["cpu"], s["fdatasync"]["p50_ms"], s["fdatasync"]["p99_ms"]), "",
             "| workload | basic req/s | extensive req/s | extensive/basic | basic p50 / p99 ms "
             "| extensive p50 / p99 ms | p99 extensive/basic | server CPU µs/req basic / extensive "
             "| CPU/req extensive/basic |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in s["rows"]:
        b, e = r["basic"], r["extensive"]
        lines.append("| %s | %.0f | %.0f | **%.3f×** | %.2f / %.2f | %.2f / %.2f | %.2f | %.0f / %.0f | %.3f× |" % (
            r["label"], b["rps"], e["rps"], r["ratio_rps"], b["p50_ms"], b["p99_ms"], e["p50_ms"], e["p99_ms"],
            r["ratio_p99"], b["cpu_us_per_req"], e["cpu_us_per_req"], r["ratio_cpu"]))
    lines += ["", "Scrapes of the leader during the runs: " + "; ".join(
        "%s %d, %.0f KiB each, p50 %.1f ms, max %.1f ms" % (v, sc["scrapes"], sc["bytes"] / 1024.0, sc["p50_ms"],
                                                           sc["max_ms"]) for v, sc in s["scrapes"].items()) +
              " (the last of each kept as metrics-basic.txt / metrics-extensive.txt)."]
    errors = [r for r in results if r["errors"]]
    if errors:
        lines += ["", "Runs with errors: " + ", ".join("%s/%s/r%d (%d)" % (r["workload"], r["system"], r["round"],
                                                                            r["errors"]) for r in errors)]
    return lines + ["", "Elapsed: %.0f s." % s["elapsed_s"]]


def run(args, cmp):
    """bench/compare --metrics-overhead; `cmp` is bench/compare's module
    (Cluster, Runner, free_ports, fdatasync_latency, portable_command, WORKLOADS, ROOT)."""
    if args.tls or args.auth != "none" or args.snapshot or args.join or args.defrag or args.watch_scale \
            or args.keys is not None:
        sys.exit("compare: --metrics-overhead runs only the workloads, plaintext without auth "
                 "(no --tls/--auth/--snapshot/--join/--defrag/--watch-scale/--keys)")
    workloads = pick_workloads(args.only, cmp.WORKLOADS)
    started = time.time()
    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    outdir = os.path.abspath(args.out or os.path.join(cmp.ROOT, "bench", "results", stamp + (
        "-quick" if args.quick else "") + "-metrics-overhead"))
    os.makedirs(os.path.join(outdir, "raw"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="ketcd-compare-", dir=os.environ.get("KETCD_BENCH_DATA", "/tmp"))
    ports = cmp.free_ports(12)
    clusters = {s: cmp.Cluster(s, args.ketcd, work, [(ports[6 * k + i], ports[6 * k + 3 + i]) for i in range(3)])
                for k, s in enumerate(SYSTEMS)}
    for system, c in clusters.items():
        for m in c.members:
            m["args"] += ["--metrics", system]

    def cleanup(*_):
        for c in clusters.values():
            for i in range(len(c.members)):
                c.stop(i, signal.SIGKILL, 10)
        shutil.rmtree(work, ignore_errors=True)
    cmp.on_exit(cleanup)
    cpus, model = os.cpu_count(), cpu_model()
    print("compare --metrics-overhead: %s mode, %d rounds, %d cores, data in %s, results in %s" % (
        "quick" if args.quick else "full", args.rounds, cpus, work, outdir), flush=True)
    fsync = cmp.fdatasync_latency(work, 200 if args.quick else 1000)
    print("disk fdatasync: p50 %.3f ms, p99 %.3f ms" % (fsync["p50_ms"], fsync["p99_ms"]), flush=True)
    for c in clusters.values():
        c.start_all()
    for system, c in clusters.items():
        print("%s: leader %s" % (system, c.leader()), flush=True)
        c.etcdctl(c.leader(), "put", "foo", "v" * cmp.VAL)
    check_exposure(clusters)

    runner = cmp.Runner(args, outdir, clusters)
    for rnd in range(1, args.rounds + 1):
        print("round %d of %d (%.0f s elapsed)" % (rnd, args.rounds, time.time() - started), flush=True)
        for w in workloads:
            for system in (SYSTEMS if rnd % 2 else SYSTEMS[::-1]):
                bench_scraped(runner, system, w, w[2][1 if args.quick else 0], rnd)
    for system, c in clusters.items():  # the last scrape, kept for the reader (and the smoke test)
        with open(os.path.join(outdir, "metrics-%s.txt" % system), "w") as f:
            f.write(scrape(c.leader()))
        c.stop_all()

    scrapes = {}
    for system in SYSTEMS:
        st = [r["scrape"] for r in runner.results if r["system"] == system]
        scrapes[system] = {"scrapes": sum(x["scrapes"] for x in st), "bytes": max(x["bytes"] for x in st),
                           "p50_ms": statistics.median(x["p50_ms"] for x in st),
                           "max_ms": max(x["max_ms"] for x in st)}
    summary = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "mode": "quick" if args.quick else "full",
               "compared": "metrics-overhead", "systems": list(SYSTEMS), "scrape_interval_s": SCRAPE_INTERVAL_S,
               "tls": False, "auth": "none", "rounds": args.rounds, "cores": cpus, "cpu": model, "fdatasync": fsync,
               "command": cmp.portable_command(sys.argv[1:]), "rows": median_rows(runner.results, workloads),
               "scrapes": scrapes, "runs": runner.results, "elapsed_s": time.time() - started}
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    lines = table(summary, args.rounds, runner.results)
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print()
    print("\n".join(lines))
    return 0
