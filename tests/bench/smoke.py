#!/usr/bin/python3
"""CI smoke test of ketcd-bench against one ketcd member: every subcommand
runs for a few seconds, its summary and --json file parse, the counts add
up and nothing failed; TLS flag mistakes are refused with a message naming
the flag and the file. No performance is asserted.

usage: smoke.py --ketcd PATH --bench PATH
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))
import harness  # noqa: E402

FAILED = []


def check(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail and not ok else ""), flush=True)
    if not ok:
        FAILED.append(name)


def run(bench, endpoint, tmpdir, name, args, expect_rc=0):
    js = os.path.join(tmpdir, name + ".json")
    r = subprocess.run([bench, "--endpoints", endpoint, "--json", js] + args, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    check("%s exits %d" % (name, expect_rc), r.returncode == expect_rc,
          "exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    check("%s: no progress bar when not on a terminal" % name, "\r" not in r.stderr, repr(r.stderr[:200]))
    data = None
    try:
        with open(js) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        check("%s: --json parses" % name, False, str(e))
    return r.stdout, data


def tls_flag_errors(bench, tmp):
    """etcdctl's TLS flags: a run is all TLS or all plaintext, and a
    certificate file that cannot be used is named, with its flag, before
    anything is dialed (exit 2, a setup error)."""
    missing, not_pem = os.path.join(tmp, "no-such-ca.crt"), os.path.join(tmp, "put.json")
    for label, args, words in [
        ("https:// and http:// endpoints mixed", ["--endpoints", "https://127.0.0.1:1,http://127.0.0.1:2"],
         ["mixes http:// and https://"]),
        ("--cacert with http:// endpoints", ["--endpoints", "http://127.0.0.1:1", "--cacert", not_pem],
         ["--cacert/--cert/--key given with http://"]),
        ("an unreadable --cacert", ["--endpoints", "https://127.0.0.1:1", "--cacert", missing],
         ["--cacert " + missing, "cannot read"]),
        ("a --cacert that is not PEM", ["--endpoints", "https://127.0.0.1:1", "--cacert", not_pem],
         ["--cacert " + not_pem, "no PEM block"]),
        ("--cert without --key", ["--endpoints", "127.0.0.1:1", "--cert", not_pem], ["--cert needs --key"]),
    ]:
        r = subprocess.run([bench] + args + ["--total", "1", "put"], capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        check("%s exits 2 saying so" % label, r.returncode == 2 and all(w in r.stderr for w in words),
              "exit %d: %s" % (r.returncode, r.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--bench", required=True)
    a = ap.parse_args()
    with harness.Server(a.ketcd, label="ketcd") as srv:
        srv.start()
        ep, tmp = srv.endpoint, srv.tmpdir

        out, d = run(a.bench, ep, tmp, "put", ["--clients", "20", "--conns", "4", "--total", "3000", "put",
                                               "--val-size", "256", "--key-space-size", "1000"])
        if d:
            r = d["results"][0]
            check("put: all 3000 succeeded, none failed", r["ok"] == 3000 and r["errors"] == 0, str(r["ok"]))
            check("put: percentiles ordered", 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
                  <= r["latency_ms"]["max"], str(r["latency_ms"]))
            check("put: histogram counts add up", sum(c for _, c in r["histogram_ms"]) == 3000)
            check("put: per-second series adds up", sum(s["count"] for s in r["per_second"]) == 3000)
            check("put: summary printed", "put: 3000 ok, 0 errors" in out, out)
            check("put: recorded as plaintext", d["tls"] is False and "plaintext)" in out, str(d.get("tls")))
        # The store now holds exactly the keys the seed picks: a second run
        # with the same seed writes no new key.
        count = subprocess.run([harness.ETCDCTL, "--endpoints=" + ep, "get", "", "--prefix", "--keys-only",
                                "-w", "json"], capture_output=True, text=True, env=harness.etcdctl_env(),
                               timeout=20)
        keys1 = json.loads(count.stdout).get("count", 0)
        run(a.bench, ep, tmp, "put-again", ["--clients", "7", "--total", "3000", "put", "--val-size", "256",
                                            "--key-space-size", "1000"])
        count = subprocess.run([harness.ETCDCTL, "--endpoints=" + ep, "get", "", "--prefix", "--keys-only",
                                "-w", "json"], capture_output=True, text=True, env=harness.etcdctl_env(),
                               timeout=20)
        keys2 = json.loads(count.stdout).get("count", 0)
        check("seeded keys: same key set in a second run (%d keys)" % keys1, 0 < keys1 == keys2 <= 1000,
              "%d then %d" % (keys1, keys2))

        for name, args in [
            ("range-l", ["--clients", "20", "--conns", "4", "--total", "3000", "range", "foo"]),
            ("range-s", ["--clients", "20", "--conns", "4", "--total", "3000", "range", "foo", "--consistency",
                         "s"]),
            ("txn-put", ["--clients", "10", "--total", "1000", "txn-put", "--txn-ops", "4", "--key-space-size",
                         "100"]),
            ("txn-mixed", ["--clients", "10", "--total", "1000", "txn-mixed", "mix/", "mix0", "--key-size", "10",
                           "--key-space-size", "100", "--rw-ratio", "3"]),
            ("lease-keepalive", ["--clients", "10", "--total", "2000", "lease-keepalive"]),
            ("put-rate", ["--clients", "4", "--total", "200", "--rate", "200", "put"]),
        ]:
            out, d = run(a.bench, ep, tmp, name, args)
            if d:
                ok = sum(r["ok"] for r in d["results"])
                errors = sum(r["errors"] for r in d["results"])
                total = int(args[args.index("--total") + 1])
                check("%s: %d requests, no errors" % (name, total), ok == total and errors == 0,
                      "%d ok, %d errors" % (ok, errors))
                if name == "put-rate":
                    check("put-rate: --rate 200 paces 200 puts over about a second",
                          0.9 <= d["duration_s"] <= 5, str(d["duration_s"]))
                if name == "txn-mixed":
                    names = [r["name"] for r in d["results"]]
                    check("txn-mixed: reads and writes reported apart", names == ["txn-read", "txn-write"]
                          and all(r["ok"] > 0 for r in d["results"]), str(names))

        out, d = run(a.bench, ep, tmp, "watch-latency", ["--conns", "2", "watch-latency", "--put-total", "200",
                                                         "--put-rate", "200", "--streams", "4",
                                                         "--watchers-per-stream", "25"])
        if d:
            check("watch-latency: every watcher got every event",
                  d["events_received"] == d["events_expected"] == 200 * 100 and d["events_out_of_order"] == 0,
                  "%s of %s" % (d["events_received"], d["events_expected"]))
            check("watch-latency: event latencies recorded", d["results"][0]["ok"] == 20000)

        # A dead endpoint is a setup error (exit 2), not a hang.
        port = harness.free_ports(1)[0]
        r = subprocess.run([a.bench, "--endpoints", "127.0.0.1:%d" % port, "--total", "10", "put"],
                           capture_output=True, text=True, timeout=30)
        check("unreachable endpoint exits 2 with a message", r.returncode == 2 and "cannot connect" in r.stderr,
              "exit %d: %s" % (r.returncode, r.stderr))
        r = subprocess.run([a.bench, "--clients", "0", "put"], capture_output=True, text=True, timeout=30)
        check("bad flag exits 2", r.returncode == 2, "exit %d" % r.returncode)
        tls_flag_errors(a.bench, tmp)
    if FAILED:
        print("FAILED: %s" % ", ".join(FAILED))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
