"""bench/compare's plots: per workload, the latency distribution and the
throughput over time of the median round of each system, drawn with
gnuplot (skipped, with a note, when gnuplot is not installed)."""

import json
import os
import shutil
import subprocess
import sys


def write_plots(outdir, runner, names):
    if shutil.which("gnuplot") is None:
        print("compare: gnuplot not found (apt-get install gnuplot-nox); no plots", file=sys.stderr)
        return []
    pngs = []
    datadir = os.path.join(outdir, "plotdata")
    os.makedirs(datadir, exist_ok=True)
    for name, label in names:
        # The round whose throughput is the median, per system.
        series = {}
        for system in ("ketcd", "etcd"):
            rs = sorted((r for r in runner.results if r["workload"] == name and r["system"] == system),
                        key=lambda r: r["rps"])
            if not rs:
                continue
            with open(os.path.join(outdir, rs[len(rs) // 2]["json"])) as f:
                series[system] = json.load(f)["results"][0]
        if len(series) != 2:
            continue
        for system, res in series.items():
            total = sum(c for _, c in res["histogram_ms"]) or 1
            acc = 0
            with open(os.path.join(datadir, "%s-%s.cdf" % (name, system)), "w") as f:
                for upper, count in res["histogram_ms"]:
                    acc += count
                    f.write("%g %g\n" % (max(upper, 0.001), 100.0 * acc / total))
            with open(os.path.join(datadir, "%s-%s.tput" % (name, system)), "w") as f:
                for s in res["per_second"]:
                    f.write("%d %d %g\n" % (s["t"], s["count"], s["p99_ms"]))
        png = "%s.png" % name
        script = """
set terminal pngcairo size 1200,440 font ",10"
set output '{out}'
set multiplot layout 1,2 title '{label}: ketcd vs etcd 3.4 (median round)'
set title 'latency distribution'
set logscale x
set xlabel 'latency (ms)'
set ylabel 'requests at or below (%)'
set key bottom right
set grid
plot '{d}/{n}-ketcd.cdf' using 1:2 with steps lw 2 title 'ketcd', \\
     '{d}/{n}-etcd.cdf' using 1:2 with steps lw 2 title 'etcd 3.4'
unset logscale x
set title 'throughput over time'
set xlabel 'second of the run'
set ylabel 'completed per second'
set yrange [0:*]
plot '{d}/{n}-ketcd.tput' using 1:2 with linespoints lw 2 title 'ketcd', \\
     '{d}/{n}-etcd.tput' using 1:2 with linespoints lw 2 title 'etcd 3.4'
unset multiplot
""".format(out=os.path.join(outdir, png), label=label, d=datadir, n=name)
        r = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            pngs.append(png)
        else:
            print("compare: gnuplot failed for %s: %s" % (name, r.stderr.strip()), file=sys.stderr)
    return pngs
