#!/usr/bin/python3
"""TLS as the Kubernetes HA guide deploys etcd: https client and peer URLs,
--client-cert-auth and --peer-client-cert-auth, certificates made here with
the openssl CLI (nothing committed). Runs against ketcd or, to check the test
itself, Debian's etcd 3.4 (same flags, same certificates):

    /usr/bin/python3 tls_test.py --server BUILD/server/ketcd --scenario all
    /usr/bin/python3 tls_test.py --server /usr/bin/etcd --scenario all

Scenarios:
  guide     3 members; etcdctl with --cacert --cert --key puts through one
            member and reads through the others; `endpoint health --cluster`
            and `member list` over https; python3-etcd3 with ca_cert,
            cert_cert, cert_key; curl GET /version and /health with the
            client certificate on the same https port. Refused, while the cluster keeps serving: no
            client certificate, a certificate from another CA, a plaintext
            client, a TLS client without the CA, and a peer connection with a
            foreign certificate (its handshake fails; the right certificate
            gets through to the peer service). kill -9 of one member: the
            others serve; restarted, it catches up over the TLS peer links.
  rotation  (single member) the certificate and key are replaced on disk;
            new handshakes present the new certificate without a restart,
            to gRPC clients (ALPN h2) and HTTP clients alike.
  policy    --client-crl-file: a revoked client certificate is refused, also
            one revoked while the member runs; --peer-cert-allowed-cn: a
            member certificate with another CN is refused at the peer port.
  protocol  (single members) https and http URLs mixed in --listen-client-urls;
            --cipher-suites limits TLS 1.2 suites;
            --tls-min-version TLS1.3 refuses TLS 1.2 clients; --tls-max-version
            TLS1.2 stops ketcd at start (gRPC would still negotiate 1.3).
  badcerts  a missing certificate file, a key of another certificate, a CA
            file with no certificate, an https URL without --cert-file: each
            exits 1 naming the flag and the file, and leaves no data dir.
Every process is stopped by PID; the temp dirs are removed; each scenario is
bounded by --scenario-timeout.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))

import harness  # noqa: E402
from scenario_lib import Failure, check, etcdctl, log  # noqa: E402
import scenario_lib  # noqa: E402

ETCDCTL = harness.ETCDCTL
FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]


def refused(label, endpoint, tls, members):
    code, out, err = etcdctl(endpoint, tls, "put", "refused", "x")
    check("%s is refused" % label, code != 0, out + err)
    # ...and the member still serves a proper client.
    code, out, err = etcdctl(members[0].endpoint, members[0].etcdctl_tls(), "get", "k1",
                             "--print-value-only")
    check("%s leaves the member serving" % label, code == 0 and out.strip() == "v1", out + err)


def peer_answer(member, certs, cert, key):
    """How a member's peer port answers a TLS client presenting `cert`, which
    speaks first (HTTP/2's preface and SETTINGS) and reads: "data" (the
    server's HTTP/2 SETTINGS: accepted), "closed" (a clean close after the
    handshake), or "refused" (a TLS alert or a reset). Under TLS 1.3 a
    refused client certificate shows only after the handshake: gRPC closes
    the connection, Go's TLS sends an alert; and etcd's peer port (Go HTTP,
    not gRPC) also closes on this preface when it accepts the certificate."""
    ctx = ssl.create_default_context(cafile=certs.ca)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection(("127.0.0.1", member.peer_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                tls.settimeout(3)
                try:
                    return "data" if tls.recv(64) else "closed"
                except socket.timeout:
                    return "data"
    except (ssl.SSLError, ConnectionResetError):
        return "refused"


def scenario_guide(binary, certs):
    with harness.Cluster(binary, 3, extra_flags=FLAGS, certs=certs) as c:
        c.start(health_timeout=40)
        m1, m2, m3 = c.members
        code, out, err = etcdctl(m1.endpoint, m1.etcdctl_tls(), "put", "k1", "v1")
        check("put over mTLS through m1", code == 0 and out.strip() == "OK", out + err)
        for m in (m2, m3):
            code, out, err = etcdctl(m.endpoint, m.etcdctl_tls(), "get", "k1", "--print-value-only")
            check("linearizable get over mTLS through %s" % m.name, code == 0 and out.strip() == "v1",
                  out + err)
        code, out, err = etcdctl(m2.endpoint, m2.etcdctl_tls(), "endpoint", "health", "--cluster")
        check("endpoint health --cluster over https",
              code == 0 and (out + err).count("is healthy") == 3, out + err)
        code, out, err = etcdctl(m3.endpoint, m3.etcdctl_tls(), "member", "list")
        check("member list over https lists three https members",
              code == 0 and out.count("https://127.0.0.1:") == 6, out + err)
        python_client(m3, certs)
        http_on_grpc_port(m1, certs)
        refused("a client without a certificate", m1.endpoint, ["--cacert", certs.ca], c.members)
        refused("a client certificate from another CA", m1.endpoint,
                certs.etcdctl_flags(cert=certs.foreign, key=certs.foreign_key), c.members)
        refused("a plaintext client", "http://127.0.0.1:%d" % m1.client_port, [], c.members)
        refused("a TLS client that does not trust the member's CA", m1.endpoint,
                certs.etcdctl_flags(cacert=certs.foreign_ca), c.members)
        etcd = binary.endswith("/etcd")
        accepted = peer_answer(m2, certs, certs.server, certs.server_key)
        check("the peer port accepts a member certificate",
              accepted == "data" or (etcd and accepted == "closed"), accepted)
        foreign = peer_answer(m2, certs, certs.foreign, certs.foreign_key)
        check("the peer port refuses a foreign certificate",
              foreign == "refused" or (not etcd and foreign == "closed"), foreign)
        kill_and_catch_up(c, certs)


def curl(url, *args):
    """(HTTP status or None, body) of a GET with curl."""
    r = subprocess.run(["curl", "-s", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url]
                       + list(args), capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    body, _, status = r.stdout.decode("utf-8", "replace").rpartition("\n")
    return (int(status) if r.returncode == 0 and status.isdigit() else None), body


def http_on_grpc_port(member, certs):
    """kubeadm's preflight (GET /version) and load balancers' probes (GET
    /health) reach the same https port etcdctl uses, with the client
    certificate; without one, or in plaintext, they are refused."""
    base = "https://127.0.0.1:%d" % member.client_port
    tls = ["--cacert", certs.ca, "--cert", certs.client, "--key", certs.client_key]
    status, body = curl(base + "/version", *tls)
    try:
        version = json.loads(body)
    except ValueError:
        version = {}
    check("GET /version over mTLS on the client port", status == 200
          and str(version.get("etcdserver", "")).startswith("3.")
          and str(version.get("etcdcluster", "")).startswith("3."), "%s %r" % (status, body))
    status, body = curl(base + "/health", *tls)
    try:
        health = json.loads(body).get("health")
    except ValueError:
        health = None
    check("GET /health over mTLS on the client port", status == 200 and health == "true",
          "%s %r" % (status, body))
    status, body = curl(base + "/health", "--http1.1", *tls)
    check("GET /health over HTTP/1.1 only", status == 200, "%s %r" % (status, body))
    status, body = curl(base + "/health", "--cacert", certs.ca)
    check("GET /health without a client certificate is refused", status is None,
          "%s %r" % (status, body))
    status, body = curl("http://127.0.0.1:%d/health" % member.client_port)
    check("plaintext HTTP on the https port gets no health answer",
          status != 200 and "true" not in body, "%s %r" % (status, body))


def python_client(member, certs):
    code = (
        "import etcd3, sys\n"
        "c = etcd3.client(host='127.0.0.1', port=%d, ca_cert=%r, cert_cert=%r, cert_key=%r, timeout=5)\n"
        "c.put('py', 'tls')\n"
        "v, _ = c.get('py')\n"
        "sys.stdout.write(v.decode())\n" % (member.client_port, certs.ca, certs.client, certs.client_key))
    r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    check("python3-etcd3 with ca_cert/cert_cert/cert_key", r.returncode == 0 and r.stdout == b"tls",
          (r.stdout + r.stderr).decode()[-800:])


def kill_and_catch_up(c, certs):
    m1, m2, m3 = c.members
    m3.kill9()
    # m3 may have led: the others elect a leader within a few election timeouts.
    deadline = time.monotonic() + 10
    while etcdctl(m1.endpoint, m1.etcdctl_tls(), "put", "after/elected", "1")[0] != 0:
        if time.monotonic() > deadline:
            raise Failure("no write through m1 within 10 s of killing m3")
        time.sleep(0.2)
    for i in range(20):
        code, out, err = etcdctl(m1.endpoint, m1.etcdctl_tls(), "put", "after/%02d" % i, str(i))
        if code != 0:
            raise Failure("put after/%02d failed with m3 down: %s" % (i, out + err))
    log("ok: 20 puts over mTLS with m3 killed")
    m3.start(health_timeout=30)
    deadline = time.monotonic() + 20
    out = ""
    while time.monotonic() < deadline:
        code, out, err = etcdctl(m3.endpoint, m3.etcdctl_tls(), "get", "after/", "--prefix",
                                 "--keys-only", "--consistency=s")
        if code == 0 and len(out.split()) == 21:
            break
        time.sleep(0.3)
    check("restarted m3 caught up over the TLS peer links (serializable read)",
          len(out.split()) == 21, out)


def served_serial(port, ca, alpn=None):
    """The serial of the certificate a new TLS handshake on `port` presents
    to a client offering `alpn` ("h2": what a gRPC client sees; None: what
    an HTTP client such as curl sees, since ketcd serves both on the port)."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", ca,
                        "-servername", "localhost"] + (["-alpn", alpn] if alpn else []),
                       input=b"", capture_output=True, timeout=15)
    pem = r.stdout.decode("utf-8", "replace")
    if "BEGIN CERTIFICATE" not in pem:
        return None
    r = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem.encode(),
                       capture_output=True, timeout=15)
    return r.stdout.decode().strip()


def scenario_rotation(binary, certs):
    live = os.path.join(certs.dir, "live")
    os.makedirs(live)
    old_crt, old_key = certs.leaf("old", "ketcd test member", certs.ca, certs.ca_key, serial=4096)
    new_crt, new_key = certs.leaf("new", "ketcd test member", certs.ca, certs.ca_key, serial=8192)
    crt, key = os.path.join(live, "server.crt"), os.path.join(live, "server.key")
    shutil.copy(old_crt, crt)
    shutil.copy(old_key, key)
    flags = FLAGS + ["--cert-file", crt, "--key-file", key, "--trusted-ca-file", certs.ca,
                     "--client-cert-auth"]
    srv = harness.Server(binary, name="rot", extra_flags=flags, label="rot")
    srv.scheme = "https"  # the client URL; the peer URL stays http
    try:
        srv.spawn()
        tls = certs.etcdctl_flags()
        deadline = time.monotonic() + 30
        while etcdctl(srv.client_url, tls, "get", "x")[0] != 0:
            if time.monotonic() > deadline or not srv.alive():
                raise Failure("TLS member did not come up\n" + srv.log_tail())
            time.sleep(0.3)
        for alpn in ("h2", None):
            first = served_serial(srv.client_port, certs.ca, alpn)
            check("the member presents the first certificate (ALPN %s)" % alpn,
                  first == "serial=1000", str(first))
        # Replace the pair as operators do: new files renamed into place.
        shutil.copy(new_crt, crt + ".tmp")
        shutil.copy(new_key, key + ".tmp")
        os.rename(key + ".tmp", key)
        os.rename(crt + ".tmp", crt)
        for alpn in ("h2", None):
            deadline = time.monotonic() + 15
            serial = None
            while time.monotonic() < deadline:
                serial = served_serial(srv.client_port, certs.ca, alpn)
                if serial == "serial=2000":
                    break
                time.sleep(0.5)
            check("a new connection (ALPN %s) presents the replaced certificate without a restart"
                  % alpn, serial == "serial=2000", str(serial))
        code, out, err = etcdctl(srv.client_url, tls, "put", "after-rotation", "1")
        check("the member serves after the rotation", code == 0, out + err)
    finally:
        srv.cleanup()


def scenario_badcerts(binary, certs):
    # etcd 3.4 creates its data dir before it reads the certificates, and
    # starts with a CA file that holds no certificate: ketcd is stricter.
    if binary.endswith("/etcd"):
        log("SKIP badcerts: ketcd's own start-up checks")
        return
    other_crt, other_key = certs.leaf("other", "other", certs.ca, certs.ca_key)
    empty_ca = os.path.join(certs.dir, "empty-ca.crt")
    with open(empty_ca, "w") as f:
        f.write("not a certificate\n")
    missing = os.path.join(certs.dir, "missing.crt")
    cases = [
        ("a missing certificate file", ["--cert-file", missing, "--key-file", certs.server_key],
         ["--cert-file", missing]),
        ("a key of another certificate", ["--cert-file", certs.server, "--key-file", other_key],
         ["--key-file", other_key]),
        ("a CA file with no certificate", ["--cert-file", certs.server, "--key-file", certs.server_key,
                                           "--trusted-ca-file", empty_ca, "--client-cert-auth"],
         ["--trusted-ca-file", empty_ca]),
        ("an https URL without --cert-file", [], ["--listen-client-urls"]),
        ("a CRL file that holds no CRL", ["--cert-file", certs.server, "--key-file", certs.server_key,
                                          "--client-crl-file", empty_ca], ["--client-crl-file", empty_ca]),
    ]
    for label, flags, wanted in cases:
        tmp = tempfile.mkdtemp(prefix=harness.TMP_PREFIX)
        try:
            port, peer = harness.free_ports(2)
            data = os.path.join(tmp, "data")
            argv = [binary, "--name", "bad", "--data-dir", data,
                    "--listen-client-urls", "https://127.0.0.1:%d" % port,
                    "--advertise-client-urls", "https://127.0.0.1:%d" % port,
                    "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
                    "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
                    "--initial-cluster", "bad=http://127.0.0.1:%d" % peer] + flags
            r = subprocess.run(argv, capture_output=True, timeout=30, env=harness.clean_env(),
                               stdin=subprocess.DEVNULL, cwd=tmp)
            text = (r.stdout + r.stderr).decode("utf-8", "replace")
            check("%s: exit 1" % label, r.returncode == 1, "exit %s: %s" % (r.returncode, text))
            check("%s: the message names %s" % (label, " ".join(wanted)),
                  all(w in text for w in wanted), text)
            check("%s: nothing written to the data dir" % label, not os.path.exists(data),
                  str(os.listdir(tmp)))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def scenario_policy(binary, certs):
    """--client-crl-file and --peer-cert-allowed-cn on one member."""
    revoked_crt, revoked_key = certs.leaf("revoked", "revoked client", certs.ca, certs.ca_key)
    later_crt, later_key = certs.leaf("later", "later client", certs.ca, certs.ca_key)
    crl = certs.revoke(revoked_crt)
    flags = FLAGS + ["--client-crl-file", crl, "--peer-cert-allowed-cn", "another member"]
    with harness.Server(binary, name="pol", extra_flags=flags, label="pol", certs=certs) as srv:
        srv.start(health_timeout=30)
        code, out, err = etcdctl(srv.endpoint, srv.etcdctl_tls(), "put", "k1", "v1")
        check("a client certificate not in the CRL is served", code == 0, out + err)
        code, out, err = etcdctl(srv.endpoint, certs.etcdctl_flags(cert=later_crt, key=later_key),
                                 "get", "k1", "--print-value-only")
        check("another unrevoked certificate is served", code == 0 and out.strip() == "v1", out + err)
        code, out, err = etcdctl(srv.endpoint, certs.etcdctl_flags(cert=revoked_crt, key=revoked_key),
                                 "get", "k1")
        check("a revoked client certificate is refused", code != 0, out + err)
        # Revoke one more: the next handshake reads the new list.
        certs.revoke(later_crt)
        time.sleep(1.1)  # a new mtime, whatever the file system's granularity
        code, out, err = etcdctl(srv.endpoint, certs.etcdctl_flags(cert=later_crt, key=later_key),
                                 "get", "k1")
        check("a certificate revoked while the member runs is refused", code != 0, out + err)
        code, out, err = etcdctl(srv.endpoint, srv.etcdctl_tls(), "get", "k1", "--print-value-only")
        check("the member keeps serving others", code == 0 and out.strip() == "v1", out + err)
        answer = peer_answer(srv, certs, certs.server, certs.server_key)
        check("a peer whose CN is not --peer-cert-allowed-cn is refused", answer != "data", answer)


def handshake(port, certs, *args):
    """True if `openssl s_client` (with the client certificate) and `args`
    completes a TLS handshake and the session stays up."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", certs.ca,
                        "-cert", certs.client, "-key", certs.client_key, "-verify_return_error"]
                       + list(args), input=b"", capture_output=True, timeout=15)
    return r.returncode == 0 and b"BEGIN CERTIFICATE" in r.stdout


def single_tls_member(binary, certs, name, flags):
    return harness.Server(binary, name=name, label=name, extra_flags=FLAGS + flags, certs=certs)


def scenario_protocol(binary, certs):
    """--cipher-suites limits the TLS 1.2 suites (etcd 3.4 too); ketcd's
    --tls-min-version TLS1.3 refuses TLS 1.2 clients; a --tls-max-version
    it cannot enforce stops it at start. Both gRPC (ALPN h2) and HTTP
    clients of the port are checked."""
    srv = single_tls_member(binary, certs, "ciphers",
                            ["--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"])
    # https and http mixed in --listen-client-urls (the flag's last value wins).
    plain_port = harness.free_ports(1)[0]
    srv.extra_flags += ["--listen-client-urls", "%s,http://127.0.0.1:%d" % (srv.client_url, plain_port)]
    try:
        srv.start(health_timeout=30)
        code, out, err = etcdctl("http://127.0.0.1:%d" % plain_port, [], "put", "mixed", "1")
        check("mixed URLs: a plaintext client on the http URL", code == 0, out + err)
        code, out, err = etcdctl("http://127.0.0.1:%d" % srv.client_port, [], "get", "mixed")
        check("mixed URLs: a plaintext client on the https URL is refused", code != 0, out + err)
        code, out, err = etcdctl(srv.client_url, srv.etcdctl_tls(), "get", "mixed", "--print-value-only")
        check("mixed URLs: the https URL serves the same data", code == 0 and out.strip() == "1", out + err)
        for alpn in (["-alpn", "h2"], []):
            what = "ALPN h2" if alpn else "no ALPN"
            check("TLS 1.2 with the listed suite (%s)" % what,
                  handshake(srv.client_port, certs, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256",
                            *alpn))
            check("TLS 1.2 with a suite not listed is refused (%s)" % what,
                  not handshake(srv.client_port, certs, "-tls1_2", "-cipher",
                                "ECDHE-ECDSA-AES256-GCM-SHA384", *alpn))
    finally:
        srv.cleanup()
    if binary.endswith("/etcd"):
        log("SKIP the rest: etcd 3.4 has no --tls-min-version")
        return
    srv = single_tls_member(binary, certs, "tls13", ["--tls-min-version", "TLS1.3"])
    try:
        srv.start(health_timeout=30)
        for alpn in (["-alpn", "h2"], []):
            what = "ALPN h2" if alpn else "no ALPN"
            check("--tls-min-version TLS1.3: a TLS 1.3 client is served (%s)" % what,
                  handshake(srv.client_port, certs, "-tls1_3", *alpn))
            check("--tls-min-version TLS1.3: a TLS 1.2 client is refused (%s)" % what,
                  not handshake(srv.client_port, certs, "-tls1_2", *alpn))
        code, out, err = etcdctl(srv.client_url, srv.etcdctl_tls(), "put", "k", "v")
        check("etcdctl works with TLS1.3 only", code == 0, out + err)
    finally:
        srv.cleanup()
    srv = single_tls_member(binary, certs, "max12", ["--tls-max-version", "TLS1.2"])
    try:
        srv.spawn()
        rc = srv.proc.wait(timeout=15)
        tail = srv.log_tail(5)
        check("--tls-max-version TLS1.2 stops the member at start, saying why",
              rc == 1 and "--tls-max-version" in tail and not os.path.exists(srv.data_dir),
              "rc=%s\n%s" % (rc, tail))
    finally:
        srv.cleanup()


SCENARIOS = {"guide": scenario_guide, "rotation": scenario_rotation, "policy": scenario_policy,
             "badcerts": scenario_badcerts, "protocol": scenario_protocol}


def with_certs(scenario):
    return lambda server, tmp: scenario(server, harness.Certs(os.path.join(tmp, "certs")))


if __name__ == "__main__":
    sys.exit(scenario_lib.main({name: with_certs(f) for name, f in SCENARIOS.items()}))
