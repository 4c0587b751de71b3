#!/usr/bin/python3
"""--config-file and sd_notify on real processes.

A member started with --config-file serves with the file's name, ports and
limits; the flags and ETCD_* variables next to the file are ignored (as etcd
ignores them: with --etcd, etcd 3.4 is started the same way and must agree),
the start logs etcd's "loaded server configuration" line, and READY=1 arrives
on the unix datagram socket named by NOTIFY_SOCKET once clients are served.
A file with an unknown key stops the start (exit 1) naming the key and the
file, before a data dir is created.

usage: config_file.py --ketcd PATH [--etcd PATH]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", "lib"))
import harness  # noqa: E402

FAILED = []


def check(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail and not ok else ""))
    if not ok:
        FAILED.append(name)


def etcdctl(endpoint, *args, stdin=None):
    r = subprocess.run([harness.ETCDCTL, "--endpoints=" + endpoint, "--command-timeout=5s"] + list(args),
                       capture_output=True, timeout=20, env=harness.etcdctl_env(),
                       input=stdin.encode() if stdin else None)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def listening(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((harness.HOST, port)) == 0


def write_config(path, name, data_dir, client, peer, metrics):
    with open(path, "w") as f:
        f.write("""# written by tests/process/config_file.py
name: %(name)s
data-dir: %(data)s
listen-client-urls: http://127.0.0.1:%(client)d
advertise-client-urls: http://127.0.0.1:%(client)d
listen-peer-urls: http://127.0.0.1:%(peer)d
initial-advertise-peer-urls: http://127.0.0.1:%(peer)d
initial-cluster: %(name)s=http://127.0.0.1:%(peer)d
initial-cluster-token: cfg-test
listen-metrics-urls: http://127.0.0.1:%(metrics)d
max-txn-ops: 2
heartbeat-interval: 50
election-timeout: 500
logger: zap
log-outputs: [stderr]
client-transport-security:
  client-cert-auth: false
  auto-tls: false
""" % {"name": name, "data": data_dir, "client": client, "peer": peer, "metrics": metrics})


class ConfigFileServer(harness.Server):
    """A harness.Server started with exactly `args`: the config file and the
    flags it must ignore, none of Server's own."""

    def __init__(self, args, label, tmpdir, ports, env_extra):
        os.makedirs(tmpdir)
        super().__init__(args[0], label=label, tmpdir=tmpdir, ports=ports, env_extra=env_extra)
        self.args = args

    def argv(self):
        return self.args


def run_member(binary, label, tmp, deadline_s=30):
    """Starts `binary` with a config file and conflicting flags and variables;
    checks what it serves. Returns nothing; records checks."""
    client, peer, metrics, flag_port = harness.free_ports(4)
    name = "from-file-" + label
    conf = os.path.join(tmp, label + ".conf.yml")
    write_config(conf, name, os.path.join(tmp, label + ".data"), client, peer, metrics)
    notify_path = os.path.join(tmp, label + ".notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    # Everything next to the file disagrees with it and must be ignored:
    # flags (even one that would shadow its variable) and ETCD_* variables.
    args = [binary, "--config-file", conf, "--name", "from-flag",
            "--listen-client-urls", "http://127.0.0.1:%d" % flag_port,
            "--advertise-client-urls", "http://127.0.0.1:%d" % flag_port, "--max-txn-ops", "100"]
    env = {"NOTIFY_SOCKET": notify_path, "ETCD_NAME": "from-env", "ETCD_MAX_TXN_OPS": "50",
           "ETCD_HEARTBEAT_INTERVAL": "not-a-number"}
    server = ConfigFileServer(args, label, os.path.join(tmp, label), (client, peer), env)
    server.spawn()
    ep = "127.0.0.1:%d" % client
    try:
        notify.settimeout(deadline_s)
        try:
            msg = notify.recv(4096).decode()
        except socket.timeout:
            msg = ""
        check("%s: READY=1 on NOTIFY_SOCKET" % label, "READY=1" in msg.split("\n"), repr(msg))
        code, out, err = etcdctl(ep, "put", "k", "v")
        check("%s: serves on the file's client URL once ready" % label, code == 0, err)
        check("%s: the flag's client URL is not served" % label, not listening(flag_port))
        code, out, err = etcdctl(ep, "member", "list", "-w", "json")
        names = [m.get("name") for m in json.loads(out).get("members", [])] if code == 0 else []
        check("%s: member name from the file" % label, names == [name], out + err)
        code, out, err = etcdctl(ep, "txn", stdin="\nput x 1\nput y 2\nput z 3\n\n\n")
        check("%s: max-txn-ops from the file (2), not the flag or variable" % label,
              code != 0 and "too many operations" in err, out + err)
        try:
            health = urllib.request.urlopen("http://127.0.0.1:%d/health" % metrics, timeout=5).read().decode()
        except OSError as e:
            health = str(e)
        check("%s: listen-metrics-urls from the file" % label, '"health":"true"' in health, health)
    finally:
        rc = server.stop(term_timeout=15)
        notify.close()
    # etcd re-raises SIGTERM after its shutdown (osutil.HandleInterrupts).
    check("%s: clean exit" % label, rc == 0 or (label == "etcd" and rc == -signal.SIGTERM), "exit %r" % rc)
    text = open(server.log_path, errors="replace").read()
    loaded = [line for line in text.splitlines()
              if "loaded server configuration, other configuration command line flags and environment "
                 "variables will be ignored if provided" in line]
    ok = len(loaded) == 1
    if ok:
        try:
            ok = json.loads(loaded[0]).get("path") == conf
        except ValueError:
            ok = False
    check("%s: logs that the file is the only source (zap JSON, with its path)" % label, ok, text[-2000:])


def check_bad_file(ketcd, tmp):
    conf = os.path.join(tmp, "bad.conf.yml")
    data = os.path.join(tmp, "bad.data")
    with open(conf, "w") as f:
        f.write("name: bad\ndata-dir: %s\nlisten-client-urls: http://127.0.0.1:%d\nelection-timout: 900\n"
                % (data, harness.free_ports(1)[0]))
    r = subprocess.run([ketcd], capture_output=True, timeout=20, stdin=subprocess.DEVNULL,
                       env=harness.clean_env({"ETCD_CONFIG_FILE": conf}))
    err = r.stderr.decode()
    check("unknown key (via ETCD_CONFIG_FILE): exit 1", r.returncode == 1, "exit %d: %s" % (r.returncode, err))
    check("unknown key: named with its file and line", '%s:4:1: unknown key "election-timout"' % conf in err, err)
    check("unknown key: nothing written", not os.path.exists(data))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ketcd", required=True)
    ap.add_argument("--etcd", default="")
    a = ap.parse_args()
    harness.sweep_stale_tmpdirs()
    tmp = tempfile.mkdtemp(prefix=harness.TMP_PREFIX + "cfgfile-")
    with open(os.path.join(tmp, "owner.pid"), "w") as f:
        f.write(str(os.getpid()))
    try:
        run_member(os.path.abspath(a.ketcd), "ketcd", tmp)
        check_bad_file(os.path.abspath(a.ketcd), tmp)
        if a.etcd:
            check("--etcd %s exists" % a.etcd, os.path.exists(a.etcd))
            if os.path.exists(a.etcd):
                run_member(a.etcd, "etcd", tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
