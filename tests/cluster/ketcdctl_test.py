#!/usr/bin/env python3
"""ketcdctl's `snapshot save` and `snapshot status` against etcdctl 3.4's:
the same commands, output and exit codes, against ketcd and against
Debian's etcd as the server (differential):

    /usr/bin/python3 ketcdctl_test.py --server BUILD/server/ketcd
    KETCDCTL=BUILD/tools/ketcdctl /usr/bin/python3 ketcdctl_test.py --server /usr/bin/etcd

ketcdctl is $KETCDCTL, else BUILD/tools/ketcdctl next to BUILD/server/ketcd.

Scenarios:
  - plain (--server) and etcd (/usr/bin/etcd as the server): a member with
    puts, a delete, a lease and a compaction; `ketcdctl snapshot save` and
    `etcdctl snapshot save` both succeed with etcdctl's line and leave no
    FILE.part; `snapshot status -w json|table|simple|fields` prints the same
    bytes with both tools for both files; the revision is the member's;
  - tls: the same over mTLS (harness.Certs); without the client
    certificate the save fails within --dial-timeout and leaves no file;
  - errors: an unreachable endpoint and two endpoints fail (exit 5, as
    etcdctl) with no FILE and no FILE.part; etcdctl's exact messages and
    exit codes for two endpoints, a missing argument, a missing file and
    an unsupported -w; a truncated backup and one with a flipped byte:
    ketcdctl status reports an error and exits non-zero.
Every process is stopped by PID; temp dirs are removed; bounded by --timeout.
"""

import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scenario_lib import check, etcdctl as ctl, harness, log, main  # noqa: E402

ETCD = "/usr/bin/etcd"
FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]
FORMATS = ["json", "table", "simple", "fields"]


def ketcdctl_path():
    if os.environ.get("KETCDCTL"):
        return os.environ["KETCDCTL"]
    for i, a in enumerate(sys.argv):
        server = a.split("=", 1)[1] if a.startswith("--server=") else (
            sys.argv[i + 1] if a == "--server" and i + 1 < len(sys.argv) else None)
        if server:
            return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(server))),
                                "tools", "ketcdctl")
    return "ketcdctl"


KETCDCTL = ketcdctl_path()


class Result:
    def __init__(self, r):
        self.returncode, self.stdout, self.stderr = r.returncode, r.stdout.decode(), r.stderr.decode()


def run(tool, *args, timeout=60):
    r = subprocess.run([tool] + list(args), capture_output=True, stdin=subprocess.DEVNULL,
                       timeout=timeout, env=harness.etcdctl_env())
    return Result(r)


def both(*args, timeout=60):
    """(ketcdctl's, etcdctl's) Result for the same arguments."""
    return run(KETCDCTL, *args, timeout=timeout), run(harness.ETCDCTL, *args, timeout=timeout)


def put(server, *args):
    r = ctl(server.endpoint, server.etcdctl_tls(), *args)
    check("etcdctl " + " ".join(args[:2]), r[0] == 0, r[2][-300:])
    return r[1]


def workload(s):
    """Revisions 2..9 with a lease and a compaction at 6; returns the last revision."""
    for i in range(4):
        put(s, "put", "k%d" % i, "v%d" % i)                     # 2..5
    put(s, "del", "k0")                                        # 6
    lease = put(s, "lease", "grant", "600").split()[1]
    put(s, "put", "l1", "x", "--lease", lease)                 # 7
    put(s, "compact", "6", "--physical")
    put(s, "put", "k1", "again")                               # 8
    put(s, "put", "big", "v" * 5000)                           # 9
    return 9


def no_leftovers(tag, path):
    check(tag + ": no %s and no %s.part left" % (os.path.basename(path), os.path.basename(path)),
          not os.path.exists(path) and not os.path.exists(path + ".part"), os.listdir(os.path.dirname(path)))


def same_status(tag, snap, revision):
    """ketcdctl and etcdctl print the same status of `snap` in every format."""
    for fmt in FORMATS:
        k, e = both("snapshot", "status", snap, "-w", fmt)
        check("%s: etcdctl snapshot status -w %s" % (tag, fmt), e.returncode == 0, e.stderr[-300:])
        check("%s: ketcdctl snapshot status -w %s equals etcdctl's" % (tag, fmt),
              k.returncode == 0 and k.stdout == e.stdout,
              "ketcdctl (exit %d):\n%s%s\netcdctl:\n%s" % (k.returncode, k.stdout, k.stderr, e.stdout))
    st = json.loads(run(KETCDCTL, "snapshot", "status", snap, "-w", "json").stdout)
    check("%s: revision %d" % (tag, revision), st["revision"] == revision, st)


def save_with_both(s, tmp, tag):
    """Saves with each tool; returns the two files."""
    files = []
    for tool, name in ((KETCDCTL, "ketcdctl"), (harness.ETCDCTL, "etcdctl")):
        snap = os.path.join(tmp, "%s-%s.db" % (tag, name))
        r = run(tool, "snapshot", "save", snap, "--endpoints", s.endpoint, *s.etcdctl_tls(), timeout=120)
        check("%s: %s snapshot save" % (tag, name), r.returncode == 0, r.stderr[-500:])
        if name == "ketcdctl":
            check(tag + ": ketcdctl prints etcdctl's line", r.stdout == "Snapshot saved at %s\n" % snap,
                  repr(r.stdout))
        check("%s: %s left no .part" % (tag, name), not os.path.exists(snap + ".part"))
        files.append(snap)
    return files


def save_and_compare(binary, tmp, certs, tag):
    with harness.Server(binary, name="src", extra_flags=FLAGS, certs=certs, label=tag) as s:
        s.start(health_timeout=30)
        rev = workload(s)
        files = save_with_both(s, tmp, tag)
        if certs:
            snap = os.path.join(tmp, "nocert.db")
            t0 = time.monotonic()
            r = run(KETCDCTL, "snapshot", "save", snap, "--endpoints", s.endpoint, "--cacert", certs.ca,
                    "--dial-timeout", "2s")
            took = time.monotonic() - t0
            check(tag + ": without the client certificate: exit 5 within the dial timeout",
                  r.returncode == 5 and r.stderr.startswith("Error: ") and took < 10,
                  "exit %d after %.1fs: %s" % (r.returncode, took, r.stderr))
            no_leftovers(tag + ": without the client certificate", snap)
    for snap in files:
        same_status("%s: %s" % (tag, os.path.basename(snap)), snap, rev)


def plain(binary, tmp):
    save_and_compare(binary, tmp, None, "plain")


def etcd_server(binary, tmp):
    save_and_compare(ETCD, tmp, None, "etcd")


def tls(binary, tmp):
    save_and_compare(binary, tmp, harness.Certs(os.path.join(tmp, "certs")), "tls")


def damaged(tmp, snap):
    """A truncated copy and one with a byte flipped in the middle."""
    data = open(snap, "rb").read()
    cut, flip = os.path.join(tmp, "truncated.db"), os.path.join(tmp, "flipped.db")
    with open(cut, "wb") as f:
        f.write(data[:len(data) // 2 + 100])
    mid = len(data) // 2
    with open(flip, "wb") as f:
        f.write(data[:mid] + bytes([data[mid] ^ 0x01]) + data[mid + 1:])
    return cut, flip


def errors(binary, tmp):
    dead = "127.0.0.1:%d" % harness.free_ports(1)[0]
    snap = os.path.join(tmp, "x.db")
    t0 = time.monotonic()
    r = run(KETCDCTL, "snapshot", "save", snap, "--endpoints", dead, "--dial-timeout", "1s")
    took = time.monotonic() - t0
    check("unreachable endpoint: exit 5 with the endpoint named, within the dial timeout",
          r.returncode == 5 and r.stderr.startswith("Error: ") and dead in r.stderr and took < 8,
          "exit %d after %.1fs: %s" % (r.returncode, took, r.stderr))
    no_leftovers("unreachable endpoint", snap)

    two = "127.0.0.1:2379,127.0.0.1:22379"
    k, e = both("snapshot", "save", snap, "--endpoints", two)
    want = "Error: snapshot must be requested to one selected node, not multiple " \
           "[127.0.0.1:2379 127.0.0.1:22379]\n"
    check("two endpoints: etcdctl's message and exit code",
          k.returncode == e.returncode == 5 and k.stderr == want and e.stderr.endswith(want),
          "ketcdctl %d %r, etcdctl %d %r" % (k.returncode, k.stderr, e.returncode, e.stderr[-300:]))
    no_leftovers("two endpoints", snap)

    for args in (["snapshot", "save"], ["snapshot", "status"], ["snapshot", "status", "a", "b"],
                 ["snapshot", "status", os.path.join(tmp, "missing.db")]):
        k, e = both(*args)
        check("%s: etcdctl's message and exit code %d" % (" ".join(args[:3]), e.returncode),
              k.returncode == e.returncode and k.stderr == e.stderr,
              "ketcdctl %d %r, etcdctl %d %r" % (k.returncode, k.stderr, e.returncode, e.stderr))

    with harness.Server(binary, name="src", extra_flags=FLAGS, label="errors") as s:
        s.start(health_timeout=30)
        workload(s)
        good = os.path.join(tmp, "good.db")
        r = run(KETCDCTL, "snapshot", "save", good, "--endpoints", s.endpoint)
        check("save for the damaged copies", r.returncode == 0, r.stderr[-300:])
    k, e = both("snapshot", "status", good, "-w", "yaml")
    check("-w yaml: etcdctl's message and exit code",
          k.returncode == e.returncode == 4 and k.stderr == e.stderr, (k.stderr, e.stderr))
    for path in damaged(tmp, good):
        k, e = both("snapshot", "status", path, "-w", "json")
        log("%s: etcdctl status exit %d %s" % (os.path.basename(path), e.returncode,
                                               (e.stdout + e.stderr).strip()[-200:]))
        check("%s: ketcdctl status fails with a message" % os.path.basename(path),
              k.returncode != 0 and k.stderr.startswith("Error: ") and k.stdout == "",
              "exit %d %r %r" % (k.returncode, k.stdout, k.stderr))


if __name__ == "__main__":
    sys.exit(main({"plain": plain, "tls": tls, "etcd": etcd_server, "errors": errors}))
