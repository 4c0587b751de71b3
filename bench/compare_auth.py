"""bench/compare --auth: etcd's auth turned on in both systems before the
workloads, as an operator does it (see bench/compare's help).

A root user with the root role and a `bench` user whose role grants
readwrite on the whole key space (etcdctl's `--prefix=true ... ""`, the
range ["\\x00", "\\x00")); ketcd-bench runs as `bench`, etcdctl as root.
simple: --auth-token simple; jwt: --auth-token jwt, RS256, with a key pair
made by the openssl CLI in the run's temp dir (ttl 1h, longer than any
workload). The passwords are throwaway constants of the benchmark.
"""

import os
import subprocess


class Auth:
    """--auth: etcd's auth on in both systems (see the module's help)."""
    ROOT_PASSWORD, BENCH_PASSWORD = "bench-root-pw", "bench-pw"

    def __init__(self, mode, directory):
        self.mode, self.dir = mode, os.path.abspath(directory)
        if mode == "jwt":
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            self.priv, self.pub = os.path.join(self.dir, "jwt.key"), os.path.join(self.dir, "jwt.pub")
            for argv in (["genrsa", "-out", self.priv, "2048"], ["rsa", "-in", self.priv, "-pubout", "-out", self.pub]):
                r = subprocess.run(["openssl"] + argv, capture_output=True, text=True, timeout=60,
                                   stdin=subprocess.DEVNULL)
                if r.returncode != 0:
                    raise RuntimeError("openssl %s: %s" % (argv[0], r.stderr.strip()[-500:]))

    @property
    def on(self):
        return self.mode != "none"

    def server_flags(self):
        """--auth-token, taken alike by etcd 3.4 and ketcd."""
        if self.mode == "simple":
            return ["--auth-token", "simple"]
        if self.mode == "jwt":
            return ["--auth-token", "jwt,pub-key=%s,priv-key=%s,sign-method=RS256,ttl=1h" % (self.pub, self.priv)]
        return []

    def add_server_flags(self, cluster):
        for m in cluster.members:
            m["args"] += self.server_flags()

    def bench_flags(self):
        return ["--user", "bench:" + self.BENCH_PASSWORD] if self.on else []

    def portable(self, argv):
        """`argv` as results show it: the password masked as ketcd-bench
        masks it, the key pair's directory shown as auth/."""
        user = "bench:" + self.BENCH_PASSWORD
        return ["bench:***" if a == user else a.replace(self.dir + os.sep, "auth" + os.sep) for a in argv]

    def enable(self, cluster):
        """Users, role and auth enable through etcdctl on the leader; from then
        on the cluster's etcdctl calls run as root."""
        if not self.on:
            return
        leader = cluster.leader()
        steps = [["user", "add", "root:" + self.ROOT_PASSWORD], ["user", "grant-role", "root", "root"],
                 ["role", "add", "bench"],
                 ["role", "grant-permission", "--prefix=true", "bench", "readwrite", ""],
                 ["user", "add", "bench:" + self.BENCH_PASSWORD], ["user", "grant-role", "bench", "bench"],
                 ["auth", "enable"]]
        for argv in steps:
            r = cluster.etcdctl(leader, *argv)
            if r.returncode != 0:
                raise RuntimeError("%s: etcdctl %s: %s" % (cluster.system, " ".join(argv[:2]),
                                                           (r.stderr or r.stdout).strip()[-300:]))
        r = cluster.etcdctl(leader, "put", "auth-check", "x")  # no credentials: refused once auth is on
        if r.returncode == 0:
            raise RuntimeError("%s: a put without credentials succeeded after auth enable" % cluster.system)
        cluster.etcdctl_user = ["--user", "root:" + self.ROOT_PASSWORD]
        r = cluster.etcdctl(leader, "user", "get", "bench")
        if r.returncode != 0 or "bench" not in r.stdout:
            raise RuntimeError("%s: auth is on but root cannot read the bench user: %s"
                               % (cluster.system, (r.stderr or r.stdout).strip()[-300:]))
