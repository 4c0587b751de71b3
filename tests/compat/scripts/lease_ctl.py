"""etcdctl lease grant / put --lease / timetolive --keys / list / keep-alive /
revoke, expiry of a lease with attached keys, a kept-alive lease outliving
its TTL, lock (with a waiting second holder) and elect / elect -l.
Lease ids are random on both servers: each id is printed as L1, L2, ... in
order of first appearance; remaining TTLs are printed as a bound check."""
import re
import subprocess
import time

from conn import ETCDCTL_ENV as env, etcdctl

names = {}


def norm(text):
    def name(m):
        return names.setdefault(m.group(0), "L%d" % (len(names) + 1))
    # etcdctl names election and lock keys with %x of the lease (no padding)
    text = re.sub(r"(myel|mylock)/[0-9a-f]+", r"\1/<lease>", text)
    text = re.sub(r"\b[0-9a-f]{16}\b", name, text)
    text = re.sub(r'"lease":\s*(\d+)', lambda m: '"lease": ' + names.setdefault(
        "%016x" % int(m.group(1)), "L%d" % (len(names) + 1)), text)
    # etcd lists a lease's keys in Go map order (random from run to run)
    text = re.sub(r"attached keys\(\[([^\]]*)\]\)",
                  lambda m: "attached keys([%s])" % " ".join(sorted(m.group(1).split())), text)
    # remaining(Ns): only its bounds are deterministic
    return re.sub(r"remaining\((\d+)s\)", lambda m: "remaining(%s)" % (
        "ok" if 5 <= int(m.group(1)) <= 100 else m.group(1) + "s?"), text)


def ctl(*args, quiet_err=False):
    p = subprocess.run(etcdctl(*args), capture_output=True, env=env, timeout=20)
    err = "\n".join(ln for ln in p.stderr.decode().splitlines() if not ln.startswith("{"))
    print("$ etcdctl %s -> rc=%d\n%s%s" % (norm(" ".join(args)), p.returncode, norm(p.stdout.decode()),
                                           "" if quiet_err or not err else "stderr: " + norm(err) + "\n"),
          end="")
    return p.stdout.decode()


def lease_id(out):
    return out.split()[1]


l1 = lease_id(ctl("lease", "grant", "60"))
l2 = lease_id(ctl("lease", "grant", "100"))
ctl("lease", "grant", "0")
ctl("lease", "grant", "9000000001")
ctl("put", "--lease=" + l1, "k1", "v1")
ctl("put", "--lease=" + l1, "k2", "v2")
ctl("put", "--lease=1234", "k3", "v3")
ctl("put", "--lease=" + l2, "k4", "v4")
ctl("lease", "timetolive", l1, "--keys")
ctl("put", "k2", "plain")  # detaches k2 from l1
ctl("put", "k1", "v1b", "--ignore-lease")
ctl("get", "k1", "-w", "json")
ctl("lease", "timetolive", l1, "--keys")
ctl("lease", "keep-alive", "--once", l1)
ctl("lease", "keep-alive", "--once", "1234")
ctl("lease", "revoke", l1)
ctl("get", "k", "--prefix")
ctl("lease", "revoke", l1)
ctl("lease", "timetolive", l1)
ctl("lease", "timetolive", l2)
ctl("put", "k4", "again")  # a new version without the lease
ctl("lease", "revoke", l2)
ctl("get", "k4")

# expiry: a 2 s lease with keys goes within TTL + a few check periods
short = lease_id(ctl("lease", "grant", "2"))
ctl("put", "--lease=" + short, "e1", "x")
ctl("put", "--lease=" + short, "e2", "x")
time.sleep(4.5)
ctl("get", "e", "--prefix")
ctl("lease", "timetolive", short)

# keep-alive keeps a 2 s lease past its TTL
kept = lease_id(ctl("lease", "grant", "2"))
ctl("put", "--lease=" + kept, "kept", "x")
ka = subprocess.Popen(etcdctl("lease", "keep-alive", kept),
                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
time.sleep(4.0)
ctl("get", "kept")
ka.terminate()
ka_out = ka.communicate(timeout=10)[0].decode().splitlines()
print("keep-alive printed %s lines like %r" % ("several" if len(ka_out) >= 3 else len(ka_out),
                                               norm(ka_out[0]) if ka_out else None))
time.sleep(4.5)
ctl("get", "kept")
ctl("lease", "list")

# lock: the second holder waits for the first
first = subprocess.Popen(etcdctl("lock", "mylock", "--", "sh", "-c",
                                 "echo first has it; sleep 2; echo first done"),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
time.sleep(0.8)
t0 = time.monotonic()
ctl("lock", "mylock", "--", "echo", "second has it")
waited = time.monotonic() - t0
print("first: %r" % first.communicate(timeout=10)[0].decode())
print("second waited for the first: %s" % (waited > 0.5))

# elect: a leader, and an observer that sees it
leader = subprocess.Popen(etcdctl("elect", "myel", "p1"),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
time.sleep(1.0)
obs = subprocess.run(["timeout", "1"] + etcdctl("elect", "-l", "myel"),
                     capture_output=True, env=env)
print("observer: %r" % norm(obs.stdout.decode()))
leader.terminate()
print("leader: %r" % norm(leader.communicate(timeout=10)[0].decode()))
