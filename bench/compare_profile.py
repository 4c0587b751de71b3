"""bench/compare --profile: where each system's leader spends its CPU, as
flame graphs (issue 18; see bench/compare's help).

One extra round before the measured ones, not counted in any median: for
each selected workload and each system, the leader is recorded with `perf
record -F 499 -p PID` from just before ketcd-bench starts until it ends
(perf's own cost slows that run, which is why it is not measured; its
throughput is shown beside the profile so the distortion can be seen).
Call chains:
  - ketcd: `--call-graph dwarf,16384`. ketcd and the libraries it links
    (gRPC, RocksDB, Abseil, libstdc++ from Debian) are built without frame
    pointers, so `-g` (frame pointers) loses every caller past the leaf's
    frame: of the stacks it gives, a leaf in RocksDB ends at
    storage::WriteTxn::Put followed by garbage, where DWARF unwinding of
    the sampled 16 KiB of stack reaches thread start. Its cost: perf copies
    16 KiB of stack per sample (about 8 MB/s at 499 Hz on 2 cores) and
    unwinds afterwards in `perf script`, not in the member.
  - etcd: `-g`: Go keeps frame pointers, so they unwind correctly and
    cheaply. Debian strips etcd's symbol table; bench/flamegraph.py names
    its frames from .gopclntab.
`perf script --no-inline`: resolving inlined frames costs perf an addr2line
run per address (25 s for 700 samples here) and the caller they are
inlined into is still named.

Per workload and system, in the results directory: flame-<workload>-
<system>.svg and .folded; table.md gets, per workload, links to them and
the top 20 functions by self time of both leaders side by side. The perf
data files are written in the temp dir and removed once folded; perf's
build-id cache (~/.debug, a copy of every binary it saw) is not used.
"""

import os
import shutil
import signal
import subprocess
import time

import flamegraph

FREQ = 499
CALL_GRAPH = {"ketcd": ["--call-graph", "dwarf,16384"], "etcd": ["-g"]}
TOP = 20


def record_command(system):
    """perf record's command line for `system`'s process, less its target."""
    return ["perf", "record", "-q", "--no-buildid-cache", "-F", str(FREQ)] + CALL_GRAPH[system]


def unusable(workdir):
    """Why perf cannot record here (not installed, not permitted), or None."""
    if shutil.which("perf") is None:
        return "perf not found (apt-get install linux-perf)"
    data = os.path.join(workdir, "perf-probe.data")
    try:
        r = subprocess.run(record_command("ketcd") + ["-o", data, "--", "true"], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "perf record failed: %s" % e
    finally:
        for path in (data, data + ".old"):
            if os.path.exists(path):
                os.remove(path)
    if r.returncode != 0:
        return "perf record is not permitted here: %s" % (r.stderr.strip()[-300:] or "exit %d" % r.returncode)
    return None


class Profiler:
    """Records the leaders during the extra round; keeps what table.md and
    summary.json show of it."""

    def __init__(self, workdir, outdir):
        self.work, self.outdir = workdir, outdir
        self.profiles = []  # one dict per workload and system
        why = unusable(workdir)
        if why:
            raise RuntimeError("--profile: " + why)

    def round(self, runner, workloads, idx):
        """The extra round: every workload (with its totals[idx]) once per system."""
        print("profile round (perf record on each leader; not counted)", flush=True)
        for name, bench_args, totals, target, label in workloads:
            for system in ("ketcd", "etcd"):
                self.profile(runner, system, name, label, bench_args, totals[idx], target)

    def profile(self, runner, system, name, label, bench_args, total, target):
        rec, script, seconds = self.record(runner, system, name, bench_args, total, target)
        folded = flamegraph.fold(script)
        samples = sum(folded.values())
        base = "flame-%s-%s" % (name, system)
        with open(os.path.join(self.outdir, base + ".folded"), "w") as f:
            f.write(flamegraph.format_folded(folded))
        cpu_s = samples / float(FREQ)
        subtitle = ("%s, %s leader: %d samples at %d Hz (%.1f CPU-s, %.0f us per request); "
                    "%.0f req/s under perf" % (label, system, samples, FREQ, cpu_s, 1e6 * cpu_s / max(1, total),
                                               rec["rps"]))
        with open(os.path.join(self.outdir, base + ".svg"), "w") as f:
            f.write(flamegraph.render_svg(folded, "%s: %s's leader" % (name, system), subtitle))
        self.profiles.append({"workload": name, "label": label, "system": system, "samples": samples,
                              "kernel_samples": sum(n for stack, n in folded.items() if stack.endswith("_[k]")),
                              "requests": total, "rps_under_perf": rec["rps"], "svg": base + ".svg",
                              "folded": base + ".folded", "top_self": flamegraph.top_self(folded, TOP)})
        print("  profile %-16s %-6s %6d samples, %.0f us CPU per request on the leader, %.0f req/s under perf "
              "(perf script %.1f s)" % (name, system, samples, 1e6 * cpu_s / max(1, total), rec["rps"], seconds),
              flush=True)

    def record(self, runner, system, name, bench_args, total, target):
        """One ketcd-bench run with perf recording the leader: the run's
        record (taken out of the measured ones), `perf script`'s output and
        the seconds that took."""
        cluster = runner.clusters[system]
        leader = cluster.leader()
        pid = next(m["proc"].pid for m in cluster.members if m["client"] == leader)
        data = os.path.join(self.work, "perf-%s-%s.data" % (name, system))
        with open(data + ".log", "w") as log:
            perf = subprocess.Popen(record_command(system) + ["-p", str(pid), "-o", data], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            # perf writes the file's header once it has opened its events on
            # every thread; the mmap records of those threads follow.
            deadline = time.time() + 10
            while time.time() < deadline and perf.poll() is None and not (
                    os.path.exists(data) and os.path.getsize(data)):
                time.sleep(0.05)
            time.sleep(0.5)
            if perf.poll() is not None:
                raise RuntimeError("perf record on %s's leader exited: %s" % (system, self.log_tail(data)))
            rec = runner.bench(system, name, bench_args, total, target, 0, timeout=600)
            runner.results.remove(rec)  # perf slowed it: not a measurement
        finally:
            if perf.poll() is None:
                perf.send_signal(signal.SIGINT)
                try:
                    perf.wait(120)
                except subprocess.TimeoutExpired:
                    perf.kill()
                    perf.wait()
        t0 = time.time()
        try:
            r = subprocess.run(["perf", "script", "--no-inline", "-i", data], capture_output=True, text=True,
                               timeout=1800, stdin=subprocess.DEVNULL, errors="replace")
        finally:
            for path in (data, data + ".old", data + ".log"):
                if os.path.exists(path):
                    os.remove(path)
        if r.returncode != 0:
            raise RuntimeError("perf script on %s's profile failed: %s" % (system, r.stderr.strip()[-300:]))
        return rec, r.stdout, time.time() - t0

    @staticmethod
    def log_tail(data):
        try:
            with open(data + ".log", errors="replace") as f:
                return f.read().strip()[-300:]
        except OSError:
            return "(no output)"

    def summary(self):
        out = []
        for p in self.profiles:
            out.append(dict(p, top_self=[{"function": n, "self_samples": s, "total_samples": t}
                                         for n, s, t in p["top_self"]]))
        return out

    def table_lines(self):
        """table.md's section: per workload, both leaders' top functions by
        self time, and links to the flame graphs."""
        if not self.profiles:
            return []
        lines = ["", "## Where the leaders' CPU went (`--profile`)", "",
                 "An extra round before the measured ones, not in the medians: each leader recorded with "
                 "`perf record -F %d` (ketcd `--call-graph dwarf,16384`, etcd `-g`) while ketcd-bench ran; "
                 "CPU per request is the leader's samples / %d Hz / requests (\"_[k]\": kernel)." % (FREQ, FREQ)]
        for name in dict.fromkeys(p["workload"] for p in self.profiles):
            by = {p["system"]: p for p in self.profiles if p["workload"] == name}
            k, e = by["ketcd"], by["etcd"]
            lines += ["", "### %s" % k["label"], "",
                      "Flame graphs: [ketcd](%s), [etcd](%s) (folded stacks: [ketcd](%s), [etcd](%s)). "
                      "Leader CPU per request: ketcd %.0f us, etcd %.0f us (%d / %d samples; in the kernel "
                      "%.0f%% / %.0f%%); under perf %.0f / %.0f req/s."
                      % (k["svg"], e["svg"], k["folded"], e["folded"], cpu_us(k), cpu_us(e), k["samples"],
                         e["samples"], share(k, "kernel_samples"), share(e, "kernel_samples"),
                         k["rps_under_perf"], e["rps_under_perf"]), "",
                      "| # | ketcd: function (self) | self % | etcd: function (self) | self % |",
                      "|---:|---|---:|---|---:|"]
            for i in range(max(len(k["top_self"]), len(e["top_self"]))):
                cells = []
                for p in (k, e):
                    if i < len(p["top_self"]):
                        fn, s, _ = p["top_self"][i]
                        cells += [md_code(fn), "%.1f" % (100.0 * s / max(1, p["samples"]))]
                    else:
                        cells += ["", ""]
                lines.append("| %d | %s | %s | %s | %s |" % tuple([i + 1] + cells))
        return lines


def share(profile, key):
    return 100.0 * profile[key] / max(1, profile["samples"])


def cpu_us(profile):
    return 1e6 * profile["samples"] / float(FREQ) / max(1, profile["requests"])


def md_code(name, limit=110):
    """A function name as inline code in a Markdown table cell."""
    name = name if len(name) <= limit else name[:limit - 1] + "…"
    return "`%s`" % name.replace("`", "'").replace("|", "\\|")
