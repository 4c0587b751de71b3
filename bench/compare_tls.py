"""bench/compare --tls: the certificates both systems and ketcd-bench use
(see bench/compare's help)."""

import os
import subprocess


class Certs:
    """A CA and server, peer and client certificates made with the openssl CLI
    in `directory` (ECDSA P-256; SANs IP:127.0.0.1 and DNS:localhost; each
    usable for serverAuth and clientAuth, as members present the peer
    certificate on both ends of a peer link)."""

    def __init__(self, directory):
        self.dir = os.path.abspath(directory)  # ketcd-bench runs in the results directory
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.ca, self.ca_key = self.path("ca.crt"), self.path("ca.key")
        self.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", self.ca_key, "-out", self.ca, "-days", "2", "-subj", "/CN=ketcd bench CA")
        with open(self.path("leaf.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
        for name in ("server", "peer", "client"):
            self.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                         "-keyout", self.path(name + ".key"), "-out", self.path(name + ".csr"),
                         "-subj", "/CN=ketcd bench " + name)
            self.openssl("x509", "-req", "-in", self.path(name + ".csr"), "-CA", self.ca, "-CAkey", self.ca_key,
                         "-CAcreateserial", "-out", self.path(name + ".crt"), "-days", "2",
                         "-extfile", self.path("leaf.ext"))

    def path(self, name):
        return os.path.join(self.dir, name)

    def openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (args[0], r.stderr.strip()[-500:]))

    def server_flags(self):
        """etcd's certificate flags, taken alike by etcd 3.4 and ketcd."""
        return ["--cert-file", self.path("server.crt"), "--key-file", self.path("server.key"),
                "--trusted-ca-file", self.ca, "--client-cert-auth",
                "--peer-cert-file", self.path("peer.crt"), "--peer-key-file", self.path("peer.key"),
                "--peer-trusted-ca-file", self.ca, "--peer-client-cert-auth"]

    def client_flags(self):
        """etcdctl's flags, and ketcd-bench's."""
        return ["--cacert", self.ca, "--cert", self.path("client.crt"), "--key", self.path("client.key")]

    def portable(self, argv):
        """`argv` with this directory shown as tls/ (results name no path of the machine)."""
        return [os.path.join("tls", os.path.relpath(a, self.dir)) if a.startswith(self.dir + os.sep) else a
                for a in argv]
