#!/usr/bin/python3
"""--auto-tls, --peer-auto-tls and --self-signed-cert-validity: https client
and peer URLs with no certificate files at all; each member makes its own
self-signed pairs under <data-dir>/fixtures/{client,peer}. Runs against
ketcd or, to check the test itself, Debian's etcd 3.4:

    /usr/bin/python3 autotls_test.py --server BUILD/server/ketcd --scenario all
    /usr/bin/python3 autotls_test.py --server /usr/bin/etcd --scenario all

etcdctl 3.4 needs --insecure-transport=false next to
--insecure-skip-tls-verify to speak TLS without a CA (alone, it dials in
plaintext and fails against etcd as well).

Scenarios:
  cluster   3 members with only --auto-tls --peer-auto-tls: a put through
            one member is read through the others (linearizable: the peers
            talk over TLS with certificates they cannot verify); `member
            list` shows the https URLs; GET /health answers over https
            (curl -k); every member has cert.pem and
            key.pem (0600) under fixtures/client and fixtures/peer, with
            IP:127.0.0.1 in the SANs. kill -9 of one member and a restart:
            it reuses its pairs (same files) and catches up.
  dropped   3 members with --auto-tls --peer-auto-tls --client-cert-auth
            --peer-client-cert-auth: etcd replaces the side's whole TLS
            setting with the generated pair, so neither clients nor peers
            are asked for certificates: the cluster forms and a client
            without a certificate is served.
  given     --auto-tls and --peer-auto-tls next to certificate files: the
            files win (the member serves the given certificate, a client
            without a certificate is still refused), no fixtures are made.
  env       (single member) ETCD_AUTO_TLS, ETCD_PEER_AUTO_TLS and, where
            the server knows it (not etcd 3.4),
            ETCD_SELF_SIGNED_CERT_VALIDITY=3: the certificate is valid for
            3 years of 365 days (1 year without it).
Every process is stopped by PID; the temp dirs are removed; each scenario is
bounded by --scenario-timeout.
"""

import os
import ssl
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scenario_lib import check, etcdctl, harness, log, main, Failure  # noqa: E402

FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]
AUTO = ["--auto-tls", "--peer-auto-tls"]
INSECURE = ["--insecure-transport=false", "--insecure-skip-tls-verify"]
DAY = 24 * 3600


class AutoTlsMember(harness.Member):
    """A member with https client and peer URLs and no certificate files:
    etcdctl reaches it without verifying its certificate."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scheme = self.peer_scheme = "https"

    @property
    def endpoint(self):
        return self.client_url

    def etcdctl_tls(self):
        return list(INSECURE)

    def fixture(self, side, name):
        return os.path.join(self.data_dir, "fixtures", side, name)


class AutoTlsCluster(harness.Cluster):
    def __init__(self, binary, size, extra_flags=(), env_extra=None):
        super().__init__(binary, size, extra_flags=extra_flags, env_extra=env_extra)
        self.members = [AutoTlsMember(binary, m.name, self, m.tmpdir, (m.client_port, m.peer_port),
                                      m.extra_flags, m.env_extra) for m in self.members]


def cert_info(path):
    """(SAN text, not-before seconds, not-after seconds) of a PEM certificate."""
    r = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-ext", "subjectAltName",
                        "-startdate", "-enddate"], capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise Failure("openssl cannot read %s: %s" % (path, r.stderr.decode()))
    text = r.stdout.decode()
    dates = {}
    for line in text.splitlines():
        if line.startswith(("notBefore=", "notAfter=")):
            key, _, value = line.partition("=")
            dates[key] = ssl.cert_time_to_seconds(value)
    return text, dates["notBefore"], dates["notAfter"]


def check_fixtures(m):
    for side in ("client", "peer"):
        cert, key = m.fixture(side, "cert.pem"), m.fixture(side, "key.pem")
        check("%s made fixtures/%s/cert.pem and key.pem" % (m.name, side),
              os.path.isfile(cert) and os.path.isfile(key),
              str(os.listdir(os.path.dirname(cert)) if os.path.isdir(os.path.dirname(cert)) else "no dir"))
        mode = stat.S_IMODE(os.stat(key).st_mode)
        check("%s's %s key is 0600" % (m.name, side), mode == 0o600, oct(mode))
        sans, _, _ = cert_info(cert)
        check("%s's %s certificate names IP:127.0.0.1" % (m.name, side), "IP Address:127.0.0.1" in sans, sans)


def put_and_read_everywhere(c, key, value):
    m1 = c.members[0]
    code, out, err = etcdctl(m1.endpoint, INSECURE, "put", key, value)
    check("put %s through %s over https" % (key, m1.name), code == 0 and out.strip() == "OK", out + err)
    for m in c.members[1:]:
        code, out, err = etcdctl(m.endpoint, INSECURE, "get", key, "--print-value-only")
        check("linearizable get of %s through %s" % (key, m.name), code == 0 and out.strip() == value,
              out + err)


def scenario_cluster(binary, tmp):
    with AutoTlsCluster(binary, 3, extra_flags=FLAGS + AUTO) as c:
        c.start(health_timeout=40)
        m1, m2, m3 = c.members
        put_and_read_everywhere(c, "k1", "v1")
        code, out, err = etcdctl(m2.endpoint, INSECURE, "member", "list")
        check("member list shows three members with https URLs",
              code == 0 and out.count("https://127.0.0.1:") == 6, out + err)
        health = "https://127.0.0.1:%d/health" % m2.client_port
        r = subprocess.run(["curl", "-sk", "--max-time", "10", health], capture_output=True,
                           timeout=20, stdin=subprocess.DEVNULL)
        check("GET /health over https with the generated certificate (curl -k)",
              r.returncode == 0 and b'"health":"true"' in r.stdout, (r.stdout + r.stderr).decode())
        code, out, err = etcdctl(m1.endpoint, [], "get", "k1")
        check("a client that does not skip verification is refused", code != 0, out + err)
        for m in c.members:
            check_fixtures(m)
        before = {side: open(m3.fixture(side, "cert.pem"), "rb").read() for side in ("client", "peer")}
        m3.kill9()
        deadline = time.monotonic() + 20
        while True:
            code, out, err = etcdctl(m1.endpoint, INSECURE, "put", "k2", "v2")
            if code == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        check("the other two serve with one member down", code == 0, out + err)
        m3.start(health_timeout=30)
        after = {side: open(m3.fixture(side, "cert.pem"), "rb").read() for side in ("client", "peer")}
        check("the restarted member reuses its pairs", after == before)
        code, out, err = etcdctl(m3.endpoint, INSECURE, "get", "k2", "--print-value-only")
        check("the restarted member caught up over the TLS peer links", code == 0 and out.strip() == "v2",
              out + err)


def scenario_dropped(binary, tmp):
    flags = FLAGS + AUTO + ["--client-cert-auth", "--peer-client-cert-auth"]
    with AutoTlsCluster(binary, 3, extra_flags=flags) as c:
        c.start(health_timeout=40)
        put_and_read_everywhere(c, "d1", "v1")


def scenario_given(binary, tmp):
    certs = harness.Certs(os.path.join(tmp, "certs"))
    with harness.Cluster(binary, 1, extra_flags=FLAGS + AUTO, certs=certs) as c:
        c.start(health_timeout=30)
        m = c.members[0]
        code, out, err = etcdctl(m.endpoint, m.etcdctl_tls(), "put", "g1", "v1")
        check("the given certificate is served (verified against its CA)", code == 0, out + err)
        code, out, err = etcdctl(m.endpoint, INSECURE, "get", "g1")
        check("--client-cert-auth still holds: no client certificate is refused", code != 0, out + err)
        fixtures = os.path.join(m.data_dir, "fixtures")
        check("no fixtures are made", not os.path.exists(fixtures), str(os.listdir(m.data_dir)))
        with open(m.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace").lower()
        check("the log says auto TLS is ignored", "ignoring" in text and "auto" in text)


def knows_validity_flag(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, timeout=10, env=harness.clean_env(),
                       stdin=subprocess.DEVNULL)
    return b"self-signed-cert-validity" in r.stdout + r.stderr


def scenario_env(binary, tmp):
    env = {"ETCD_AUTO_TLS": "true", "ETCD_PEER_AUTO_TLS": "true"}
    years = 1
    if knows_validity_flag(binary):
        env["ETCD_SELF_SIGNED_CERT_VALIDITY"] = "3"
        years = 3
    else:
        log("%s has no --self-signed-cert-validity: its certificates last 1 year" % binary)
    with AutoTlsCluster(binary, 1, extra_flags=FLAGS, env_extra=env) as c:
        c.start(health_timeout=30)
        m = c.members[0]
        code, out, err = etcdctl(m.endpoint, INSECURE, "put", "e1", "v1")
        check("ETCD_AUTO_TLS/ETCD_PEER_AUTO_TLS serve https", code == 0, out + err)
        check_fixtures(m)
        for side in ("client", "peer"):
            _, start, end = cert_info(m.fixture(side, "cert.pem"))
            check("the %s certificate is valid for %d year(s) of 365 days" % (side, years),
                  abs((end - start) - years * 365 * DAY) <= 1, "%d s" % (end - start))


SCENARIOS = {"cluster": scenario_cluster, "dropped": scenario_dropped, "given": scenario_given,
             "env": scenario_env}


if __name__ == "__main__":
    sys.exit(main(SCENARIOS))
