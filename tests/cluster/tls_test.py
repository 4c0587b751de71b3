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
            cert_cert, cert_key. Refused, while the cluster keeps serving: no
            client certificate, a certificate from another CA, a plaintext
            client, a TLS client without the CA, and a peer connection with a
            foreign certificate (its handshake fails; the right certificate
            gets through to the peer service). kill -9 of one member: the
            others serve; restarted, it catches up over the TLS peer links.
  rotation  (single member) the certificate and key are replaced on disk;
            new handshakes present the new certificate without a restart.
  policy    --client-crl-file: a revoked client certificate is refused, also
            one revoked while the member runs; --peer-cert-allowed-cn: a
            member certificate with another CN is refused at the peer port.
  badcerts  a missing certificate file, a key of another certificate, a CA
            file with no certificate, an https URL without --cert-file: each
            exits 1 naming the flag and the file, and leaves no data dir.
Every process is stopped by PID; the temp dirs are removed; each scenario is
bounded by --scenario-timeout.
"""

import argparse
import os
import shutil
import signal
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

ETCDCTL = harness.ETCDCTL
FLAGS = ["--heartbeat-interval", "50", "--election-timeout", "500"]


class Failure(Exception):
    pass


def log(msg):
    print("[tls] %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def check(what, ok, detail=""):
    if not ok:
        raise Failure("%s\n%s" % (what, detail))
    log("ok: " + what)


def etcdctl(endpoints, tls, *args, timeout=15):
    r = subprocess.run([ETCDCTL, "--endpoints=" + endpoints, "--dial-timeout=2s",
                        "--command-timeout=5s"] + tls + list(args),
                       env=harness.etcdctl_env(), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


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


def served_serial(port, ca):
    """The serial of the certificate a new TLS handshake on `port` presents."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", ca,
                        "-servername", "localhost"], input=b"", capture_output=True, timeout=15)
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
        check("the member presents the first certificate", served_serial(srv.client_port, certs.ca)
              == "serial=1000", str(served_serial(srv.client_port, certs.ca)))
        # Replace the pair as operators do: new files renamed into place.
        shutil.copy(new_crt, crt + ".tmp")
        shutil.copy(new_key, key + ".tmp")
        os.rename(key + ".tmp", key)
        os.rename(crt + ".tmp", crt)
        deadline = time.monotonic() + 15
        serial = None
        while time.monotonic() < deadline:
            serial = served_serial(srv.client_port, certs.ca)
            if serial == "serial=2000":
                break
            time.sleep(0.5)
        check("a new connection presents the replaced certificate without a restart",
              serial == "serial=2000", str(serial))
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


SCENARIOS = {"guide": scenario_guide, "rotation": scenario_rotation, "policy": scenario_policy,
             "badcerts": scenario_badcerts}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--scenario", default="all", choices=["all"] + list(SCENARIOS))
    ap.add_argument("--scenario-timeout", type=float, default=150)
    args = ap.parse_args()
    args.server = os.path.abspath(args.server)  # members run in their temp dirs
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    failed = []

    def on_alarm(signum, frame):
        raise Failure("scenario ran past %.0f s" % args.scenario_timeout)

    signal.signal(signal.SIGALRM, on_alarm)
    for name in names:
        tmp = tempfile.mkdtemp(prefix=harness.TMP_PREFIX)
        signal.alarm(int(args.scenario_timeout))
        try:
            SCENARIOS[name](args.server, harness.Certs(os.path.join(tmp, "certs")))
            log("PASS %s" % name)
        except (Failure, harness.HarnessError, subprocess.TimeoutExpired) as e:
            log("FAIL %s: %s" % (name, e))
            failed.append(name)
        finally:
            signal.alarm(0)
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
