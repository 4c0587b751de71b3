#!/usr/bin/python3
"""ketcd's process lifecycle: flag errors exit 2 with a clear message, ETCD_*
variables and Go-style -flags work, SIGTERM and SIGINT shut down cleanly
with the data kept, and a second member on the same data dir is refused.

usage: lifecycle.py --ketcd PATH
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))
import harness  # noqa: E402

FAILED = []
CHECKED = []


def check(name, ok, detail=""):
    CHECKED.append(name)
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail and not ok else ""))
    if not ok:
        FAILED.append(name)


def run_flags(ketcd, args, env=None, timeout=10):
    r = subprocess.run([ketcd] + args, capture_output=True, timeout=timeout,
                       env=harness.clean_env(env), stdin=subprocess.DEVNULL)
    return r.returncode, r.stderr.decode("utf-8", "replace") + r.stdout.decode("utf-8", "replace")


def etcdctl(endpoint, *args, stdin=None):
    r = subprocess.run([harness.ETCDCTL, "--endpoints=" + endpoint, "--command-timeout=5s"] + list(args),
                       capture_output=True, timeout=20, env=harness.etcdctl_env(),
                       input=stdin.encode() if stdin else None)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def listening_addresses(pid):
    """The (address, port) of every TCP socket `pid` listens on."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
                continue
            hexaddr, hexport = f[1].split(":")
            raw = bytes.fromhex(hexaddr)
            if v6:
                words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
                addr = socket.inet_ntop(socket.AF_INET6, b"".join(words))
            else:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
            # A dual-stack socket bound to 127.0.0.1 shows as ::ffff:127.0.0.1.
            out.append((addr.removeprefix("::ffff:"), int(hexport, 16)))
    return sorted(out)


def check_default_addresses(ketcd, tmp):
    """With no address flags, ketcd binds 127.0.0.1:2379 and :2380 and
    nothing else: not "localhost" (::1 too, or unresolvable without
    /etc/hosts), not a wildcard."""
    # The defaults as configured: a machine whose "localhost" is 127.0.0.1
    # alone would not show the difference below.
    code, out = run_flags(ketcd, ["--help"])
    for flag, url in (("--listen-client-urls", "http://127.0.0.1:2379"),
                      ("--listen-peer-urls", "http://127.0.0.1:2380")):
        check("defaults: %s is %s" % (flag, url), code == 0 and re.search(
            r"%s TEXT=%s\b" % (re.escape(flag), re.escape(url)), out) is not None, out[-2000:])
    for port in (2379, 2380):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                print("note: port %d in use here, the default-address check is skipped" % port)
                return
    log = open(os.path.join(tmp, "defaults.log"), "wb")
    p = subprocess.Popen([os.path.abspath(ketcd), "--data-dir", os.path.join(tmp, "defaults.ketcd")], stdout=log,
                         stderr=subprocess.STDOUT, env=harness.clean_env({}), cwd=tmp,
                         preexec_fn=harness._die_with_parent)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and etcdctl("127.0.0.1:2379", "put", "d", "1")[0] != 0:
            time.sleep(0.2)
        code, out, err = etcdctl("127.0.0.1:2379", "get", "d", "--print-value-only")
        check("defaults: serves on 127.0.0.1:2379", code == 0 and out.strip() == "1", out + err)
        got = listening_addresses(p.pid)
        check("defaults: listens on 127.0.0.1:2379 and 127.0.0.1:2380 only",
              got == [("127.0.0.1", 2379), ("127.0.0.1", 2380)], str(got))
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ketcd = ap.parse_args().ketcd

    code, out = run_flags(ketcd, ["--no-such-flag", "x"])
    check("unknown flag exits 2", code == 2, "exit %d: %s" % (code, out))
    check("unknown flag is named", "no-such-flag" in out, out)
    code, out = run_flags(ketcd, ["--listen-client-urls", "127.0.0.1:2379"])
    check("URL without scheme exits 2", code == 2, "exit %d: %s" % (code, out))
    check("URL error names the flag and gives Go's reason",
          "--listen-client-urls" in out and "first path segment in URL cannot contain colon" in out, out)
    code, out = run_flags(ketcd, ["--advertise-client-urls", "http://127.0.0.1:notaport"])
    check("URL with a bad port exits 2", code == 2, "exit %d: %s" % (code, out))
    code, out = run_flags(ketcd, ["--max-txn-ops", "many"])
    check("non-numeric --max-txn-ops exits 2", code == 2, "exit %d: %s" % (code, out))
    code, out = run_flags(ketcd, ["--initial-cluster-state", "sideways"])
    check("bad --initial-cluster-state exits 2", code == 2, "exit %d: %s" % (code, out))
    code, out = run_flags(ketcd, ["--version"])
    check("--version exits 0", code == 0 and "ketcd" in out, out)

    # ETCD_* variables and Go-style flags: a txn of 3 ops with ETCD_MAX_TXN_OPS=2.
    tmp = tempfile.mkdtemp(prefix="ketcd-life-")
    procs = []
    try:
        check_default_addresses(ketcd, tmp)
        port, peer = harness.free_ports(2)
        data = os.path.join(tmp, "m1.ketcd")
        url = "http://127.0.0.1:%d" % port
        args = ["-name", "m1", "-data-dir", data, "-listen-client-urls", url,
                "--advertise-client-urls=" + url,
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
                "--listen-peer-urls", "http://127.0.0.1:%d" % peer]
        env = harness.clean_env({"ETCD_MAX_TXN_OPS": "2"})
        log = open(os.path.join(tmp, "m1.log"), "wb")
        p = subprocess.Popen([ketcd] + args, stdout=log, stderr=subprocess.STDOUT, env=env,
                             preexec_fn=harness._die_with_parent)
        procs.append(p)
        ep = "127.0.0.1:%d" % port
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and etcdctl(ep, "get", "x")[0] != 0:
            time.sleep(0.2)
        code, out, err = etcdctl(ep, "put", "a", "1")
        check("serves with Go-style flags", code == 0, err)
        code, out, err = etcdctl(ep, "txn", stdin="\nput x 1\nput y 2\nput z 3\n\n\n")
        check("ETCD_MAX_TXN_OPS applies", code != 0 and "too many operations" in err, out + err)

        # A second member on the same data dir is refused, the first unharmed.
        port2 = harness.free_ports(1)[0]
        code2, out2 = run_flags(ketcd, ["--data-dir", data, "--listen-client-urls",
                                        "http://127.0.0.1:%d" % port2, "--listen-peer-urls",
                                        "http://127.0.0.1:%d" % harness.free_ports(1)[0]], timeout=20)
        check("second member on the same data dir refused", code2 != 0 and "in use" in out2,
              "exit %d: %s" % (code2, out2))

        for sig in (signal.SIGTERM, signal.SIGINT):
            os.kill(p.pid, sig)
            try:
                rc = p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                rc = None
            check("%s: clean exit 0" % signal.Signals(sig).name, rc == 0, "exit %r" % rc)
            p = subprocess.Popen([ketcd] + args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 preexec_fn=harness._die_with_parent)
            procs.append(p)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and etcdctl(ep, "get", "x")[0] != 0:
                time.sleep(0.2)
            code, out, err = etcdctl(ep, "get", "a", "--print-value-only")
            check("%s: data kept across restart" % signal.Signals(sig).name,
                  code == 0 and out.strip() == "1", out + err)
        # --initial-cluster-state existing: ignored on a data dir (kubeadm
        # restarts members so); refused on an empty one (joining is not built).
        os.kill(p.pid, signal.SIGTERM)
        p.wait(timeout=10)
        p = subprocess.Popen([ketcd] + args + ["--initial-cluster-state", "existing"], stdout=log,
                             stderr=subprocess.STDOUT, env=env, preexec_fn=harness._die_with_parent)
        procs.append(p)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and etcdctl(ep, "get", "x")[0] != 0:
            time.sleep(0.2)
        code, out, err = etcdctl(ep, "get", "a", "--print-value-only")
        check("existing on a data dir: serves its data", code == 0 and out.strip() == "1", out + err)
        code3, out3 = run_flags(ketcd, ["--data-dir", os.path.join(tmp, "empty"),
                                        "--initial-cluster-state", "existing",
                                        "--listen-client-urls", "http://127.0.0.1:%d" % harness.free_ports(1)[0],
                                        "--listen-peer-urls", "http://127.0.0.1:%d" % harness.free_ports(1)[0]],
                                timeout=20)
        # No other member to ask (etcd: "cannot fetch cluster info from peer urls").
        check("existing on an empty data dir: refused clearly",
              code3 != 0 and "cannot fetch cluster info" in out3 and "member add" in out3,
              "exit %d: %s" % (code3, out3))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    total = len(CHECKED)
    print("%d passed, %d failed" % (total - len(FAILED), len(FAILED)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
