"""bench/compare --peer-delay D1,D2,...: quorum latency when the members are
a WAN apart, ketcd and etcd 3.4 side by side (issue 18; see bench/compare's
help).

For each delay D, both systems get fresh 3-member clusters (compare's
settings) whose advertised peer URLs (--initial-advertise-peer-urls and
--initial-cluster) are ports of one ketcd-delay-proxy process
(bench/delay_proxy.cc), while each member listens (--listen-peer-urls) on a
port of its own behind it. Members dial each other only at advertised URLs,
so every byte between two members crosses the proxy once and is held D on
the way: a round trip takes 2D. Clients reach the members directly. Then
the rounds, ketcd and etcd alternating within each as in compare: put-1
(one client: the quorum latency) and put-1000.

The floor of a 1-client put is 2D (the leader's append out to a follower
and its acknowledgement back) plus the disk's fdatasync p50 (the follower
makes the entry durable before it acknowledges; the leader's own sync can
overlap the round trip). The table shows each system's p50 next to it and,
since that fdatasync is a probe's taken once, what the leaders' own WAL
fdatasyncs took during put-1 (their etcd_disk_wal_fsync histograms).

put-1 sends etcd's total (10,000; quick 500) or as many puts as fit in 40 s
(quick 5 s) at the floor, whichever is fewer: at 20 ms that is ~970 puts,
not 10,000 taking 7 minutes per system. put-1000 keeps its totals; it is
skipped (and the table says so) once the run is past its time budget (45
minutes; quick 5). The proxy's traffic per system is kept, and a run in
which some member's route carried nothing fails: its members would not
have been talking through the proxy.
"""

import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

WORKLOADS = ("put-1", "put-1000")
PUT1_SECONDS = (40, 5)  # full, quick: put-1's time per run at the floor
MAX_DELAY_MS = 200  # a round trip of 400 ms against the clusters' 1000 ms election timeout


def parse_delays(text):
    """"5ms,20ms" -> [5.0, 20.0] (ms); units us, ms (the default) or s."""
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "": 1.0}
    out = []
    for item in (t.strip() for t in text.split(",")):
        m = re.fullmatch(r"(\d+(?:\.\d+)?)(us|ms|s|)", item)
        if not m:
            sys.exit("compare: --peer-delay wants delays like 5ms,20ms (us, ms or s), not %r" % item)
        ms = float(m.group(1)) * scale[m.group(2)]
        if ms > MAX_DELAY_MS or ms in out:
            sys.exit("compare: --peer-delay %s: %s" % (item, "given twice" if ms in out else
                                                     "at most %d ms one way (election timeout 1000 ms)"
                                                     % MAX_DELAY_MS))
        out.append(ms)
    return out


def label(ms):
    return "%gms" % ms


class DelayProxy:
    """One ketcd-delay-proxy process serving routes {listen port: target port}."""

    def __init__(self, binary, routes, delay_ms, log_path):
        self.log_path = log_path
        args = [binary, "--delay-ms", repr(delay_ms)]
        for listen, target in routes.items():
            args += ["--route", "127.0.0.1:%d=127.0.0.1:%d" % (listen, target)]
        with open(log_path, "w") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while "listening" not in self.log():
            if self.proc.poll() is not None or time.time() > deadline:
                self.kill()
                raise RuntimeError("ketcd-delay-proxy did not start: %s" % self.log().strip()[-500:])
            time.sleep(0.02)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        """Stops the proxy; {listen port: {"connections", "refused", "bytes"}}."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        out = {}
        for m in re.finditer(r"^route 127\.0\.0\.1:(\d+)=\S+ connections (\d+) refused (\d+) bytes_forward (\d+) "
                             r"bytes_back (\d+)$", self.log(), re.M):
            out[int(m.group(1))] = {"connections": int(m.group(2)), "refused": int(m.group(3)),
                                    "bytes": int(m.group(4)) + int(m.group(5))}
        return out


def through_proxy(cluster, proxy_ports):
    """Points the members' advertised peer URLs at the proxy; they keep
    listening on their own ports (Cluster made both the same)."""
    url = "http://127.0.0.1:%d"
    initial = ",".join("m%d=%s" % (i, url % p) for i, p in enumerate(proxy_ports))
    for i, m in enumerate(cluster.members):
        a = m["args"]
        a[a.index("--initial-advertise-peer-urls") + 1] = url % proxy_ports[i]
        a[a.index("--initial-cluster") + 1] = initial


def put1_total(full_total, floor_ms, quick):
    return max(50, min(full_total, int(PUT1_SECONDS[1 if quick else 0] * 1000 / floor_ms)))


def run_delay(cmp, args, ms, work, outdir, fsync, state, started, budget):
    """Both clusters behind one proxy at `ms`, every round; the runs' records."""
    sub = "delay-" + label(ms)
    os.makedirs(os.path.join(outdir, sub, "raw"), exist_ok=True)
    ports = cmp.free_ports(18)
    clusters, routes, proxy_ports = {}, {}, {}
    for k, system in enumerate(("ketcd", "etcd")):
        p = ports[9 * k:9 * k + 9]  # client, peer (listened on), proxy (advertised)
        c = cmp.Cluster(system, args.ketcd if system == "ketcd" else args.etcd, os.path.join(work, sub),
                        [(p[i], p[3 + i]) for i in range(3)])
        through_proxy(c, p[6:9])
        routes.update({p[6 + i]: p[3 + i] for i in range(3)})
        proxy_ports[system] = p[6:9]
        clusters[system] = c
    state["clusters"] = clusters
    proxy = state["proxy"] = DelayProxy(args.delay_proxy, routes, ms, os.path.join(outdir, sub, "proxy.log"))
    for c in clusters.values():
        c.start_all()
    for c in clusters.values():
        print("%s at %s: leader %s" % (c.system, label(ms), c.leader(timeout=60)), flush=True)
        c.etcdctl(c.leader(), "put", "foo", "v" * cmp.VAL)
    runner = cmp.Runner(args, os.path.join(outdir, sub), clusters)
    floor = 2 * ms + fsync["p50_ms"]
    skipped = []
    for rnd in range(1, args.rounds + 1):
        print("delay %s, round %d of %d (%.0f s elapsed)" % (label(ms), rnd, args.rounds, time.time() - started),
              flush=True)
        for name, bargs, totals, target, _ in args.peer_workloads:
            if name != "put-1" and time.time() - started > budget:
                print("  %s skipped: past the %d s budget" % (name, budget), flush=True)
                skipped.append((name, rnd))
                continue
            total = totals[1 if args.quick else 0]
            total = put1_total(total, floor, args.quick) if name == "put-1" else total
            for system in (("ketcd", "etcd") if rnd % 2 else ("etcd", "ketcd")):
                rec = runner.bench(system, name, bargs, total, target, rnd, timeout=900)
                rec.update(delay_ms=ms, total=total, json=os.path.join(sub, rec["json"]))
    for c in clusters.values():
        c.stop_all()
    stats = proxy.stop()
    shutil.rmtree(os.path.join(work, sub), ignore_errors=True)
    traffic = {}
    for system, pp in proxy_ports.items():
        per = [stats.get(p, {"connections": 0, "refused": 0, "bytes": 0}) for p in pp]
        if any(s["bytes"] == 0 for s in per):
            raise RuntimeError("%s at %s: a member's proxy route carried nothing (%s): its peers did not talk "
                               "through the proxy" % (system, label(ms), per))
        traffic[system] = {"connections": sum(s["connections"] for s in per),
                           "refused": sum(s["refused"] for s in per), "bytes": sum(s["bytes"] for s in per),
                           "per_member": per}
    return runner.results, traffic, skipped


def rows_of(results, delays, workloads, fsync):
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
    rows = []
    for ms in delays:
        for name, _, _, _, text in workloads:
            row = {"delay_ms": ms, "rtt_ms": 2 * ms, "workload": name, "label": text,
                   "floor_ms": 2 * ms + fsync["p50_ms"]}
            for system in ("ketcd", "etcd"):
                rs = [r for r in results if r["delay_ms"] == ms and r["workload"] == name and r["system"] == system]
                row[system] = {k: med([r[k] for r in rs]) for k in ("rps", "p50_ms", "p99_ms", "server_cores")}
                row[system].update(errors=sum(r["errors"] for r in rs), runs=len(rs),
                                   total=max((r["total"] for r in rs), default=0))
                rep = [r["breakdown"]["replication_p50_ms"] for r in rs
                       if "replication_p50_ms" in r.get("breakdown", {})]
                if rep:
                    row[system]["replication_p50_ms"] = med(rep)
                wal = [r["disk"]["wal_mean_ms"] for r in rs if "wal_mean_ms" in r.get("disk", {})]
                if wal:  # the leader's own, from its etcd_disk_wal_fsync histogram over the run
                    row[system]["wal_fsync_mean_ms"] = med(wal)
            k, e = row["ketcd"], row["etcd"]
            row.update(ratio_rps=ratio(k["rps"], e["rps"]), ratio_p50=ratio(k["p50_ms"], e["p50_ms"]),
                       ratio_p99=ratio(k["p99_ms"], e["p99_ms"]))
            rows.append(row)
    return rows


def table(s, rounds):
    lines = ["# ketcd vs etcd 3.4 with delayed peer links — %s" % s["date"], "",
             "`%s`, %d rounds (medians; ketcd and etcd alternate within each round), 3 members each on 127.0.0.1; "
             "every peer link through `ketcd-delay-proxy`, which holds each byte the given delay one way (round "
             "trip twice that); clients dial members directly; plaintext, heartbeat 100 ms, election 1000 ms; "
             "%d cores (%s); disk fdatasync p50 %.3f ms, p99 %.3f ms; client `ketcd-bench` for both. Floor of a "
             "1-client put: 2 × delay + fdatasync p50 (one round trip to a follower, whose append is durable "
             "before it acknowledges)." % (s["command"], rounds, s["cores"], s["cpu"], s["fdatasync"]["p50_ms"],
                                           s["fdatasync"]["p99_ms"]), "",
             "| peer delay one way (RTT) | workload | requests | ketcd req/s | etcd req/s | ketcd/etcd "
             "| ketcd p50 / p99 ms | etcd p50 / p99 ms | p50 ketcd/etcd | floor ms | p50 above the floor "
             "ketcd / etcd ms |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in s["rows"]:
        k, e = r["ketcd"], r["etcd"]
        if not k["runs"] or not e["runs"]:
            lines.append("| %g ms (%g ms) | %s | skipped: past the time budget | | | | | | | %.2f | |"
                         % (r["delay_ms"], r["rtt_ms"], r["label"], r["floor_ms"]))
            continue
        lines.append("| %g ms (%g ms) | %s | %d | %.0f | %.0f | **%.2f×** | %.2f / %.2f | %.2f / %.2f | %.2f | %.2f "
                     "| %.2f / %.2f |" % (r["delay_ms"], r["rtt_ms"], r["label"], k["total"], k["rps"], e["rps"],
                                          r["ratio_rps"], k["p50_ms"], k["p99_ms"], e["p50_ms"], e["p99_ms"],
                                          r["ratio_p50"], r["floor_ms"], k["p50_ms"] - r["floor_ms"],
                                          e["p50_ms"] - r["floor_ms"]))
    rep = [(r["delay_ms"], r["ketcd"]["replication_p50_ms"]) for r in s["rows"] if "replication_p50_ms" in r["ketcd"]]
    if rep:
        lines += ["", "ketcd's leader, put 1 client (`ketcd-bench --breakdown`): replication to a quorum p50 " +
                  ", ".join("%.2f ms at %g ms" % (v, d) for d, v in rep) + "."]
    wal = [r for r in s["rows"] if "wal_fsync_mean_ms" in r["ketcd"] and "wal_fsync_mean_ms" in r["etcd"]]
    if wal:  # the floor's fdatasync is a probe's; this is what the leaders' WAL syncs took meanwhile
        lines += ["", "The leaders' WAL fdatasync during put, 1 client (etcd_disk_wal_fsync_duration_seconds, mean), "
                  "ketcd / etcd: " + ", ".join("%.2f / %.2f ms at %g ms" % (r["ketcd"]["wal_fsync_mean_ms"],
                                                                     r["etcd"]["wal_fsync_mean_ms"], r["delay_ms"])
                                               for r in wal) + "."]
    lines += ["", "Through the proxy (all rounds): " + "; ".join(
        "%s: " % d + ", ".join("%s %d connections, %.1f MiB" % (
            system, t["connections"], t["bytes"] / 2 ** 20) for system, t in per.items())
        for d, per in s["proxy"].items()) + "."]
    errors = [r for r in s["runs"] if r["errors"]]
    if errors:
        lines += ["", "Runs with errors: " + ", ".join("%s/%s/%s/r%d (%d)" % (
            label(r["delay_ms"]), r["workload"], r["system"], r["round"], r["errors"]) for r in errors)]
    return lines + ["", "Elapsed: %.0f s." % s["elapsed_s"]]


def run(args, cmp):
    """bench/compare --peer-delay; `cmp` is bench/compare's module (Cluster,
    Runner, free_ports, fdatasync_latency, portable_command, WORKLOADS, ROOT)."""
    if args.tls or args.auth != "none" or args.snapshot or args.join or args.defrag or args.watch_scale \
            or args.keys is not None or args.metrics_overhead:
        sys.exit("compare: --peer-delay runs put-1 and put-1000 only, plaintext without auth (no --tls/--auth/"
                 "--snapshot/--join/--defrag/--watch-scale/--keys/--metrics-overhead)")
    delays = parse_delays(args.peer_delay)
    names = [n.strip() for n in (args.only or ",".join(WORKLOADS)).split(",") if n.strip()]
    if not names or any(n not in WORKLOADS for n in names):
        sys.exit("compare: --peer-delay runs %s; --only %s" % (",".join(WORKLOADS), args.only))
    args.peer_workloads = [w for w in cmp.WORKLOADS if w[0] in names]
    args.delay_proxy = os.path.abspath(args.delay_proxy)
    if not os.access(args.delay_proxy, os.X_OK):
        sys.exit("compare: %s not found (build the ketcd-delay-proxy target, or pass --delay-proxy)"
                 % args.delay_proxy)
    started = time.time()
    budget = 300 if args.quick else 45 * 60
    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    outdir = os.path.abspath(args.out or os.path.join(cmp.ROOT, "bench", "results", stamp + (
        "-quick" if args.quick else "") + "-peer-delay"))
    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="ketcd-compare-", dir=os.environ.get("KETCD_BENCH_DATA", "/tmp"))
    state = {"clusters": {}, "proxy": None}

    def cleanup():
        for c in state["clusters"].values():
            for i in range(len(c.members)):
                c.stop(i, signal.SIGKILL, 10)
        if state["proxy"]:
            state["proxy"].kill()
        shutil.rmtree(work, ignore_errors=True)
    cmp.on_exit(cleanup)
    cpus = os.cpu_count()
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    print("compare --peer-delay %s: %s mode, %d rounds, %d cores, data in %s, results in %s" % (
        ",".join(label(d) for d in delays), "quick" if args.quick else "full", args.rounds, cpus, work, outdir),
        flush=True)
    fsync = cmp.fdatasync_latency(work, 200 if args.quick else 1000)
    print("disk fdatasync: p50 %.3f ms, p99 %.3f ms" % (fsync["p50_ms"], fsync["p99_ms"]), flush=True)
    results, proxy, skipped = [], {}, []
    for ms in delays:
        res, proxy[label(ms)], skip = run_delay(cmp, args, ms, work, outdir, fsync, state, started, budget)
        results += res
        skipped += [(ms, name, rnd) for name, rnd in skip]
    summary = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "mode": "quick" if args.quick else "full",
               "compared": "peer-delay", "delays_ms": delays, "tls": False, "auth": "none", "rounds": args.rounds,
               "cores": cpus, "cpu": model, "fdatasync": fsync, "command": cmp.portable_command(sys.argv[1:]),
               "rows": rows_of(results, delays, args.peer_workloads, fsync), "proxy": proxy,
               "skipped": [{"delay_ms": d, "workload": n, "round": r} for d, n, r in skipped], "runs": results,
               "elapsed_s": time.time() - started}
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    lines = table(summary, args.rounds)
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print()
    print("\n".join(lines))
    if time.time() - started > budget:
        print("compare: took %.0f s, over the %d s budget" % (time.time() - started, budget), file=sys.stderr)
    return 0
