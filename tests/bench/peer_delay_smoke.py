#!/usr/bin/python3
"""CI smoke test of ketcd-delay-proxy and bench/compare --peer-delay.

The proxy alone, against an echo server in this process: a round trip
through a route with a 20 ms delay takes at least 40 ms; 4 MiB of random
bytes come back whole and in order, and the end of stream is passed on
(the echo server's half-close reaches the client); a receiver that does
not read stalls its sender after a bounded amount (--max-queue-mib 1), and
everything arrives once it reads; on SIGTERM the proxy prints its routes'
counts (bytes each way as sent) and exits 0; bad flags exit 2.

Then a 1-round --quick bench/compare --peer-delay 2ms: exit 0, the table
with both workloads' rows, summary.json with one error-free run of each
system per workload whose p50 is at least the 4 ms round trip (so the
members did talk through the proxy), proxy traffic on every member's route,
results naming no path of this machine, nothing left running. No speed is
asserted.

usage: peer_delay_smoke.py --ketcd PATH --bench PATH --proxy PATH
"""
import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from compare_smoke import (check, check_cleaned_up, check_names_no_local_path, local_paths, run_compare,  # noqa: E402
                           verdict)

DELAY_MS = 20
ROWS = {"put-1": "| put, 1 client, leader |", "put-1000": "| put, 1000 clients / 100 conns, leader |"}


class Target:
    """A listener on 127.0.0.1 that echoes (and half-closes after the
    client's end of stream), or with hold=True accepts and reads nothing
    until release()."""

    def __init__(self, hold=False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.hold, self.go, self.received = hold, threading.Event(), bytearray()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        if self.hold:
            self.go.wait(30)
        with conn:
            while True:
                data = conn.recv(1 << 20)
                if not data:
                    if not self.hold:
                        conn.shutdown(socket.SHUT_WR)
                    return
                if self.hold:
                    self.received += data
                else:
                    conn.sendall(data)


def start_proxy(binary, routes, *extra):
    args = [binary, "--delay-ms", str(DELAY_MS)] + list(extra)
    for listen, target in routes:
        args += ["--route", "127.0.0.1:%d=127.0.0.1:%d" % (listen, target)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = p.stdout.readline()
    check("proxy prints that it listens", "listening" in line, line)
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def echo_checks(proxy_port):
    c = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtts = []
    for _ in range(5):
        t0 = time.perf_counter()
        c.sendall(b"ping")
        got = b""
        while len(got) < 4:
            got += c.recv(4 - len(got))
        rtts.append((time.perf_counter() - t0) * 1000)
    check("round trip through the proxy >= 2 x %d ms" % DELAY_MS, min(rtts) >= 2 * DELAY_MS, str(rtts))
    payload = os.urandom(4 << 20)
    sender = threading.Thread(target=lambda: (c.sendall(payload), c.shutdown(socket.SHUT_WR)))
    sender.start()
    got = bytearray()
    while True:
        data = c.recv(1 << 20)
        if not data:
            break
        got += data
    sender.join()
    c.close()
    check("4 MiB echoed whole and in order, then end of stream", bytes(got) == payload, "%d bytes" % len(got))
    return 5 * 4 + len(payload)


def backpressure_checks(proxy_port, target):
    c = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
    c.setblocking(False)
    sent, chunk, deadline = 0, b"z" * (1 << 16), time.time() + 1.5
    while time.time() < deadline and sent < (64 << 20):
        try:
            sent += c.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    # Kernel buffers on both sides of the proxy hold several MiB; unbounded reading would take all 64.
    check("a receiver that does not read stalls the sender", sent < (40 << 20), "%d MiB sent" % (sent >> 20))
    target.go.set()
    c.setblocking(True)
    c.shutdown(socket.SHUT_WR)
    deadline = time.time() + 10
    while len(target.received) < sent and time.time() < deadline:
        time.sleep(0.05)
    check("everything arrives once it reads", len(target.received) == sent, "%d of %d" % (len(target.received), sent))
    c.close()
    return sent


def proxy_checks(binary):
    echo, held = Target(), Target(hold=True)
    routes = [(free_port(), echo.port), (free_port(), held.port)]
    p = start_proxy(binary, routes, "--max-queue-mib", "1")
    try:
        echoed = echo_checks(routes[0][0])
        sent = backpressure_checks(routes[1][0], held)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
    check("proxy exits 0 on SIGTERM", p.returncode == 0, str(p.returncode))
    lines = out.splitlines()
    check("a count line per route", len(lines) == 2 and all(l.startswith("route ") for l in lines), out)
    check("the echo route's counts", "connections 1 refused 0 bytes_forward %d bytes_back %d" % (echoed, echoed)
          in out, out)
    check("the held route's counts", "bytes_forward %d bytes_back 0" % sent in out, out)
    route = "127.0.0.1:7000=127.0.0.1:7001"
    for bad in (["--delay-ms", "5", "--route", "0.0.0.0:7000=127.0.0.1:7001"], ["--route", route],
                ["--delay-ms", "5", "--route", "127.0.0.1:7000"], ["--delay-ms", "-1", "--route", route]):
        r = subprocess.run([binary] + bad, capture_output=True, text=True, timeout=10)
        check("bad flags %s: exit 2 with a message" % " ".join(bad), r.returncode == 2 and r.stderr.strip(),
              "exit %d: %s" % (r.returncode, r.stderr))


def compare_checks(args, tmp):
    out = os.path.join(tmp, "out")
    r = run_compare(["--quick", "--rounds", "1", "--peer-delay", "2ms", "--out", out, "--ketcd", args.ketcd,
                     "--bench", args.bench, "--delay-proxy", args.proxy], 75, tmp)
    if r is None:
        return
    check("prints the table with both workloads", all(row in r.stdout for row in ROWS.values()) and
          "| 2 ms (4 ms) |" in r.stdout, r.stdout[-2000:])
    try:
        with open(os.path.join(out, "summary.json")) as f:
            s = json.load(f)
        check("summary.json says peer-delay at 2 ms", s["compared"] == "peer-delay" and s["delays_ms"] == [2.0],
              str((s.get("compared"), s.get("delays_ms"))))
        rows = {row["workload"]: row for row in s["rows"]}
        check("a row per workload", sorted(rows) == sorted(ROWS), str(sorted(rows)))
        for name, row in rows.items():
            check("%s: floor = 4 ms + fdatasync p50" % name, abs(row["floor_ms"] - 4 - s["fdatasync"]["p50_ms"]) < 1e-9,
                  str(row["floor_ms"]))
            for system in ("ketcd", "etcd"):
                v = row[system]
                check("%s/%s ran once without errors" % (name, system),
                      v["runs"] == 1 and v["errors"] == 0 and v["rps"] > 0, json.dumps(v))
                check("%s/%s: p50 at least the 4 ms round trip" % (name, system), v["p50_ms"] >= 4, json.dumps(v))
        for system in ("ketcd", "etcd"):
            t = s["proxy"]["2ms"][system]
            check("%s: every member's proxy route carried bytes" % system,
                  len(t["per_member"]) == 3 and all(m["bytes"] > 0 for m in t["per_member"]), json.dumps(t))
    except (OSError, ValueError, KeyError, TypeError) as e:
        check("summary.json parses", False, repr(e))
    raws = glob.glob(os.path.join(out, "delay-2ms", "raw", "*.json"))
    check("one raw JSON per run", len(raws) == 4, str(raws))
    check_names_no_local_path(out, local_paths(tmp, args.proxy, args.bench))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--proxy", required=True)
    args = ap.parse_args()
    proxy_checks(args.proxy)
    tmp = tempfile.mkdtemp(prefix="ketcd-peer-delay-smoke-")
    try:
        compare_checks(args, tmp)
        check_cleaned_up(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return verdict("peer-delay smoke")


if __name__ == "__main__":
    sys.exit(main())
