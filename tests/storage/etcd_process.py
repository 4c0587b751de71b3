"""A single Debian etcd 3.4 member on 127.0.0.1 for the backup interop tests,
and etcdctl (API v3) against it.

Every process is started by us and stopped by its PID; every file lives in
a temp dir removed at the end (Workspace). Nothing binds anything but
127.0.0.1."""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"


class Failure(Exception):
    """What the test checks did not hold."""


def have_etcd():
    return os.access(ETCD, os.X_OK) and os.access(ETCDCTL, os.X_OK)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text or "")


def etcdctl(*args, endpoint=None, check=True, timeout=60):
    """Runs etcdctl; returns (exit code, stdout, stderr)."""
    cmd = [ETCDCTL] + (["--endpoints", endpoint] if endpoint else []) + list(args)
    env = dict(os.environ, ETCDCTL_API="3")
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise Failure("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p.returncode, p.stdout, p.stderr


def etcdctl_json(*args, endpoint=None):
    return json.loads(etcdctl(*(list(args) + ["-w", "json"]), endpoint=endpoint)[1])


class Workspace:
    """A temp dir and the etcd processes started in it, all gone on exit."""

    def __init__(self, prefix="ketcd-backup-"):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.procs = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            stop(proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


class Member:
    def __init__(self, name, client, peer, proc, log):
        self.name, self.client, self.peer, self.proc, self.log = name, client, peer, proc, log


def peer_url(port):
    return "http://127.0.0.1:%d" % port


def start_etcd(ws, data_dir, name="m1", peer_port=None, timeout=30):
    """Starts etcd on data_dir (new, or restored with the same name and
    peer URL) and waits until it serves a linearizable read."""
    client_port = free_port()
    peer_port = peer_port or free_port()
    client = "http://127.0.0.1:%d" % client_port
    peer = peer_url(peer_port)
    log = open(ws.path("%s-%d.log" % (name, client_port)), "w")
    cmd = [ETCD, "--name", name, "--data-dir", data_dir,
           "--listen-client-urls", client, "--advertise-client-urls", client,
           "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
           "--initial-cluster", "%s=%s" % (name, peer), "--initial-cluster-token", "backup-test"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ws.procs.append(proc)
    member = Member(name, client, peer, proc, log.name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure("etcd exited with %d; log %s:\n%s" % (proc.returncode, log.name, tail(log.name)))
        code, _, _ = etcdctl("get", "health-probe", endpoint=client, check=False, timeout=5)
        if code == 0:
            return member
        time.sleep(0.2)
    raise Failure("etcd did not serve within %ds; log:\n%s" % (timeout, tail(log.name)))


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""
