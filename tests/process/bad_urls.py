#!/usr/bin/python3
"""Malformed URLs in the *-urls flags, differential: etcd parses each with
Go's url.Parse and then checks scheme, host:port and path; ketcd must refuse
each value with the same words and exit code. A row is the exit code and the
reason after "for flag --NAME: " on the first line of stderr. With
--ketcdctl, `snapshot restore --initial-advertise-peer-urls` (and the same URL
in --initial-cluster) is compared the same way with etcdctl 3.4's, which
checks the URLs before it opens the file.

Every value is refused while the flags are read. Should a build accept one,
it may only ever bind 127.0.0.1: no value names another address, and every
other URL flag is set to a free 127.0.0.1 port (each run is killed after
5 s; its temp data dir is removed).

usage: bad_urls.py --ketcd PATH [--etcd /usr/bin/etcd] [--ketcdctl PATH [--etcdctl /usr/bin/etcdctl]]
                   [--against both|ketcd|etcd]
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential  # noqa: E402

VALUES = [
    "127.0.0.1:2379",                  # no scheme: Go's "first path segment" error
    "://127.0.0.1:2379",               # missing protocol scheme
    "localhost:2379",                  # scheme "localhost"
    "ftp://127.0.0.1:2379",
    "http//127.0.0.1:2379",            # a relative path, no scheme
    "http:127.0.0.1:2379",             # opaque: no host
    "http://127.0.0.1",                # no port
    "http://127.0.0.1:abc",            # invalid port after host
    "http://127.0.0.1:2379/",          # a path, even "/"
    "http://127.0.0.1:2379/x",
    "http://127.0.0.1:2379/%zz",       # a bad escape in the path
    "http://127.0.0.1:2379#%zz",       # ... in the fragment
    "http://a b:2379",                 # a space in the host
    "http://%zz:2379",
    "http://%41:2379",                 # an escaped ASCII byte in a host
    "http://[::1:2379",                # missing ']'
    "http://[127.0.0.1]x:2379",        # invalid port after a bracketed host
    "http://127.0.0.1::2379",          # too many colons for host:port
    "http://u^ser@127.0.0.1:2379",     # invalid userinfo
    "http://127.0.0.1:23\t79",         # a control character
    " http://127.0.0.1 ",              # trimmed, then no port
    "http://127.0.0.1:2379,127.0.0.1:2380",  # the second of a list
]
FLAGS = ["--listen-client-urls", "--initial-advertise-peer-urls"]
REASON = re.compile(r'invalid value ".*" for flag -{1,2}[a-z-]+: (.*)', re.S)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refusal(binary, flag, value):
    client = "http://127.0.0.1:%d" % free_port()
    peer = "http://127.0.0.1:%d" % free_port()
    flags = {"--listen-client-urls": client, "--advertise-client-urls": client, "--listen-peer-urls": peer,
             "--initial-advertise-peer-urls": peer, "--initial-cluster": "bad-urls=" + peer}
    flags[flag] = value
    data = tempfile.mkdtemp(prefix="bad-urls-")
    try:
        proc = subprocess.run([binary, "--name", "bad-urls", "--data-dir", os.path.join(data, "d")] +
                              ["%s=%s" % kv for kv in flags.items()], capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return "still running after 5 s"
    finally:
        shutil.rmtree(data, ignore_errors=True)
    first = proc.stderr.strip().split("\n")[0] if proc.stderr.strip() else ""
    m = REASON.search(first)
    return "exit %d: %s" % (proc.returncode, m.group(1) if m else first)


def restore_refusal(ctl, value):
    data = tempfile.mkdtemp(prefix="bad-urls-")
    try:
        proc = subprocess.run([ctl, "snapshot", "restore", os.path.join(data, "no-such.db"), "--data-dir",
                               os.path.join(data, "d"), "--initial-advertise-peer-urls", value,
                               "--initial-cluster", "default=" + value],
                              capture_output=True, text=True, timeout=20, env=dict(os.environ, ETCDCTL_API="3"))
    except subprocess.TimeoutExpired:
        return "still running after 20 s"
    finally:
        shutil.rmtree(data, ignore_errors=True)
    errors = [line for line in proc.stderr.split("\n") if line.startswith("Error: ")]
    return "exit %d: %s" % (proc.returncode, errors[0] if errors else proc.stderr.strip()[-200:])


CTLS = {}  # label -> etcdctl or ketcdctl, when --ketcdctl is given


def run(binary, label):
    rows = [("%s=%r" % (flag, value), refusal(binary, flag, value)) for flag in FLAGS for value in VALUES]
    if label in CTLS:
        # Restore refuses a value its member would take only if it has no
        # port, path or scheme trouble; a URL list is not one URL here.
        rows += [("restore %r" % value, restore_refusal(CTLS[label], value)) for value in VALUES if "," not in value]
    return rows


def main():
    ap = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    ap.add_argument("--ketcdctl")
    ap.add_argument("--etcdctl", default="/usr/bin/etcdctl")
    ctl, rest = ap.parse_known_args()
    if ctl.ketcdctl:
        CTLS.update(etcd=ctl.etcdctl, ketcd=ctl.ketcdctl)
    sys.argv[1:] = rest
    args, results = differential.run_systems(run, width=60)
    return differential.report(args, results)


if __name__ == "__main__":
    sys.exit(main())
