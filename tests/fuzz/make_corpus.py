#!/usr/bin/env python3
"""Makes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
from real artefacts:

  make_corpus.py [--build-dir DIR] [--out DIR]

- a ketcd member (<build-dir>/server/ketcd) is started on 127.0.0.1 and fed
  puts, a txn, deletes, a lease, a compaction, users and roles through
  Debian's etcdctl; `etcdctl snapshot save` takes its backup; it is stopped
  and its WAL segment read back;
- wal: that segment (trailing pre-allocation cut off), the segment torn in
  its last batch, its header batch alone, and the segment followed by a
  second segment that continues it (built here with the record format of
  storage/wal.h, CRC-32C included);
- request: the InternalRequests of the member's log, as delimited streams;
- peer: MessageBatches (protoc --encode of text protos) of the raft messages
  a follower and a leader receive, carrying the log's real entries;
- snapshot: SnapshotChunk streams: the member's stopped store sent whole,
  and small manifests (good and bad file names);
- backup: the checked-in backup Debian's etcd 3.4 made
  (tests/storage/testdata/etcd34.db) and the member's own backup;
- config: etcd-style YAML config files, a URL list and a duration.

The cluster id the peer and snapshot seeds carry (0x1000) is the one
fuzz_peer.cc and fuzz_snapshot.cc expect. Every file stays under 100 KiB.
Needs /usr/bin/etcdctl and /usr/bin/protoc. Existing files of the corpora
are kept (crash reproducers live there too); seeds of the same name are
overwritten.
"""
import argparse
import glob
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ETCDCTL = "/usr/bin/etcdctl"
PROTOC = "/usr/bin/protoc"
CLUSTER_ID = 0x1000
MAX_SEED = 100 * 1024

sys.path.insert(0, os.path.join(REPO, "tests", "compat", "lib"))
from harness import free_ports  # noqa: E402


# ---- encodings -----------------------------------------------------------

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def delimited(messages):
    return b"".join(varint(len(m)) + m for m in messages)


def proto_fields(data):
    """(field number, wire type, value) of a serialized message, one level."""
    pos = 0
    out = []
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 2:
            n, pos = _read_varint(data, pos)
            value, pos = data[pos:pos + n], pos + n
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError("wire type %d" % wire)
        out.append((field, wire, value))
    return out


def _read_varint(data, pos):
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def text_bytes(b):
    """A bytes literal of the protobuf text format."""
    return '"' + "".join("\\%03o" % c for c in b) + '"'


def encode(message_type, text):
    """protoc --encode of a text-format message of ketcd's protos."""
    r = subprocess.run([PROTOC, "-I", os.path.join(REPO, "proto"), "--encode=" + message_type,
                        "peerpb/peer.proto"], input=text.encode(), capture_output=True, check=False)
    if r.returncode != 0:
        sys.exit("protoc --encode=%s failed: %s\n%s" % (message_type, r.stderr.decode(), text))
    return r.stdout


# ---- the WAL format (storage/wal.h) -----------------------------------------

REC_METADATA, REC_ENTRY, REC_HARD_STATE, REC_SNAPSHOT, REC_COMMIT = 1, 2, 3, 4, 5


def align8(n):
    return (n + 7) & ~7


def wal_records(seg):
    """(offset, type, batch, payload, size) of each record, up to the zeros."""
    out = []
    off = 0
    while off + 24 <= len(seg) and seg[off:off + 24] != bytes(24):
        _, rtype, length, _, batch = struct.unpack_from("<IB3xIIQ", seg, off)
        payload = seg[off + 24:off + 24 + length]
        size = align8(24 + length)
        out.append((off, rtype, batch, payload, size))
        off += size
    return out


def wal_record(rtype, batch, payload):
    header = struct.pack("<B3xIIQ", rtype, len(payload), crc32c(payload), batch)
    rec = struct.pack("<I", crc32c(header)) + header + payload
    return rec + bytes(align8(len(rec)) - len(rec))


def wal_batch(batch, records):
    body = b"".join(wal_record(t, batch, p) for t, p in records)
    commit = struct.pack("<IIQ", len(records), crc32c(body), len(body))
    return body + wal_record(REC_COMMIT, batch, commit)


def wal_seeds(seg, requests):
    recs = wal_records(seg)
    end = recs[-1][0] + recs[-1][4]
    seeds = {"member.wal": seg[:end]}
    commits = [r for r in recs if r[1] == REC_COMMIT]
    seeds["header_batch.wal"] = seg[:commits[0][0] + commits[0][4]]
    if len(commits) > 1:
        # Cut inside the last batch: a torn tail, dropped by Open.
        last_start = commits[-2][0] + commits[-2][4]
        seeds["torn.wal"] = seg[:(last_start + end) // 2 + 3]
    # A second segment continuing the first: header batch (metadata, the
    # newest hard state and snapshot marker), then one more entry.
    meta = recs[0][3]
    seq, first_index, cluster, member = struct.unpack_from("<QQQQ", meta, 16)
    hard = [r[3] for r in recs if r[1] == REC_HARD_STATE][-1]
    marker = [r[3] for r in recs if r[1] == REC_SNAPSHOT]
    entries = [proto_fields(r[3]) for r in recs if r[1] == REC_ENTRY]
    last_index = max(v for e in entries for f, _, v in e if f == 2)
    term = max(v for e in entries for f, _, v in e if f == 1)
    next_batch = recs[-1][2] + 1
    meta2 = b"KETCDWAL" + struct.pack("<II", 1, 0) + struct.pack("<QQQQ", seq + 1, last_index + 1, cluster, member)
    header = [(REC_METADATA, meta2), (REC_HARD_STATE, hard), (REC_SNAPSHOT, marker[-1] if marker else b"")]
    entry = varint(1 << 3) + varint(term) + varint(2 << 3) + varint(last_index + 1) + \
        varint((4 << 3) | 2) + varint(len(requests[0])) + requests[0]
    seg2 = wal_batch(next_batch, header) + wal_batch(next_batch + 1, [(REC_ENTRY, entry)])
    seeds["two_segments.wal"] = seg[:end] + seg2
    return seeds


def log_entries(seg):
    """(type, data) of the WAL's entries: data is an InternalRequest or a ConfChange."""
    out = []
    for _, rtype, _, payload, _ in wal_records(seg):
        if rtype != REC_ENTRY:
            continue
        fields = {f: v for f, _, v in proto_fields(payload)}
        if fields.get(4):
            out.append((fields.get(3, 0), fields[4]))
    return out


# ---- the member ------------------------------------------------------------

def run_member(ketcd, tmp):
    """Starts a member, writes through etcdctl, saves a backup, stops it.
    Returns (WAL segment bytes, backup bytes, the store's directory)."""
    client, peer = free_ports(2)
    data = os.path.join(tmp, "data")
    curl, purl = "http://127.0.0.1:%d" % client, "http://127.0.0.1:%d" % peer
    log = open(os.path.join(tmp, "ketcd.log"), "w")
    proc = subprocess.Popen([ketcd, "--name", "fuzz", "--data-dir", data, "--listen-client-urls", curl,
                             "--advertise-client-urls", curl, "--listen-peer-urls", purl,
                             "--initial-advertise-peer-urls", purl, "--initial-cluster", "fuzz=" + purl,
                             "--initial-cluster-token", "fuzz-corpus"], stdout=log, stderr=log)
    env = dict(os.environ, ETCDCTL_API="3")

    def ctl(*args, stdin=None):
        r = subprocess.run([ETCDCTL, "--endpoints", curl] + list(args), input=stdin, env=env,
                           capture_output=True, text=True, timeout=30, check=False)
        if r.returncode != 0:
            raise RuntimeError("etcdctl %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    try:
        deadline = time.time() + 30
        while True:
            try:
                ctl("endpoint", "health")
                break
            except RuntimeError:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        for k, v in (("a", "1"), ("b", "2"), ("foo/1", "x"), ("foo/2", "y")):
            ctl("put", k, v)
        ctl("txn", stdin='value("a") = "1"\n\nput a 3\nput c 4\n\nput a 5\n\n')
        lease = ctl("lease", "grant", "60").split()[1]
        ctl("put", "--lease=" + lease, "leased", "v")
        ctl("del", "--prefix", "foo/")
        ctl("compaction", "3")
        ctl("role", "add", "reader")
        ctl("role", "grant-permission", "--prefix=true", "reader", "read", "foo/")
        ctl("user", "add", "alice", "--new-user-password=secret")
        ctl("user", "grant-role", "alice", "reader")
        ctl("alarm", "list")
        ctl("lease", "revoke", lease)
        ctl("put", "z", "last")
        backup = os.path.join(tmp, "backup.db")
        ctl("snapshot", "save", backup)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    segs = sorted(glob.glob(os.path.join(data, "member", "wal", "*.wal")))
    with open(segs[0], "rb") as f:
        seg = f.read()
    with open(backup, "rb") as f:
        return seg, f.read(), os.path.join(data, "member", "db")


# ---- the seeds of each target ------------------------------------------------

def request_seeds(requests):
    seeds = {"log.bin": delimited(requests[:16])}
    # One seed per kind of request (the oneof's field number), alone.
    seen = set()
    for req in requests:
        kinds = [f for f, _, _ in proto_fields(req) if 2 <= f <= 30]
        if kinds and kinds[0] not in seen:
            seen.add(kinds[0])
            seeds["kind_%02d.bin" % kinds[0]] = delimited([req])
    return seeds


def peer_seeds(entries):
    conf = [d for t, d in entries if t == 1]
    reqs = [d for t, d in entries if t == 0]
    ents = "".join("entries { term: 2 index: %d data: %s }" % (4 + i, text_bytes(d))
                   for i, d in enumerate(reqs[:4]))
    batches = {
        # To the follower (term 1, log 1..3): a leader of term 2 appears.
        "follower_append.bin": "messages { type: MSG_HEARTBEAT from: 2 to: 1 term: 2 commit: 3 } "
                               "messages { type: MSG_APP from: 2 to: 1 term: 2 log_term: 1 index: 3 "
                               "commit: 5 %s }" % ents,
        "vote.bin": "messages { type: MSG_PRE_VOTE from: 3 to: 1 term: 3 log_term: 1 index: 3 } "
                    "messages { type: MSG_VOTE from: 3 to: 1 term: 3 log_term: 1 index: 3 }",
        "snapshot.bin": "messages { type: MSG_SNAP from: 2 to: 1 term: 3 snapshot { metadata { "
                        "conf_state { voters: [1, 2, 3] } index: 10 term: 3 } } }",
        # To the leader (term 2, log 1..4): acknowledgements and requests.
        "leader_acks.bin": "messages { type: MSG_APP_RESP from: 2 to: 1 term: 2 index: 4 } "
                           "messages { type: MSG_HEARTBEAT_RESP from: 3 to: 1 term: 2 } "
                           "messages { type: MSG_APP_RESP from: 3 to: 1 term: 2 index: 2 reject: true "
                           "reject_hint: 2 }",
        "forwarded.bin": "messages { type: MSG_PROP from: 2 to: 1 %s } "
                         "messages { type: MSG_READ_INDEX from: 3 to: 1 entries { data: \"ctx\" } } "
                         "messages { type: MSG_TRANSFER_LEADER from: 2 to: 1 }" % ents,
        "timeout_now.bin": "messages { type: MSG_TIMEOUT_NOW from: 2 to: 1 term: 2 }",
    }
    if conf:
        batches["conf_change.bin"] = "messages { type: MSG_PROP from: 2 to: 1 entries { type: " \
                                     "ENTRY_CONF_CHANGE data: %s } }" % text_bytes(conf[-1])
    return {name: encode("peerpb.MessageBatch", "cluster_id: %d from: 2 %s" % (CLUSTER_ID, text))
            for name, text in batches.items()}


def snapshot_stream(files, index, chunk=16 * 1024):
    """A SnapshotChunk stream sending `files` ([(name, bytes)]) whole."""
    first = ("cluster_id: %d from: 2 message { type: MSG_SNAP from: 2 to: 1 term: 2 snapshot { "
             "metadata { conf_state { voters: [1, 2, 3] } index: %d term: 2 } } } %s" %
             (CLUSTER_ID, index, " ".join("manifest { name: %s size: %d }" % (text_bytes(n.encode()), len(b))
                                          for n, b in files)))
    chunks = [first]
    for name, data in files:
        for off in range(0, max(len(data), 1), chunk):
            part = data[off:off + chunk]
            chunks.append("cluster_id: %d from: 2 file: %s offset: %d data: %s crc32c: %d" %
                          (CLUSTER_ID, text_bytes(name.encode()), off, text_bytes(part), crc32c(part)))
    chunks[-1] += " last: true"
    return delimited([encode("peerpb.SnapshotChunk", c) for c in chunks])


def snapshot_seeds(db_dir, applied):
    files = []
    for name in sorted(os.listdir(db_dir)):
        path = os.path.join(db_dir, name)
        if os.path.isfile(path) and name != "LOCK" and not name.startswith("LOG"):
            with open(path, "rb") as f:
                files.append((name, f.read()))
    seeds = {"small.bin": snapshot_stream([("CURRENT", b"MANIFEST-000001\n"), ("empty", b"")], 7),
             "bad_names.bin": snapshot_stream([("../outside", b"x"), ("a/b", b"y")], 7),
             "duplicate.bin": snapshot_stream([("f", b"12"), ("f", b"34")], 7)}
    whole = snapshot_stream(files, applied)
    if len(whole) < MAX_SEED:
        seeds["store.bin"] = whole
    else:
        print("make_corpus: the store's files take %d bytes: no store.bin" % len(whole))
    return seeds


CONFIG_FULL = """name: fuzz
data-dir: /var/lib/ketcd/fuzz
listen-client-urls: http://127.0.0.1:2379,http://127.0.0.1:22379
advertise-client-urls: http://127.0.0.1:2379
listen-peer-urls: http://127.0.0.1:2380
initial-advertise-peer-urls: http://127.0.0.1:2380
initial-cluster: fuzz=http://127.0.0.1:2380,other=http://127.0.0.1:12380
initial-cluster-state: new
initial-cluster-token: fuzz-token
listen-metrics-urls: http://127.0.0.1:2381
snapshot-count: 10000
heartbeat-interval: 100
election-timeout: 1000
quota-backend-bytes: 0
max-txn-ops: 128
max-request-bytes: 1572864
auto-compaction-mode: periodic
auto-compaction-retention: "1h"
logger: zap
log-level: info
log-outputs: [stderr]
strict-reconfig-check: true
enable-pprof: false
"""

CONFIG_SECURITY = """name: secure
client-transport-security:
  cert-file: /etc/ketcd/server.crt
  key-file: /etc/ketcd/server.key
  client-cert-auth: yes
  trusted-ca-file: /etc/ketcd/ca.crt
  auto-tls: false
peer-transport-security:
  cert-file: /etc/ketcd/peer.crt
  key-file: /etc/ketcd/peer.key
  client-cert-auth: on
  trusted-ca-file: /etc/ketcd/ca.crt
  allowed-cn: [member-a, member-b]
cipher-suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]
tls-min-version: TLS1.2
"""

CONFIG_DURATIONS = """experimental-watch-progress-notify-interval: 600000000000
experimental-corrupt-check-time: 5m
experimental-initial-corrupt-check: true
grpc-keepalive-min-time: 5s
grpc-keepalive-interval: 7200000000000
auto-compaction-mode: revision
auto-compaction-retention: 1000
data-dir:
"""


def config_seeds():
    return {"full.yml": CONFIG_FULL, "security.yml": CONFIG_SECURITY, "durations.yml": CONFIG_DURATIONS,
            "empty.yml": "", "malformed.yml": "name: [unclosed\n  - x: {\n",
            "url.txt": "http://127.0.0.1:2379,https://[::1]:2380,http://member.example:12379/",
            "duration.txt": "-1h2m3.004005006s"}


# ---- main --------------------------------------------------------------------

def write(out, target, seeds):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        if len(data) >= MAX_SEED:
            sys.exit("make_corpus: %s/%s is %d bytes, over the 100 KiB bound" % (target, name, len(data)))
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("make_corpus: %-8s %d seeds, %d bytes" % (target, len(seeds), sum(len(v) for v in seeds.values())))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    args = ap.parse_args()
    ketcd = os.path.join(args.build_dir, "server", "ketcd")
    for tool in (ketcd, ETCDCTL, PROTOC):
        if not os.access(tool, os.X_OK):
            sys.exit("make_corpus: %s is missing" % tool)
    tmp = tempfile.mkdtemp(prefix="ketcd-corpus-")
    try:
        seg, backup, db_dir = run_member(ketcd, tmp)
        entries = log_entries(seg)
        requests = [d for t, d in entries if t == 0]
        applied = _entry_index(seg)
        write(args.out, "wal", wal_seeds(seg, requests))
        write(args.out, "request", request_seeds(requests))
        write(args.out, "peer", peer_seeds(entries))
        write(args.out, "snapshot", snapshot_seeds(db_dir, applied))
        with open(os.path.join(REPO, "tests", "storage", "testdata", "etcd34.db"), "rb") as f:
            etcd34 = f.read()
        write(args.out, "backup", {"etcd34.db": etcd34, "ketcd.db": backup})
        write(args.out, "config", config_seeds())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _entry_index(seg):
    """The last entry index of the segment: the member applied through it."""
    idx = 0
    for _, rtype, _, payload, _ in wal_records(seg):
        if rtype == REC_ENTRY:
            idx = max(idx, dict((f, v) for f, _, v in proto_fields(payload)).get(2, 0))
    return idx


if __name__ == "__main__":
    main()
