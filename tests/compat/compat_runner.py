#!/usr/bin/python3
"""Differential compatibility runner: the same case against real etcd and ketcd.

Run with /usr/bin/python3 (Debian's python, which has python3-etcd3). Stdlib only.

    /usr/bin/python3 compat_runner.py --ketcd BUILD/server/ketcd --etcd /usr/bin/etcd \
        --case cases/get_options.case [--against both|etcd|ketcd] [--show] [--tls]

For each server the runner: picks free ports on 127.0.0.1, makes a fresh temp
data dir, starts the server with etcd's flags (single member), waits until a
linearizable read succeeds (bounded), runs every step of the case (each bounded
by a subprocess timeout and by the case budget), records exit code, stdout and
stderr of each step, stops the server by PID (SIGTERM, then SIGKILL) and removes
the temp dir -- in all cases (try/finally). The two transcripts are normalized
(see normalize()) and must be identical; otherwise a unified diff is printed
and the exit status is 1. Exit status 2 means the harness itself failed (e.g. a
server did not become healthy).

--tls: the runner makes one set of certificates (harness.Certs, openssl CLI)
in a temp dir for the whole run, removed at the end in all cases; both servers
serve https client and peer URLs with mutual TLS; etcdctl steps get https
endpoints and --cacert/--cert/--key, python steps --ca-cert/--cert-cert/
--cert-key (see scripts/conn.py). Before the first case it runs, each server
is checked to really be TLS-only (https URLs, certificate flags, a plaintext
etcdctl refused); a failed check is a harness error (2).

Case file format (one step per line; see README.md):

    # comment
    %server --max-txn-ops 8          extra server flags (same for both servers)
    %timeout 45                      budget in seconds for one server's run
    etcdctl put foo bar              etcdctl (ETCDCTL_API=3) with --endpoints and
                                     --command-timeout added; args split like sh
    etcdctl! put 'k\\x01ey' v        same, but \\xNN, \\n, \\t, \\\\ escapes in the
                                     args are decoded to raw bytes
    etcdctl txn -i <<EOF             the lines up to "EOF" are the step's stdin
    ...
    EOF
    python scripts/py_kv.py          /usr/bin/python3 SCRIPT --endpoint 127.0.0.1:PORT
                                     [--ca-cert F --cert-cert F --cert-key F] (--tls)
                                     (path relative to the case file, then to this dir)
    %restart                         SIGTERM the server, start it again on the same
                                     data dir (and ports), wait until healthy

    Anywhere in args or stdin, {{rep:TEXT:N}} expands to TEXT repeated N times.
"""

import argparse
import base64
import binascii
import codecs
import difflib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

import harness  # noqa: E402

DEFAULT_BUDGET = 45.0       # seconds for one server's run of a case (< 60 s)
STEP_TIMEOUT = 20.0         # seconds for one etcdctl step (python steps: the case budget)
ETCDCTL_COMMAND_TIMEOUT = "5s"
ETCDCTL_DIAL_TIMEOUT = "2s"


# --------------------------------------------------------------------------
# case parsing
# --------------------------------------------------------------------------
class Step:
    def __init__(self, kind, args, stdin=None, line="", lineno=0):
        self.kind = kind          # "etcdctl" | "python" | "goclient" | "restart"
        self.args = args          # list of str or bytes
        self.stdin = stdin        # bytes or None
        self.line = line          # the source line, for the transcript
        self.lineno = lineno


class Case:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.server_flags = []
        self.budget = DEFAULT_BUDGET
        self.steps = []


_REP = re.compile(r"\{\{rep:(.*?):(\d+)\}\}", re.S)


def expand(s):
    return _REP.sub(lambda m: m.group(1) * int(m.group(2)), s)


def parse_case(path):
    case = Case(path)
    with open(path, "r", encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        raw = lines[i]
        lineno = i + 1
        i += 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("%"):
            word, _, rest = line.partition(" ")
            if word == "%server":
                case.server_flags += shlex.split(rest)
            elif word == "%timeout":
                case.budget = float(rest)
            elif word == "%restart":
                case.steps.append(Step("restart", [], line=line, lineno=lineno))
            else:
                raise ValueError("%s:%d: unknown directive %s" % (path, lineno, word))
            continue
        toks = shlex.split(line)
        stdin = None
        if toks and toks[-1].startswith("<<"):
            tag = toks.pop()[2:]
            body = []
            while i < len(lines) and lines[i].strip() != tag:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError("%s:%d: heredoc %s not terminated" % (path, lineno, tag))
            i += 1
            stdin = expand("\n".join(body) + "\n").encode("utf-8")
        cmd, args = toks[0], [expand(t) for t in toks[1:]]
        if cmd == "etcdctl":
            case.steps.append(Step("etcdctl", args, stdin, line, lineno))
        elif cmd == "etcdctl!":
            bargs = [codecs.escape_decode(a.encode("utf-8"))[0] for a in args]
            case.steps.append(Step("etcdctl", bargs, stdin, line, lineno))
        elif cmd == "python":
            script = args[0]
            for base in (os.path.dirname(case.path), HERE):
                cand = os.path.join(base, script)
                if os.path.isfile(cand):
                    script = cand
                    break
            else:
                raise ValueError("%s:%d: script %s not found" % (path, lineno, args[0]))
            case.steps.append(Step("python", [script] + args[1:], stdin, line, lineno))
        elif cmd == "goclient":
            # a scenario of etcd's Go client (goclient/src/ketcdcompat)
            case.steps.append(Step("goclient", args, stdin, line, lineno))
        else:
            raise ValueError("%s:%d: unknown command %r" % (path, lineno, cmd))
    return case


# --------------------------------------------------------------------------
# normalization: only what legitimately differs between two servers
# --------------------------------------------------------------------------
_IDS_KV = re.compile(r'(["\']?\b(cluster_id|member_id|raft_term)\b["\']?\s*[:=]\s*)\d+')
_IDS_FIELDS = re.compile(r'("(ClusterID|MemberID|RaftTerm)"\s*:\s*)\d+')
_PLACEHOLDER = {"cluster_id": "<CLUSTER_ID>", "member_id": "<MEMBER_ID>",
                "raft_term": "<RAFT_TERM>", "ClusterID": "<CLUSTER_ID>",
                "MemberID": "<MEMBER_ID>", "RaftTerm": "<RAFT_TERM>"}
_UUID_TARGET = re.compile(r"endpoint://client-[0-9a-fA-F-]+/")
_TIMESTAMP = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?")


def _norm_text(s, server):
    if server.tmpdir:
        s = s.replace(server.tmpdir, "<TMP>")
    if server.certs:
        # --tls: the scheme of the server's own URLs is the runner's choice, like
        # their ports; any other "https://" is kept
        for port in (server.client_port, server.peer_port):
            s = s.replace("https://%s:%d" % (harness.HOST, port),
                          "<SCHEME>://%s:%d" % (harness.HOST, port))
    s = s.replace("%s:%d" % (harness.HOST, server.client_port), "127.0.0.1:<CLIENT_PORT>")
    s = s.replace("%s:%d" % (harness.HOST, server.peer_port), "127.0.0.1:<PEER_PORT>")
    s = _IDS_KV.sub(lambda m: m.group(1) + _PLACEHOLDER[m.group(2)], s)
    s = _IDS_FIELDS.sub(lambda m: m.group(1) + _PLACEHOLDER[m.group(2)], s)
    s = _UUID_TARGET.sub("endpoint://client-<UUID>/", s)
    return s


def _norm_log_line(line, server):
    """etcdctl's zap lines: {"level":"warn","ts":"...",...}: drop ts, keep the rest."""
    try:
        obj = json.loads(line)
    except ValueError:
        return _TIMESTAMP.sub("<TS>", line)
    if not isinstance(obj, dict):
        return line
    obj.pop("ts", None)
    return _norm_text(json.dumps(obj, separators=(",", ":")), server)


def normalize(data, server, is_stderr=False):
    text = data.decode("utf-8", "backslashreplace")
    out = []
    for line in text.split("\n"):
        if is_stderr and line.startswith("{") and '"level"' in line:
            out.append(_norm_log_line(line, server))
        elif not is_stderr and line.startswith("{"):
            out.append(_norm_json_stdout(line, server))
        else:
            line = _norm_text(line, server)
            if is_stderr:
                line = _TIMESTAMP.sub("<TS>", line)
            out.append(line)
    return "\n".join(out)


def _norm_json_stdout(line, server):
    """etcdctl -w json prints one long line; indent it so a diff points at the field.

    Only layout changes: key order, numbers and strings are kept as printed
    (both sides are printed by the same etcdctl)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return _norm_text(line, server)
    return _norm_text(json.dumps(_annotate_b64(obj), indent=1, ensure_ascii=False), server)


def _annotate_b64(obj):
    """Add a decoded twin ("key~": "b'...'") next to base64 "key"/"value" fields,
    so diffs are readable. Purely additive: the original field is kept."""
    if isinstance(obj, list):
        return [_annotate_b64(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        out[k] = _annotate_b64(v)
        if k in ("key", "value") and isinstance(v, str):
            try:
                out[k + "~"] = repr(base64.b64decode(v, validate=True))
            except (ValueError, binascii.Error):
                pass
    return out


# --------------------------------------------------------------------------
# --tls: one set of certificates for the whole run
# --------------------------------------------------------------------------
class TlsRun:
    """The certificates of a --tls run (a temp dir, removed by cleanup()) and
    the check that each server really is TLS-only, once per server per run."""

    def __init__(self):
        harness.sweep_stale_tmpdirs()
        self.dir = tempfile.mkdtemp(prefix=harness.TMP_PREFIX + "certs-")
        with open(os.path.join(self.dir, "owner.pid"), "w") as f:
            f.write("%d\n" % os.getpid())
        self.certs = None
        self.checked = set()

    def make(self):
        try:
            self.certs = harness.Certs(self.dir)
        except (OSError, subprocess.SubprocessError) as e:
            raise harness.HarnessError("making the test certificates: %s" % e)

    def script_args(self):
        """The TLS files for a python step (python3-etcd3's names, see scripts/conn.py)."""
        c = self.certs
        return ["--ca-cert", c.ca, "--cert-cert", c.client, "--cert-key", c.client_key]

    def check(self, server, label, log=None):
        """server is healthy through TLS (its start-up probe); it must not have
        been started in plaintext: https client and peer URLs, certificate and
        client-cert-auth flags, and a plaintext etcdctl against its port fails."""
        if label in self.checked:
            return
        argv = server.argv()
        missing = [f for f in ("--cert-file", "--key-file", "--trusted-ca-file",
                               "--client-cert-auth", "--peer-cert-file") if f not in argv]
        if (not server.client_url.startswith("https://")
                or not server.peer_url.startswith("https://") or missing):
            raise harness.HarnessError("%s not started with TLS: client %s, peer %s, missing %s"
                                       % (label, server.client_url, server.peer_url, missing))
        plain = "%s:%d" % (harness.HOST, server.client_port)
        try:
            r = subprocess.run(
                [harness.ETCDCTL, "--endpoints=" + plain, "--dial-timeout=500ms",
                 "--command-timeout=500ms", "get", "__ketcd_tls_probe__"],
                env=harness.etcdctl_env(), stdin=subprocess.DEVNULL, capture_output=True,
                timeout=10, preexec_fn=harness._die_with_parent)
            refused = r.returncode != 0
        except subprocess.TimeoutExpired:
            refused = True
        if not refused:
            raise harness.HarnessError("%s answered a plaintext etcdctl on %s: not TLS-only"
                                       % (label, plain))
        self.checked.add(label)
        if log:
            log("  %s: TLS on (%s, plaintext etcdctl refused)" % (label, server.client_url))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# running a case against one server
# --------------------------------------------------------------------------
def run_step(step, server, remaining, tls=None, go_client=None):
    # A python step is a whole scenario (watchers, sleeps for TTLs): it is
    # bounded by the case's budget; an etcdctl step by STEP_TIMEOUT.
    timeout = max(0.1, min(STEP_TIMEOUT, remaining) if step.kind == "etcdctl" else remaining)
    if step.kind == "etcdctl":
        argv = [harness.ETCDCTL, "--endpoints=" + server.endpoint,
                "--dial-timeout=" + ETCDCTL_DIAL_TIMEOUT,
                "--command-timeout=" + ETCDCTL_COMMAND_TIMEOUT] + server.etcdctl_tls() + step.args
        env = harness.etcdctl_env()
    else:
        # scripts get host:port; over TLS also the certificate files
        endpoint = "%s:%d" % (harness.HOST, server.client_port)
        flags = ["--endpoint", endpoint] + (tls.script_args() if tls else [])
        if step.kind == "goclient":
            if not go_client or not os.access(go_client, os.X_OK):
                raise harness.HarnessError(
                    "a goclient step needs --go-client, the built ketcdcompat (%s): is golang-go "
                    "installed (./setup installs it)?" % go_client)
            argv = [go_client] + flags + step.args
        else:
            argv = [harness.PYTHON] + step.args[:1] + flags + step.args[1:]
        env = harness.clean_env({"COMPAT_ENDPOINT": server.endpoint,
                                 "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        r = subprocess.run(argv, input=step.stdin if step.stdin is not None else b"",
                           capture_output=True, env=env, timeout=timeout,
                           preexec_fn=harness._die_with_parent)
        return r.returncode, r.stdout, r.stderr, False
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or b"", e.stderr or b"", True


def run_case(case, binary, label, log=None, tls=None, go_client=None):
    """Run the case against one server; return the normalized transcript (list of lines).

    tls: a TlsRun (--tls): the server runs with its certificates."""
    server = harness.Server(binary, name="compat", extra_flags=case.server_flags, label=label,
                            certs=tls.certs if tls else None)
    out = []
    problems = []  # timeouts / crashes: fail the case even if both sides agree
    t0 = time.monotonic()
    try:
        server.start(health_timeout=min(20.0, case.budget))
        if tls:
            tls.check(server, label, log)
        deadline = t0 + case.budget
        for n, step in enumerate(case.steps, 1):
            remaining = deadline - time.monotonic()
            out.append("=== [%d] line %d: %s" % (n, step.lineno, step.line))
            if remaining <= 0:
                out.append("--- CASE BUDGET EXHAUSTED (%.0fs)" % case.budget)
                problems.append("%s: case budget of %.0fs exhausted before step %d"
                                % (label, case.budget, n))
                break
            if step.kind == "restart":
                rc = server.stop()
                # the exit status after SIGTERM is not part of the contract
                # (etcd 3.4 dies by the re-raised signal); only log it.
                if log:
                    log("  %s: %s stopped by SIGTERM, exit status %s" % (case.name, label, rc))
                out.append("--- server stopped by SIGTERM")
                server.start(health_timeout=min(20.0, max(1.0, remaining)))
                out.append("--- server restarted and healthy")
                continue
            rc, so, se, timed_out = run_step(step, server, remaining, tls, go_client)
            if timed_out:
                out.append("--- TIMEOUT")
                problems.append("%s: step %d (line %d) timed out" % (label, n, step.lineno))
            else:
                out.append("--- exit: %d" % rc)
                # The Go client's scenarios run to their end ("done") or stop
                # on an unexpected error: a failure even if both servers agree.
                if step.kind == "goclient" and (rc != 0 or not so.endswith(b"done\n")):
                    problems.append("%s: step %d (line %d): the Go client stopped (exit %d)"
                                    % (label, n, step.lineno, rc))
            so_n = normalize(so, server)
            se_n = normalize(se, server, is_stderr=True)
            # exact line structure: "a\n" -> ["a", ""], "" -> []
            out.append("--- stdout:")
            out.extend(so_n.split("\n") if so_n else [])
            out.append("--- stderr:")
            out.extend(se_n.split("\n") if se_n else [])
            if not server.alive():
                out.append("--- SERVER DIED (exit %s)" % server.proc.returncode)
                problems.append("%s: server died during step %d (exit %s)"
                                % (label, n, server.proc.returncode))
                if log:
                    log(server.log_tail())
                break
        out.append("=== server alive at end of case: %s" % ("yes" if server.alive() else "NO"))
        if not server.alive():
            if not any("server died" in p for p in problems):
                problems.append("%s: server not running at end of case" % label)
            if log:
                log(server.log_tail())
    finally:
        server.cleanup()
    if log:
        log("  %s: %s finished in %.1fs" % (case.name, label, time.monotonic() - t0))
    return out, problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", nargs="+", required=True, help="case file(s)")
    ap.add_argument("--etcd", default="/usr/bin/etcd", help="reference server binary")
    ap.add_argument("--ketcd", default=None, help="server binary under test")
    ap.add_argument("--against", choices=("both", "etcd", "ketcd"), default="both")
    ap.add_argument("--go-client", default=None,
                    help="the built ketcdcompat (etcd's Go client), for goclient steps")
    ap.add_argument("--show", action="store_true", help="print the normalized transcript(s)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--tls", action="store_true",
                    help="both servers with https URLs and mutual TLS (one set of certificates)")
    args = ap.parse_args(argv)
    # SIGTERM (e.g. from a test driver) unwinds through the try/finally blocks
    # that stop servers and remove temp dirs; servers also get SIGKILL through
    # PR_SET_PDEATHSIG should this process be killed outright.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if args.against in ("both", "ketcd") and not args.ketcd:
        ap.error("--ketcd PATH is required with --against %s" % args.against)
    # servers run in their temp dir: a relative binary path is this directory's
    args.etcd = os.path.abspath(args.etcd)
    args.ketcd = args.ketcd and os.path.abspath(args.ketcd)
    def executable(p):
        return os.path.isfile(p) and os.access(p, os.X_OK)

    # the reference tools missing -> "skipped" (77) rather than failed
    for tool in ([args.etcd] if args.against != "ketcd" else []) + [harness.ETCDCTL]:
        if not executable(tool):
            print("SKIP: reference tool not installed: %s" % tool)
            return 77
    if args.against != "etcd" and not executable(args.ketcd):
        print("server binary not executable: %s" % args.ketcd, file=sys.stderr)
        return 2
    args.go_client = args.go_client and os.path.abspath(args.go_client)

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    tls = TlsRun() if args.tls else None
    try:
        if tls:
            tls.make()
        return run_cases(args, log, tls)
    except harness.HarnessError as e:
        print("ERROR: %s" % e)
        return 2
    finally:
        if tls:
            tls.cleanup()


def run_cases(args, log, tls):
    status = 0
    mode = " over TLS" if tls else ""
    for path in args.case:
        try:
            case = parse_case(path)
        except (OSError, ValueError) as e:
            print("ERROR parsing %s: %s" % (path, e))
            status = max(status, 2)
            continue
        runs = []
        if args.against in ("both", "etcd"):
            runs.append(("etcd", args.etcd))
        if args.against in ("both", "ketcd"):
            runs.append(("ketcd", args.ketcd))
        transcripts = {}
        problems = []
        try:
            for label, binary in runs:
                transcripts[label], p = run_case(case, binary, label, log, tls, args.go_client)
                problems += p
        except harness.HarnessError as e:
            print("ERROR %s%s: %s" % (case.name, mode, e))
            status = max(status, 2)
            continue
        if args.show:
            for label, lines in transcripts.items():
                print("##### %s%s -- %s (normalized)" % (case.name, mode, label))
                print("\n".join(lines))
        if args.against == "both":
            a, b = transcripts["etcd"], transcripts["ketcd"]
            if a == b and problems:
                print("FAIL %s%s: identical output, but: %s"
                      % (case.name, mode, "; ".join(problems)))
                status = max(status, 1)
            elif a == b:
                print("PASS %s%s (etcd == ketcd, %d steps)" % (case.name, mode, len(case.steps)))
            else:
                print("FAIL %s%s: normalized output differs (- etcd %s, + ketcd %s)"
                      % (case.name, mode, args.etcd, args.ketcd))
                sys.stdout.writelines(
                    l + "\n" for l in difflib.unified_diff(
                        a, b, fromfile="etcd", tofile="ketcd", lineterm="", n=4))
                status = max(status, 1)
            if a != b and problems:
                print("  also: " + "; ".join(problems))
        elif problems:
            print("FAIL %s%s against %s: %s"
                  % (case.name, mode, args.against, "; ".join(problems)))
            status = max(status, 1)
        else:
            print("RAN %s%s against %s (%d steps)" % (case.name, mode, args.against, len(case.steps)))
    return status


if __name__ == "__main__":
    sys.exit(main())
