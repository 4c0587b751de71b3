"""How a compat script reaches its server (stdlib only: no etcd3, no grpc).

The runner passes `--endpoint 127.0.0.1:PORT` and, in a --tls run, the
certificate files under python3-etcd3's names: `--ca-cert CA --cert-cert CRT
--cert-key KEY` (the client certificate the server requires). Scripts open
the python3-etcd3 client (compatlib.client), a raw gRPC channel
(rawproto.channel) or etcdctl (etcdctl() here) from these."""
import argparse
import functools
import os
import sys


class Target:
    def __init__(self, argv):
        ap = argparse.ArgumentParser()
        ap.add_argument("--endpoint", required=True, help="127.0.0.1:PORT")
        ap.add_argument("--ca-cert", help="CA of the server's certificate (TLS)")
        ap.add_argument("--cert-cert", help="client certificate (TLS)")
        ap.add_argument("--cert-key", help="client certificate's key (TLS)")
        args, _ = ap.parse_known_args(argv)
        host, port = args.endpoint.rsplit(":", 1)
        assert host == "127.0.0.1", host
        self.host, self.port, self.endpoint = host, int(port), args.endpoint
        self.ca_cert, self.cert_cert, self.cert_key = args.ca_cert, args.cert_cert, args.cert_key
        files = (self.ca_cert, self.cert_cert, self.cert_key)
        assert all(files) or not any(files), "give all of --ca-cert --cert-cert --cert-key or none"
        self.tls = all(files)

    def etcdctl_flags(self):
        """etcdctl's --endpoints (https:// with TLS) and certificate flags."""
        if not self.tls:
            return ["--endpoints", self.endpoint]
        return ["--endpoints", "https://" + self.endpoint, "--cacert", self.ca_cert,
                "--cert", self.cert_cert, "--key", self.cert_key]


@functools.lru_cache(maxsize=None)
def target():
    """The server and TLS files given on the script's command line."""
    return Target(sys.argv[1:])


ETCDCTL_ENV = dict(os.environ, ETCDCTL_API="3")


def etcdctl(*args):
    """argv of an etcdctl command against the script's server."""
    return ["etcdctl"] + target().etcdctl_flags() + list(args)
