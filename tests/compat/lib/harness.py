"""Shared process-management helpers for ketcd's process-level tests.

Stdlib only; used by tests/compat/compat_runner.py, tests/cluster/durability.py
(Server: one single-member server) and tests/cluster/cluster_test.py (Cluster:
a static multi-member cluster of Member processes), all run with /usr/bin/python3.

Rules enforced here:
  * servers only ever bind 127.0.0.1, on ports chosen at run time;
  * every data dir is a fresh temp dir that is removed in all cases;
  * every server is stopped by PID: SIGTERM, then SIGKILL after a bound;
  * every wait is bounded.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

try:
    import ctypes
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover
    _libc = None

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if the harness dies (e.g. CTest timeout)."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

HOST = "127.0.0.1"
ETCDCTL = "/usr/bin/etcdctl"
PYTHON = "/usr/bin/python3"


TMP_PREFIX = "ketcd-test-"


class HarnessError(Exception):
    pass


def sweep_stale_tmpdirs(min_age=60.0):
    """Remove temp dirs left by a harness that was SIGKILLed (its owner.pid is dead).

    Only dirs named ketcd-test-* holding an owner.pid of a process that no
    longer exists, and older than min_age seconds, are removed."""
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(TMP_PREFIX):
            continue
        path = os.path.join(base, name)
        try:
            if time.time() - os.path.getmtime(path) < min_age:
                continue
            with open(os.path.join(path, "owner.pid")) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (OSError, ValueError):
            continue


def free_ports(n):
    """Return n distinct free TCP ports on 127.0.0.1 (bind to :0, then release)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def clean_env(extra=None):
    """An environment without any ETCD_* / ETCDCTL_* variable (etcd reads ETCD_* as flags)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ETCD_") and not k.startswith("ETCDCTL_")}
    if extra:
        env.update(extra)
    return env


def etcdctl_env():
    return clean_env({"ETCDCTL_API": "3"})


class Certs:
    """Test certificates made with the openssl CLI in `dir` (nothing committed).

    ca: the cluster's CA; server: a certificate for 127.0.0.1/localhost usable
    as server and client (members present it on both ends of peer links);
    client: a client certificate (CN `client_cn`); foreign_ca and foreign: a
    CA the members do not trust and a server+client certificate from it."""

    def __init__(self, dir, client_cn="root"):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.ca, self.ca_key = self._ca("ca", "ketcd test CA")
        self.foreign_ca, self.foreign_ca_key = self._ca("foreign-ca", "foreign test CA")
        self.server, self.server_key = self._leaf("server", "ketcd test member", self.ca, self.ca_key)
        self.client, self.client_key = self._leaf("client", client_cn, self.ca, self.ca_key)
        self.foreign, self.foreign_key = self._leaf("foreign", "intruder", self.foreign_ca,
                                                    self.foreign_ca_key)

    def _run(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=30)
        if r.returncode != 0:
            raise HarnessError("openssl %s: %s" % (" ".join(args), r.stderr.decode()[-500:]))

    def _ca(self, name, cn):
        key, crt = os.path.join(self.dir, name + ".key"), os.path.join(self.dir, name + ".crt")
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + cn)
        return crt, key

    def leaf(self, name, cn, ca, ca_key, serial=None):
        """A certificate signed by ca with SANs 127.0.0.1 and localhost."""
        key, crt = os.path.join(self.dir, name + ".key"), os.path.join(self.dir, name + ".crt")
        csr, ext = os.path.join(self.dir, name + ".csr"), os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
        args = ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-out", crt, "-days", "2",
                "-extfile", ext]
        args += ["-set_serial", str(serial)] if serial else ["-CAcreateserial"]
        self._run(*args)
        return crt, key

    _leaf = leaf

    def revoke(self, *certs):
        """Revokes `certs` (issued by self.ca) and writes the CA's CRL listing
        every certificate revoked so far; returns its path (crl.pem)."""
        db = os.path.join(self.dir, "ca-db")
        cnf = os.path.join(db, "ca.cnf")
        if not os.path.isdir(db):
            os.makedirs(db)
            open(os.path.join(db, "index.txt"), "w").close()
            with open(os.path.join(db, "crlnumber"), "w") as f:
                f.write("1000\n")
            with open(cnf, "w") as f:
                f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s\ncrlnumber=%s\n"
                        "default_md=sha256\ndefault_crl_days=2\n"
                        % (os.path.join(db, "index.txt"), os.path.join(db, "crlnumber")))
        for c in certs:
            self._run("ca", "-config", cnf, "-revoke", c, "-keyfile", self.ca_key, "-cert", self.ca)
        crl = os.path.join(self.dir, "crl.pem")
        self._run("ca", "-config", cnf, "-gencrl", "-keyfile", self.ca_key, "-cert", self.ca,
                  "-out", crl + ".tmp")
        os.rename(crl + ".tmp", crl)
        return crl

    def server_flags(self, client_auth=True, peer=True):
        flags = ["--cert-file", self.server, "--key-file", self.server_key,
                 "--trusted-ca-file", self.ca]
        if client_auth:
            flags.append("--client-cert-auth")
        if peer:
            flags += ["--peer-cert-file", self.server, "--peer-key-file", self.server_key,
                      "--peer-trusted-ca-file", self.ca, "--peer-client-cert-auth"]
        return flags

    def etcdctl_flags(self, cert=None, key=None, cacert=None):
        return ["--cacert", cacert or self.ca, "--cert", cert or self.client,
                "--key", key or self.client_key]


class Server:
    """One single-member server process (etcd or ketcd) on 127.0.0.1.

    Use as a context manager, or call start()/stop()/cleanup() yourself;
    cleanup() stops the process and removes the temp dir and is idempotent.
    """

    def __init__(self, binary, name="compat", extra_flags=(), tmpdir=None, label="server",
                 ports=None, env_extra=None, certs=None):
        self.binary = binary
        # certs: a Certs: https client and peer URLs with mutual TLS on both
        self.certs = certs
        self.scheme = "https" if certs else "http"
        self.peer_scheme = self.scheme
        self.name = name
        self.extra_flags = list(extra_flags)
        self.label = label
        # ports: (client, peer), e.g. chosen together for all members of a Cluster
        self.client_port, self.peer_port = ports if ports else free_ports(2)
        # env_extra: variables added to the server's (clean) environment
        self.env_extra = dict(env_extra or {})
        self.own_tmp = tmpdir is None
        if self.own_tmp:
            sweep_stale_tmpdirs()
        self.tmpdir = tmpdir or tempfile.mkdtemp(prefix=TMP_PREFIX)
        if self.own_tmp:
            with open(os.path.join(self.tmpdir, "owner.pid"), "w") as f:
                f.write("%d\n" % os.getpid())
        self.data_dir = os.path.join(self.tmpdir, "data")
        self.proc = None
        self.log_path = None
        self.log_file = None
        self.starts = 0

    # --- flags -----------------------------------------------------------
    @property
    def client_url(self):
        return "%s://%s:%d" % (self.scheme, HOST, self.client_port)

    @property
    def peer_url(self):
        return "%s://%s:%d" % (self.peer_scheme, HOST, self.peer_port)

    @property
    def endpoint(self):
        if self.certs:
            return self.client_url
        return "%s:%d" % (HOST, self.client_port)

    def etcdctl_tls(self):
        """etcdctl's certificate flags for this server (none without TLS)."""
        return self.certs.etcdctl_flags() if self.certs else []

    def cluster_flags(self):
        """The bootstrap flags; a single member is a cluster of itself."""
        return ["--initial-cluster", "%s=%s" % (self.name, self.peer_url)]

    def argv(self):
        return [
            self.binary,
            "--name", self.name,
            "--data-dir", self.data_dir,
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
        ] + self.cluster_flags() + (self.certs.server_flags() if self.certs else []) + self.extra_flags

    # --- lifecycle -------------------------------------------------------
    def start(self, health_timeout=20.0):
        self.spawn()
        self.wait_healthy(health_timeout)

    def spawn(self):
        """Start the process (log to a fresh server-<n>.log) without waiting for health."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError("server already running")
        self._close_log()
        self.starts += 1
        self.log_path = os.path.join(self.tmpdir, "server-%d.log" % self.starts)
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=self.log_file,
            stderr=subprocess.STDOUT, env=clean_env(self.env_extra), cwd=self.tmpdir,
            preexec_fn=_die_with_parent)

    def wait_healthy(self, timeout):
        """Bounded wait until a linearizable read succeeds (KV service answers)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError("%s exited with %s during start-up\n%s"
                                   % (self.label, self.proc.returncode, self.log_tail()))
            try:
                r = subprocess.run(
                    [ETCDCTL, "--endpoints=" + self.endpoint, "--dial-timeout=1s",
                     "--command-timeout=2s"] + self.etcdctl_tls() + ["get",
                     "__ketcd_health_probe__"],
                    env=etcdctl_env(), stdin=subprocess.DEVNULL,
                    capture_output=True, timeout=5, preexec_fn=_die_with_parent)
                if r.returncode == 0:
                    return
                last = (r.stderr or b"").decode("utf-8", "replace")[-500:]
            except subprocess.TimeoutExpired:
                last = "probe timed out"
            time.sleep(0.2)
        raise HarnessError("%s not healthy within %.0fs (last probe: %s)\n%s"
                           % (self.label, timeout, last.strip(), self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def send_signal(self, sig):
        """Send sig to the running server, by PID."""
        if not self.alive():
            raise HarnessError("%s is not running (cannot send signal %d)" % (self.label, sig))
        os.kill(self.proc.pid, sig)

    def kill9(self):
        """SIGKILL the server (crash), wait for it to be reaped (bounded)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                raise HarnessError("pid %d survived SIGKILL for 10s" % self.proc.pid)
        self._close_log()

    def stop(self, term_timeout=10.0):
        """SIGTERM by PID, SIGKILL after term_timeout. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=term_timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self._close_log()
        return self.proc.returncode

    def _close_log(self):
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None

    def log_tail(self, n=40):
        try:
            if self.log_file is not None:
                self.log_file.flush()
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "---- %s log tail (%s) ----\n%s" % (self.label, self.log_path,
                                                       "\n".join(lines[-n:]))
        except (OSError, TypeError):
            return "(no server log)"

    def cleanup(self):
        try:
            self.stop()
        finally:
            if self.own_tmp and self.tmpdir and os.path.isdir(self.tmpdir):
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


class Member(Server):
    """One member of a multi-member Cluster: etcd's static bootstrap flags.

    Its tmpdir is <cluster tmpdir>/<name> (owned by the Cluster), its data dir
    <tmpdir>/data; restarting it (spawn()/start() again) reuses data dir, ports
    and flags (--initial-cluster-state new: a restarted member ignores it)."""

    def __init__(self, binary, name, cluster, tmpdir, ports, extra_flags=(), env_extra=None,
                 certs=None):
        os.makedirs(tmpdir, exist_ok=True)
        super().__init__(binary, name=name, extra_flags=extra_flags, tmpdir=tmpdir,
                         label=name, ports=ports, env_extra=env_extra, certs=certs)
        self.cluster = cluster

    def cluster_flags(self):
        return ["--initial-cluster", self.cluster.initial_cluster,
                "--initial-cluster-state", "new",
                "--initial-cluster-token", self.cluster.token]


class Cluster:
    """A static multi-member cluster on 127.0.0.1 (etcd or ketcd), one temp dir.

    All 2*size ports are chosen at once (distinct). Use as a context manager or
    call cleanup(): every member is stopped by PID and the temp dir removed."""

    def __init__(self, binary, size=3, extra_flags=(), env_extra=None,
                 token=None, name_prefix="m", certs=None):
        sweep_stale_tmpdirs()
        self.binary = binary
        self.tmpdir = tempfile.mkdtemp(prefix=TMP_PREFIX)
        with open(os.path.join(self.tmpdir, "owner.pid"), "w") as f:
            f.write("%d\n" % os.getpid())
        self.token = token or "ketcd-test-%d-%d" % (os.getpid(), int(time.time() * 1000))
        ports = free_ports(2 * size)
        self.members = [
            Member(binary, "%s%d" % (name_prefix, i + 1), self,
                   os.path.join(self.tmpdir, "%s%d" % (name_prefix, i + 1)),
                   (ports[2 * i], ports[2 * i + 1]), extra_flags, env_extra, certs)
            for i in range(size)]

    @property
    def initial_cluster(self):
        return ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)

    @property
    def endpoints(self):
        return ",".join(m.endpoint for m in self.members)

    def member(self, name):
        for m in self.members:
            if m.name == name:
                return m
        raise HarnessError("no member named %s" % name)

    def start(self, health_timeout=30.0, members=None):
        """Spawn the members (all by default), then wait until each serves a
        linearizable read; one bound for all of them."""
        members = self.members if members is None else members
        for m in members:
            m.spawn()
        deadline = time.monotonic() + health_timeout
        for m in members:
            m.wait_healthy(max(1.0, deadline - time.monotonic()))

    def log_tails(self, n=30):
        return "\n".join(m.log_tail(n) for m in self.members if m.log_path)

    def cleanup(self, term_timeout=10.0):
        """SIGTERM every running member at once (by PID), SIGKILL those still running
        after term_timeout, reap them all, remove the temp dir."""
        try:
            running = [m for m in self.members if m.proc is not None and m.proc.poll() is None]
            for m in running:
                try:
                    os.kill(m.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + term_timeout
            for m in running:
                try:
                    m.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            for m in self.members:
                try:
                    m.kill9()  # no-op for a reaped process; closes the log
                except HarnessError:
                    pass
        finally:
            if self.tmpdir and os.path.isdir(self.tmpdir):
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


def check_acks(attempts, acks, present, store_rev):
    """The durability verdict shared by the kill -9 tests.

    attempts: key -> value of every put tried; acks: the acknowledged ones,
    dicts with k, v, rev (and optionally ep); present: key -> dict(value,
    create_revision, mod_revision) as read back; store_rev: the revision the
    read saw. Every acknowledged put must be present with its value and
    create == mod == acknowledged revision (each key is written once),
    acknowledged revisions must be distinct, the store revision at least the
    largest of them, and every present key an attempted one with exactly its
    value. Returns (problems, unacknowledged keys present, max acked rev).
    """
    problems = []
    seen = {}
    for a in acks:
        if a["rev"] in seen:
            problems.append("DUPLICATE acknowledged revision %d for %s and %s"
                            % (a["rev"], seen[a["rev"]], a["k"]))
        seen[a["rev"]] = a["k"]
        kv = present.get(a["k"])
        if kv is None:
            via = (", via %s" % a["ep"]) if a.get("ep") else ""
            problems.append("LOST acknowledged put %s (rev %d%s)" % (a["k"], a["rev"], via))
            continue
        if kv["value"] != a["v"]:
            problems.append("WRONG VALUE for %s: acked %r, read %r" % (a["k"], a["v"], kv["value"]))
        if kv["mod_revision"] != a["rev"] or kv["create_revision"] != a["rev"]:
            problems.append("REVISION MISMATCH for %s: acked rev %d, read create %d mod %d"
                            % (a["k"], a["rev"], kv["create_revision"], kv["mod_revision"]))
    max_rev = max(seen) if seen else 0
    if store_rev < max_rev:
        problems.insert(0, "STORE REVISION %d < max acknowledged revision %d" % (store_rev, max_rev))
    acked = {a["k"] for a in acks}
    unacked = 0
    for k, kv in present.items():
        if k not in attempts:
            problems.append("UNKNOWN KEY %s present (never attempted)" % k)
        elif kv["value"] != attempts[k]:
            problems.append("GARBAGE VALUE for unacknowledged %s: %r" % (k, kv["value"]))
        elif k not in acked:
            unacked += 1
    return problems, unacked, max_rev
