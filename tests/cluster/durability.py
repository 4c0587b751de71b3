#!/usr/bin/python3
"""Durability under kill -9: every acknowledged put survives a crash.

Run with /usr/bin/python3 (Debian's, with python3-etcd3):

    /usr/bin/python3 durability.py --server /usr/bin/etcd
    /usr/bin/python3 durability.py --server BUILD/server/ketcd --rounds 3 --puts 2000

Per round: W client processes (python3-etcd3, one connection each) put unique
keys dur/r<round>/w<worker>/<n> concurrently, and record each acknowledged put
(key, value, revision from the response header) and each attempted one.
When about half of the round's puts are acknowledged the server gets SIGKILL
(by PID) while the load is running. The workers run out (their puts now fail),
the server is restarted on the same data dir and the same ports, and the next
round starts. After the last restart the test checks:

  * every acknowledged put is readable with its value, and its key's
    create_revision == mod_revision == the acknowledged revision
    (each key is written exactly once);
  * the store revision is >= the largest acknowledged revision;
  * the acknowledged revisions are pairwise distinct;
  * every key present under dur/ was attempted with exactly that value
    (an unacknowledged put may or may not survive, but never as garbage).

Everything is bounded (--timeout for the whole test); the server and the
workers are stopped by PID and the temp dir is removed in all cases.
Exit status: 0 pass, 1 durability violation, 2 harness error.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))

import harness  # noqa: E402


# --------------------------------------------------------------------------
# worker process
# --------------------------------------------------------------------------
def worker_main(args):
    import etcd3  # only in workers / after the load, never before a fork

    host, port = args.endpoint.rsplit(":", 1)
    assert host == "127.0.0.1"
    client = etcd3.client(host=host, port=int(port), timeout=3)
    rnd = random.Random("%s-%s" % (args.round, args.worker_id))
    consecutive_errors = 0
    with open(args.out, "a", buffering=1) as out:
        for n in range(args.count):
            key = "dur/r%d/w%02d/%05d" % (args.round, args.worker_id, n)
            value = "v%d.%d.%d.%016x" % (args.round, args.worker_id, n, rnd.getrandbits(64))
            # "attempt" is written before the request, "ack" after the response
            out.write(json.dumps({"t": "attempt", "k": key, "v": value}) + "\n")
            try:
                resp = client.put(key, value)
            except Exception as e:  # grpc errors, etcd3 translated errors
                out.write(json.dumps({"t": "error", "k": key, "e": type(e).__name__}) + "\n")
                consecutive_errors += 1
                if consecutive_errors >= args.max_errors:
                    break
                time.sleep(0.01)
                continue
            consecutive_errors = 0
            out.write(json.dumps({"t": "ack", "k": key, "v": value,
                                  "rev": resp.header.revision}) + "\n")
    client.close()
    return 0


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------
class Failure(Exception):
    pass


def count_acks(paths):
    n = 0
    for p in paths:
        try:
            with open(p, "rb") as f:
                n += f.read().count(b'"t": "ack"')
        except OSError:
            pass
    return n


def read_records(paths):
    """The workers' records: {key: value attempted}, the acks, the errors.
    A missing file (a worker that never started) has none; a torn last line
    (a worker killed mid-write) is skipped."""
    attempts, acks, errors = {}, [], []
    for p in paths:
        try:
            f = open(p)
        except OSError:
            continue
        with f:
            for line in f:
                if not line.endswith("\n"):
                    continue
                r = json.loads(line)
                if r["t"] == "attempt":
                    attempts[r["k"]] = r["v"]
                elif r["t"] == "ack":
                    acks.append(r)
                else:
                    errors.append(r)
    return attempts, acks, errors


def stop_pid(proc, timeout=5):
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def run_round(rnd, server, args, deadline, log):
    per_worker = [args.puts // args.workers + (1 if i < args.puts % args.workers else 0)
                  for i in range(args.workers)]
    outs = [os.path.join(server.tmpdir, "round%d-worker%02d.jsonl" % (rnd, i))
            for i in range(args.workers)]
    procs = []
    try:
        for i in range(args.workers):
            procs.append(subprocess.Popen(
                [harness.PYTHON, os.path.abspath(__file__), "--worker",
                 "--endpoint", server.endpoint, "--round", str(rnd),
                 "--worker-id", str(i), "--count", str(per_worker[i]),
                 "--out", outs[i]],
                stdin=subprocess.DEVNULL, env=harness.clean_env({"PYTHONDONTWRITEBYTECODE": "1"}),
                preexec_fn=harness._die_with_parent))
        kill_at = max(1, int(args.puts * args.kill_fraction))
        t0 = time.monotonic()
        killed = False
        while time.monotonic() < deadline:
            acked = count_acks(outs)
            if acked >= kill_at:
                server.kill9()
                killed = True
                log("round %d: SIGKILL server after %d acks (%.2fs into the load)"
                    % (rnd, acked, time.monotonic() - t0))
                break
            if all(p.poll() is not None for p in procs):
                break
            if not server.alive():
                raise Failure("round %d: server died on its own (exit %s)\n%s"
                              % (rnd, server.proc.returncode, server.log_tail()))
            time.sleep(0.005)
        if not killed:
            if time.monotonic() >= deadline:
                raise Failure("round %d: timed out before %d puts were acknowledged (%d)"
                              % (rnd, kill_at, count_acks(outs)))
            raise Failure("round %d: workers finished with only %d acks, < %d "
                          "(see the worker output above)" % (rnd, count_acks(outs), kill_at))
        for p in procs:
            p.wait(timeout=max(1.0, min(60.0, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        raise Failure("round %d: workers did not finish after the kill" % rnd)
    finally:
        for p in procs:
            stop_pid(p)
    return outs


def verify(server, all_outs, log):
    import etcd3

    attempts, acks, errors = read_records(all_outs)
    host, port = server.endpoint.rsplit(":", 1)
    client = etcd3.client(host=host, port=int(port), timeout=10)
    try:
        resp = client.get_prefix_response("dur/")
        present = {kv.key.decode(): kv for kv in resp.kvs}
        store_rev = resp.header.revision
    finally:
        client.close()

    readback = {k: {"value": kv.value.decode(), "create_revision": kv.create_revision,
                    "mod_revision": kv.mod_revision} for k, kv in present.items()}
    problems, unacked_present, max_rev = harness.check_acks(attempts, acks, readback, store_rev)
    log("verify: %d attempted, %d acknowledged, %d failed, %d keys present "
        "(%d of them unacknowledged), max acked rev %d, store rev %d"
        % (len(attempts), len(acks), len(errors), len(present), unacked_present, max_rev, store_rev))
    return problems


def driver_main(args):
    def log(msg):
        print("[durability] " + msg, flush=True)

    if not (os.path.isfile(args.server) and os.access(args.server, os.X_OK)):
        print("server binary not executable: %s" % args.server)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.monotonic()
    deadline = t_start + args.timeout
    server = harness.Server(args.server, name="durability", label="server")
    try:
        log("server %s, data dir %s, client %s" % (args.server, server.data_dir, server.endpoint))
        server.start(health_timeout=20)
        all_outs = []
        for rnd in range(args.rounds):
            all_outs += run_round(rnd, server, args, deadline, log)
            remaining = deadline - time.monotonic()
            if remaining <= 1:
                raise Failure("out of time before restart %d" % (rnd + 1))
            t = time.monotonic()
            server.start(health_timeout=min(30.0, remaining))
            log("round %d: restarted on the same data dir, healthy after %.2fs"
                % (rnd, time.monotonic() - t))
        problems = verify(server, all_outs, log)
    except (Failure, harness.HarnessError) as e:
        log("ERROR: %s" % e)
        return 2
    finally:
        server.cleanup()
        log("finished in %.1fs; server stopped, temp dir removed" % (time.monotonic() - t_start))
    if problems:
        log("FAIL: %d violation(s):" % len(problems))
        for p in problems[:50]:
            print("  " + p)
        if len(problems) > 50:
            print("  ... and %d more" % (len(problems) - 50))
        return 1
    log("PASS")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", help="server binary (etcd or ketcd)")
    ap.add_argument("--puts", type=int, default=1000, help="puts per round")
    ap.add_argument("--workers", type=int, default=8, help="client processes")
    ap.add_argument("--rounds", type=int, default=2, help="kill -9 / restart rounds")
    ap.add_argument("--kill-fraction", type=float, default=0.5,
                    help="SIGKILL once this fraction of a round's puts is acknowledged")
    ap.add_argument("--timeout", type=float, default=150, help="bound for the whole test (s)")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", help=argparse.SUPPRESS)
    ap.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--worker-id", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--max-errors", type=int, default=20, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker_main(args)
    if not args.server:
        ap.error("--server PATH is required")
    return driver_main(args)


if __name__ == "__main__":
    sys.exit(main())
