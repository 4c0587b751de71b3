"""bench/compare --scale: ketcd and etcd 3.4 holding a large store (issue
18; see bench/compare's help).

One system at a time, so that the machine is never loaded by both: a fresh
3-member cluster with compare's settings plus --quota-backend-bytes 16 GiB
(both take the flag; etcd's 2 GiB default would refuse the load), then

 1. load: N keys of V bytes on the leader, `ketcd-bench put
    --sequential-keys` with 1000 clients / 100 conns (every key distinct);
 2. peak RSS (max of the members), data dir disk use (du) and Status dbSize
    per member;
 3. linearizable reads of one random loaded key each, 100 clients / 10
    conns (`ketcd-bench range --key-space-size N`, which counts the reads
    that found no key: there must be none);
 4. a steady writer on the leader (10 clients, WRITE_RATE puts/s in all, on
    1000 keys of its own) measured idle, during a compaction and during
    defragmentation. First keys 0..N/2 are overwritten once (the load's
    workload), so that half the keys have a superseded revision; the
    compaction (`etcdctl compaction REV --physical`, which returns when the
    old revisions are gone) is at the revision that overwrite ended on, and
    the defrag is `etcdctl defrag` on each member in turn, leader last. The
    idle measurement starts SETTLE_S after the overwrite; for the other
    two the writer starts PRE_ROLL_S before the call and is
    stopped when it returns (SIGINT: ketcd-bench stops sending and writes
    what it measured). The project's target: ketcd's write p99 during each
    within 2x its idle p99;
 5. a follower's restart until it serves a linearizable get (compare's
    restart_time()).

The system's data dirs are removed before the next system starts. Results:
table.md (a table per section), summary.json ("scale"), raw/ (every
ketcd-bench run's JSON), runs.log.
"""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from compare_defrag import checked, ratio, sizes
from compare_metrics import cpu_model, scrape

SYSTEMS = ("ketcd", "etcd")
QUOTA = 16 << 30
KEY_SIZE = 16
WRITE_RATE = 200  # puts/s: light enough that the writer's latency shows the operation, not its own load
WRITER = ["--clients", "10", "--conns", "10", "--request-timeout", "900"]
IDLE_S = (20, 3)  # full, quick
SETTLE_S = (10, 1)  # after the overwrite: the stores' background work (flushes, snapshots) is not counted as idle
RANGE_TOTAL = (100000, 5000)
PRE_ROLL_S = 0.3  # the writer has dialed and is putting when the operation starts
OP_TIMEOUT_S = 3600
MIB = float(1 << 20)


def load_args(keys, val_size):
    return ["--clients", "1000", "--conns", "100", "put", "--key-size", str(KEY_SIZE), "--val-size", str(val_size),
            "--key-space-size", str(keys), "--sequential-keys"]


def raw(runner, rec):
    with open(os.path.join(runner.outdir, rec["json"])) as f:
        return json.load(f)


WAL_FSYNC = "etcd_disk_wal_fsync_duration_seconds"
SLOW_FSYNC_S = "0.008"  # a bucket bound both systems export


def disk_written_bytes(path):
    """Bytes written so far to the block device holding `path`
    (/proc/diskstats), or None when it is not a block device's."""
    st = os.stat(path)
    try:
        with open("/proc/diskstats") as f:
            for line in f:
                fields = line.split()
                if int(fields[0]) == os.major(st.st_dev) and int(fields[1]) == os.minor(st.st_dev):
                    return int(fields[9]) * 512
    except OSError:
        pass
    return None


def wal_fsyncs(cluster):
    """(fdatasyncs, of them slower than SLOW_FSYNC_S), summed over the
    members' WAL fsync histograms; None when a scrape failed."""
    total = slow = 0
    for m in cluster.members:
        try:
            text = scrape(m["client"])
        except OSError:
            return None
        counts = dict(re.findall(r'^%s_bucket\{le="([^"]+)"\} (\S+)$' % WAL_FSYNC, text, re.M))
        if "+Inf" not in counts or SLOW_FSYNC_S not in counts:
            return None
        total += float(counts["+Inf"])
        slow += float(counts["+Inf"]) - float(counts[SLOW_FSYNC_S])
    return total, slow


class DiskWatch:
    """The disk's writes and the members' slow WAL fdatasyncs over a phase:
    what a writer's tail latency during a compaction or defrag follows when
    the members share one disk."""

    def __init__(self, cluster, path):
        self.cluster, self.path = cluster, path
        self.bytes0, self.fsyncs0, self.t0 = disk_written_bytes(path), wal_fsyncs(cluster), time.time()

    def figures(self):
        out, seconds = {}, max(1e-9, time.time() - self.t0)
        written, fsyncs = disk_written_bytes(self.path), wal_fsyncs(self.cluster)
        if self.bytes0 is not None and written is not None:
            out["disk_write_mib_s"] = (written - self.bytes0) / MIB / seconds
        if self.fsyncs0 is not None and fsyncs is not None:
            out["wal_fsyncs"] = int(fsyncs[0] - self.fsyncs0[0])
            out["wal_fsyncs_slow"] = int(fsyncs[1] - self.fsyncs0[1])
        return out


class Writer:
    """ketcd-bench put at WRITE_RATE on the leader until stop(); its record
    is shaped as compare's Runner.bench makes them."""

    def __init__(self, runner, system, phase, val_size, procs):
        self.runner, self.system, self.name = runner, system, "write-" + phase
        c = runner.clusters[system]
        self.rel = os.path.join("raw", "%s-%s-r1.json" % (self.name, system))
        cmd = [runner.args.bench, "--endpoints", c.leader(), "--json", self.rel, "--no-progress",
               "--rate", str(WRITE_RATE), "--total", str(WRITE_RATE * 4 * 3600)] + WRITER + [
            "put", "--val-size", str(val_size), "--key-space-size", "1000"]
        self.shown = ["ketcd-bench"] + cmd[1:]
        self.cpu0, self.t0 = c.cpu_seconds(), time.time()
        self.disk = DiskWatch(c, c.dir)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL, cwd=runner.outdir)
        procs.append(self.proc)

    def stop(self):
        c = self.runner.clusters[self.system]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=OP_TIMEOUT_S)
        disk = self.disk.figures()
        wall, server_cpu = time.time() - self.t0, c.cpu_seconds() - self.cpu0
        self.runner.log.write("$ %s\n%s%s\n" % (" ".join(self.shown), out, err))
        self.runner.log.flush()
        js = os.path.join(self.runner.outdir, self.rel)
        if self.proc.returncode not in (0, 1) or not os.path.exists(js):
            raise RuntimeError("%s on %s failed (exit %s%s): %s" % (
                self.name, self.system, self.proc.returncode, "" if os.path.exists(js) else ", no JSON written",
                (err or out).strip()[-500:]))
        with open(js) as f:
            data = json.load(f)
        data["argv"] = self.shown  # as compare's runs: the binary by name, no path of this machine
        with open(js, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        main = data["results"][0]
        rec = {"workload": self.name, "system": self.system, "round": 1, "tls": data["tls"], "auth": "none",
               "json": self.rel, "rps": main["rps"], "p50_ms": main["latency_ms"]["p50"],
               "p99_ms": main["latency_ms"]["p99"], "p999_ms": main["latency_ms"]["p99.9"],
               "errors": main["errors"], "client_cores": data["client_cpu_s"] / max(1e-9, data["duration_s"]),
               "server_cores": server_cpu / max(1e-9, wall), "extra": {},
               "puts": main["ok"], "seconds": data["duration_s"], "interrupted": bool(data.get("interrupted")),
               "disk": disk}
        self.runner.results.append(rec)
        print("  %-22s %-6s %6d puts in %6.1f s  p50 %7.2f ms  p99 %8.2f ms  errors %d" % (
            self.name, self.system, rec["puts"], rec["seconds"], rec["p50_ms"], rec["p99_ms"], rec["errors"]),
            flush=True)
        return rec


def during(runner, system, phase, val_size, procs, operation):
    """The writer's record while operation() runs, and what it returned."""
    w = Writer(runner, system, phase, val_size, procs)
    try:
        time.sleep(PRE_ROLL_S)
        out = operation()
    finally:
        rec = w.stop()
    return rec, out


def phase_of(rec, **more):
    return dict({k: rec[k] for k in ("p50_ms", "p99_ms", "p999_ms", "rps", "puts", "seconds", "errors", "disk")},
                **more)


def writes(runner, system, keys, val_size, quick, procs):
    """Step 4: the writer idle, during the compaction, during the defrags."""
    c = runner.clusters[system]
    half = keys // 2
    print("  %s: overwriting keys 0..%d" % (system, half - 1), flush=True)
    over = runner.bench(system, "overwrite", load_args(half, val_size), half, "leader", 1, timeout=600 + half // 200)
    r = checked(c, "get", c.etcdctl(c.leader(), "get", "foo", "-w", "json"))
    rev = int(json.loads(r.stdout)["header"]["revision"])
    time.sleep(SETTLE_S[1 if quick else 0])
    idle = during(runner, system, "idle", val_size, procs, lambda: time.sleep(IDLE_S[1 if quick else 0]))[0]

    def compact():
        t0 = time.time()
        checked(c, "compaction", c.etcdctl(c.leader(), "--command-timeout=%ds" % OP_TIMEOUT_S, "compaction",
                                           str(rev), "--physical", timeout=OP_TIMEOUT_S + 60))
        return time.time() - t0
    comp, compact_s = during(runner, system, "compaction", val_size, procs, compact)
    print("  %s: compaction at %d took %.2f s" % (system, rev, compact_s), flush=True)
    leader = c.leader()
    order = [m for m in c.members if m["client"] != leader] + [m for m in c.members if m["client"] == leader]

    def defrag():
        per = []
        for m in order:
            t0 = time.time()
            checked(c, "defrag on " + m["name"], c.etcdctl(m["client"], "--command-timeout=%ds" % OP_TIMEOUT_S,
                                                            "defrag", timeout=OP_TIMEOUT_S + 60))
            per.append({"name": m["name"], "leader": m["client"] == leader, "defrag_s": time.time() - t0})
        return per
    defr, per = during(runner, system, "defrag", val_size, procs, defrag)
    total = sum(p["defrag_s"] for p in per)
    print("  %s: defrag %s" % (system, ", ".join("%s%s %.2f s" % (p["name"], " (leader)" if p["leader"] else "",
                                                                  p["defrag_s"]) for p in per)), flush=True)
    after = sizes(c)
    ratio_of = lambda rec: rec["p99_ms"] / idle["p99_ms"] if idle["p99_ms"] else float("nan")  # noqa: E731
    return {"overwrite": {"keys": half, "rps": over["rps"], "seconds": raw(runner, over)["duration_s"]},
            "compact_rev": rev, "idle": phase_of(idle), "compaction": phase_of(comp, op_s=compact_s),
            "defrag": phase_of(defr, op_s=total, members=per),
            "p99_ratio_compaction": ratio_of(comp), "p99_ratio_defrag": ratio_of(defr),
            "after_defrag": {"disk_mib": mean(s["disk_mib"] for s in after), "db_mib": mean(s["db_mib"] for s in after),
                             "members": after}}


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else float("nan")


def one_system(cmp, runner, system, keys, val_size, quick, procs):
    """Steps 1-5 on a started cluster; the system's figures."""
    c = runner.clusters[system]
    print("%s: leader %s; loading %d keys of %d bytes" % (system, c.leader(timeout=60), keys, val_size), flush=True)
    c.etcdctl(c.leader(), "put", "foo", "v" * 256)  # restart_time() reads it
    load = runner.bench(system, "load", load_args(keys, val_size), keys, "leader", 1, timeout=600 + keys // 200)
    seconds = raw(runner, load)["duration_s"]
    mem, size = c.memory(), sizes(c)
    members = [dict(s, name=m["name"], peak_rss_mib=r["VmHWM"], rss_mib=r["VmRSS"])
               for m, s, r in zip(c.members, size, mem)]
    out = {"load": {"rps": load["rps"], "mib_s": load["rps"] * val_size / MIB, "seconds": seconds,
                    "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"], "errors": load["errors"]},
           "memory": {"peak_rss_mib": max(m["VmHWM"] for m in mem), "rss_mib": max(m["VmRSS"] for m in mem),
                      "disk_mib": mean(s["disk_mib"] for s in size), "db_mib": mean(s["db_mib"] for s in size),
                      "members": members}}
    print("  %s: %.0f puts/s (%.1f MiB/s) for %.1f s; peak RSS %.0f MiB, disk %.0f MiB per member" % (
        system, load["rps"], out["load"]["mib_s"], seconds, out["memory"]["peak_rss_mib"],
        out["memory"]["disk_mib"]), flush=True)
    total = RANGE_TOTAL[1 if quick else 0]
    rng = runner.bench(system, "range-random", ["--clients", "100", "--conns", "10", "range", "--key-size",
                                                str(KEY_SIZE), "--key-space-size", str(keys)],
                       total, "leader", 1, timeout=1800)
    out["range"] = {"total": total, "rps": rng["rps"], "p50_ms": rng["p50_ms"], "p99_ms": rng["p99_ms"],
                    "errors": rng["errors"], "empty": int(raw(runner, rng).get("ranges_empty", -1))}
    out["writes"] = writes(runner, system, keys, val_size, quick, procs)
    out["memory"]["peak_rss_end_mib"] = max(m["VmHWM"] for m in c.memory())
    follower = next(i for i, m in enumerate(c.members) if m["client"] != c.leader())
    out["restart_s"] = cmp.restart_time(c, follower, timeout=900)
    print("  %s: follower restart to serving %.2f s" % (system, out["restart_s"]), flush=True)
    return out


def row(label, k, e, fmt="%.2f"):
    return "| %s | %s | %s | %s |" % (label, fmt % k, fmt % e, ratio(k, e))


def pair(d):
    return "%.2f / %.2f" % (d["p50_ms"], d["p99_ms"])


def table(s):
    sc = s["scale"]
    k, e = sc["ketcd"], sc["etcd"]
    head = ["", "| | ketcd | etcd | ketcd/etcd |", "|---|---:|---:|---:|"]
    kw, ew = k["writes"], e["writes"]
    lines = ["# ketcd vs etcd 3.4 with a large store — %s" % s["date"], "",
             "`%s`: %d keys of %d bytes; 3 members each on 127.0.0.1, one system at a time (a fresh cluster, its "
             "data removed before the next starts), plaintext, heartbeat 100 ms, election 1000 ms, snapshot-count "
             "100000, --quota-backend-bytes %d GiB; %d cores (%s); disk fdatasync p50 %.3f ms, p99 %.3f ms; client "
             "`ketcd-bench` for both." % (s["command"], sc["keys"], sc["val_size"], sc["quota_backend_bytes"] >> 30,
                                          s["cores"], s["cpu"], s["fdatasync"]["p50_ms"], s["fdatasync"]["p99_ms"]),
             "", "Load (`put --sequential-keys`, 1000 clients / 100 conns, on the leader; every key distinct):"]
    lines += head + [row("puts/s", k["load"]["rps"], e["load"]["rps"], "%.0f"),
                     row("MiB/s of values", k["load"]["mib_s"], e["load"]["mib_s"], "%.1f"),
                     row("load time, s", k["load"]["seconds"], e["load"]["seconds"], "%.1f"),
                     "| put p50 / p99 during the load, ms | %s | %s | %s (p99) |" % (
                         pair(k["load"]), pair(e["load"]), ratio(k["load"]["p99_ms"], e["load"]["p99_ms"])),
                     row("errors", k["load"]["errors"], e["load"]["errors"], "%d")]
    km, em = k["memory"], e["memory"]
    lines += ["", "Memory and disk after the load:"] + head + [
        row("peak RSS per member (max of 3), MiB", km["peak_rss_mib"], em["peak_rss_mib"], "%.0f"),
        row("disk per member (du of the data dir, mean of 3), MiB", km["disk_mib"], em["disk_mib"], "%.0f"),
        row("Status dbSize per member (mean of 3), MiB", km["db_mib"], em["db_mib"], "%.0f"),
        row("peak RSS per member at the end (after ranges, compaction, defrag), MiB", km["peak_rss_end_mib"],
            em["peak_rss_end_mib"], "%.0f")]
    kr, er = k["range"], e["range"]
    lines += ["", "Linearizable range of one random loaded key per request (`range --key-space-size %d`, 100 "
              "clients / 10 conns, %d requests, on the leader):" % (sc["keys"], kr["total"])] + head + [
        row("req/s", kr["rps"], er["rps"], "%.0f"),
        "| p50 / p99, ms | %s | %s | %s (p99) |" % (pair(kr), pair(er), ratio(kr["p99_ms"], er["p99_ms"])),
        row("ranges that found no key", kr["empty"], er["empty"], "%d"),
        row("errors", kr["errors"], er["errors"], "%d")]
    lines += ["", "Writes while the store is compacted and defragmented: keys 0..%d overwritten once (%.1f s / "
              "%.1f s), then, %d s later, a writer on the leader (%s clients, %d puts/s, its own 1000 keys) idle for "
              "%.0f s, during `etcdctl compaction REV --physical` at the overwrite's last revision, and during "
              "`etcdctl defrag` on each member in turn, leader last (the writer starts %.1f s before each and stops "
              "when it returns). Target: ketcd's p99 during each within 2× its idle p99." % (
                  kw["overwrite"]["keys"] - 1, kw["overwrite"]["seconds"], ew["overwrite"]["seconds"], sc["settle_s"],
                  WRITER[1], sc["write_rate"], kw["idle"]["seconds"], PRE_ROLL_S)] + head
    for name, text in (("idle", "idle"), ("compaction", "during the compaction"), ("defrag", "during the defrags")):
        kp, ep = kw[name], ew[name]
        lines.append("| put p50 / p99 %s, ms (puts ketcd / etcd: %d / %d) | %s | %s | %s (p99) |" % (
            text, kp["puts"], ep["puts"], pair(kp), pair(ep), ratio(kp["p99_ms"], ep["p99_ms"])))
    for key, text in (("disk_write_mib_s", "the disk's writes (all 3 members), MiB/s"),
                      ("wal_fsyncs_slow", "WAL fdatasyncs over %d ms (all 3 members)" % (float(SLOW_FSYNC_S) * 1000))):
        cells = []
        for w in (kw, ew):
            vals = [w[p].get("disk", {}).get(key) for p in ("idle", "compaction", "defrag")]
            cells.append(" / ".join("n/a" if v is None else ("%.1f" % v if isinstance(v, float) else "%d" % v)
                                    for v in vals))
        lines.append("| %s: idle / compaction / defrags | %s | %s | |" % (text, cells[0], cells[1]))
    lines += ["| p99 during the compaction / idle p99 | **%.2f×** | %.2f× | |" % (kw["p99_ratio_compaction"],
                                                                                 ew["p99_ratio_compaction"]),
              "| p99 during the defrags / idle p99 | **%.2f×** | %.2f× | |" % (kw["p99_ratio_defrag"],
                                                                              ew["p99_ratio_defrag"]),
              row("`etcdctl compaction --physical`, s", kw["compaction"]["op_s"], ew["compaction"]["op_s"]),
              row("`etcdctl defrag`, all 3 members, s", kw["defrag"]["op_s"], ew["defrag"]["op_s"]),
              row("disk per member after the defrag (du, mean of 3), MiB", kw["after_defrag"]["disk_mib"],
                  ew["after_defrag"]["disk_mib"], "%.0f"),
              row("writer errors", sum(kw[p]["errors"] for p in ("idle", "compaction", "defrag")),
                  sum(ew[p]["errors"] for p in ("idle", "compaction", "defrag")), "%d")]
    for system, w in (("ketcd", kw), ("etcd", ew)):
        lines += ["", "%s defrag per member: " % system + ", ".join(
            "%s%s %.2f s" % (m["name"], " (leader)" if m["leader"] else "", m["defrag_s"])
            for m in w["defrag"]["members"]) + "."]
    lines += ["", "Restart with the store:"] + head + [
        row("follower restart until it serves a linearizable get, s", k["restart_s"], e["restart_s"])]
    return lines + ["", "Elapsed: %.0f s." % s["elapsed_s"]]


def run(args, cmp):
    """bench/compare --scale; `cmp` is bench/compare's module (Cluster,
    Runner, free_ports, fdatasync_latency, restart_time, portable_command, ROOT)."""
    if args.tls or args.auth != "none" or args.snapshot or args.join or args.defrag or args.watch_scale \
            or args.keys is not None or args.metrics_overhead or args.peer_delay or args.only \
            or getattr(args, "profile", False):
        sys.exit("compare: --scale runs its own steps, plaintext without auth (no --tls/--auth/--snapshot/--join/"
                 "--defrag/--watch-scale/--keys/--metrics-overhead/--peer-delay/--only/--profile)")
    keys = args.scale_keys or (20000 if args.quick else 4000000)
    if keys < 2 or args.scale_val_size < 1:
        sys.exit("compare: --scale-keys must be at least 2 and --scale-val-size at least 1")
    started = time.time()
    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    outdir = os.path.abspath(args.out or os.path.join(cmp.ROOT, "bench", "results", stamp + (
        "-quick" if args.quick else "") + "-scale"))
    os.makedirs(os.path.join(outdir, "raw"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="ketcd-compare-", dir=os.environ.get("KETCD_BENCH_DATA", "/tmp"))
    state = {"clusters": [], "procs": []}

    def cleanup():
        for p in state["procs"]:
            if p.poll() is None:
                p.kill()
                p.wait()
        for c in state["clusters"]:
            for i in range(len(c.members)):
                c.stop(i, signal.SIGKILL, 10)
        shutil.rmtree(work, ignore_errors=True)
    cmp.on_exit(cleanup)
    cpus, model = os.cpu_count(), cpu_model()
    print("compare --scale: %d keys of %d bytes, %s mode, %d cores, data in %s, results in %s" % (
        keys, args.scale_val_size, "quick" if args.quick else "full", cpus, work, outdir), flush=True)
    fsync = cmp.fdatasync_latency(work, 200 if args.quick else 1000)
    print("disk fdatasync: p50 %.3f ms, p99 %.3f ms" % (fsync["p50_ms"], fsync["p99_ms"]), flush=True)
    runner = cmp.Runner(args, outdir, {})
    figures = {}
    for system in SYSTEMS:
        ports = cmp.free_ports(6)
        c = cmp.Cluster(system, args.ketcd if system == "ketcd" else args.etcd, work,
                        [(ports[i], ports[3 + i]) for i in range(3)])
        for m in c.members:
            m["args"] += ["--quota-backend-bytes", str(QUOTA)]
        state["clusters"].append(c)
        runner.clusters[system] = c
        c.start_all()
        figures[system] = one_system(cmp, runner, system, keys, args.scale_val_size, args.quick, state["procs"])
        c.stop_all()
        shutil.rmtree(c.dir, ignore_errors=True)  # room on the disk for the next system
    summary = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "mode": "quick" if args.quick else "full",
               "compared": "scale", "tls": False, "auth": "none", "cores": cpus, "cpu": model, "fdatasync": fsync,
               "command": cmp.portable_command(sys.argv[1:]),
               "scale": dict(keys=keys, val_size=args.scale_val_size, key_size=KEY_SIZE, quota_backend_bytes=QUOTA,
                             write_rate=WRITE_RATE, writer=WRITER, settle_s=SETTLE_S[1 if args.quick else 0],
                             **figures),
               "runs": runner.results, "elapsed_s": time.time() - started}
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    lines = table(summary)
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print()
    print("\n".join(lines))
    return 0
