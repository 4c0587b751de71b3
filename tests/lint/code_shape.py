#!/usr/bin/env python3
"""The code map, enforced: what each folder may include, how large a file
and a function may grow, and where time and logging come from.

  code_shape.py --root SRC [--build BUILD_DIR]

Checks, over the committed sources (git ls-files):
  - layering: each folder includes only the folders below it (the README's
    Code map): raft/ never sees RocksDB, gRPC, storage/ or server/; storage/
    never sees gRPC or server/; each server/ wing only the wings below it;
  - size: no file in server/ over 500 lines, none anywhere over 800;
  - injection: no absl::Now() in server/ or storage/ (time comes from
    base::Clock), no fprintf/std::cerr to stderr there (logs go through
    base::Logger);
  - function size: with --build (its compile_commands.json) and clang-tidy,
    no function in server/ over 80 lines (readability-function-size).
    clang-tidy parses a file only if some brace block in it spans more than
    80 lines (brace_spans.py: no such block, no such function);
    --tidy-all parses every file. The build's precompiled-header flags are
    dropped: clang cannot read gcc's PCH, and each file must stand alone.
Prints every violation and exits 1 if there is any.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import shlex
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from brace_spans import max_body_span, may_exceed

FUNCTION_LINES = 80

# Folder -> the project folders its files may include (besides its own and
# the generated protobuf headers, which every layer above proto/ may use).
SERVER_BELOW = {
    "server/net": [],
    "server/state": [],
    "server/peer": ["server/state", "server/net"],
    "server/replication": ["server/peer", "server/state", "server/net"],
    "server/edge": ["server/replication", "server/peer", "server/state", "server/net"],
    "server/boot": ["server/edge", "server/replication", "server/peer", "server/state", "server/net"],
}
ALLOWED = {
    "base": [],
    "raft": [],
    "storage": ["base", "raft"],
    "tools": ["base", "storage", "raft"],
    "bench": ["tools", "base"],
}
for wing, below in SERVER_BELOW.items():
    ALLOWED[wing] = ["base", "storage", "raft"] + below
FORBIDDEN_SYSTEM = {
    "raft": ["rocksdb/", "grpcpp/", "grpc/"],
    "base": ["rocksdb/", "grpcpp/", "grpc/"],
    "storage": ["grpcpp/", "grpc/"],
    "server/state": ["rocksdb/"],
}
PROJECT_DIRS = ["base", "raft", "storage", "server", "tools", "bench", "tests"]
INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([^>"]+)[>"]')


def folder_of(path):
    parts = path.split("/")
    if parts[0] == "server" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0]


def project_folder(include):
    parts = include.split("/")
    if parts[0] == "server" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] if parts[0] in PROJECT_DIRS else None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def check_file(path, text, problems):
    folder = folder_of(path)
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    limit = 500 if path.startswith("server/") else 800
    if lines > limit:
        problems.append("%s: %d lines (at most %d)" % (path, lines, limit))
    if folder in ALLOWED:
        allowed = set(ALLOWED[folder]) | {folder}
        for n, line in enumerate(text.splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            inc = m.group(1)
            target = project_folder(inc)
            if target is not None and target not in allowed:
                problems.append("%s:%d: %s may not include %s" % (path, n, folder, inc))
            for bad in FORBIDDEN_SYSTEM.get(folder, []):
                if inc.startswith(bad):
                    problems.append("%s:%d: %s may not include %s" % (path, n, folder, inc))
    if path.startswith(("server/", "storage/")):
        code = strip_comments(text)
        if "absl::Now()" in code:
            problems.append("%s: calls absl::Now(); take a base::Clock" % path)
        if re.search(r"fprintf\s*\(\s*stderr|std::cerr", code):
            problems.append("%s: writes to stderr; use the injected base::Logger" % path)


def without_pch(command):
    """A compile command without CMake's precompiled-header flags."""
    args = shlex.split(command)
    out = []
    i = 0
    while i < len(args):
        if args[i] == "-Winvalid-pch":
            i += 1
        elif args[i] == "-include" and i + 1 < len(args) and args[i + 1].endswith("cmake_pch.hxx"):
            i += 2
        else:
            out.append(args[i])
            i += 1
    return shlex.join(out)


NOTE_LINES = re.compile(r"^(.*?):\d+:\d+: note: (\d+) lines including whitespace")


def check_brace_spans(path, full, out, returncode):
    """--check-brace-spans: clang-tidy (threshold 0) reports every function of
    the file with its line count; the brace scan must never count fewer."""
    counts = [int(m.group(2)) for m in map(NOTE_LINES.match, out.splitlines())
              if m and os.path.realpath(m.group(1)) == full]
    if returncode != 0 and not counts:
        return "%s: clang-tidy failed (exit %d): %s" % (path, returncode, out[-400:])
    with open(full, encoding="utf-8", errors="replace") as f:
        span = max_body_span(f.read())
    widest = max(counts, default=0)
    if widest > span:
        return "%s: clang-tidy counts a %d-line function, brace_spans at most %s" % (path, widest, span)
    print("%s: widest function %d lines, brace_spans %s" % (path, widest, span))
    return ""


def function_sizes(root, build, files, problems, tidy_all=False, threshold=FUNCTION_LINES,
                   check_spans=False):
    tidy = shutil.which("clang-tidy") or shutil.which("clang-tidy-14")
    if tidy is None:
        problems.append("clang-tidy is not installed: cannot check function sizes")
        return
    entries = json.load(open(os.path.join(build, "compile_commands.json")))
    for e in entries:
        if "command" in e:
            e["command"] = without_pch(e["command"])
        else:
            e["arguments"] = shlex.split(without_pch(shlex.join(e["arguments"])))
    known = {os.path.realpath(e["file"]) for e in entries}
    config = ("{Checks: '-*,readability-function-size', CheckOptions: ["
              "{key: readability-function-size.LineThreshold, value: %d}]}" % threshold)
    db_dir = tempfile.mkdtemp(prefix="code_shape-")
    with open(os.path.join(db_dir, "compile_commands.json"), "w") as f:
        json.dump(entries, f)
    parsed = []

    def run(path):
        full = os.path.realpath(os.path.join(root, path))
        if full not in known:
            return "%s: not in compile_commands.json (not built?)" % path
        if not tidy_all:
            with open(full, encoding="utf-8", errors="replace") as f:
                if not may_exceed(f.read(), threshold):
                    return ""
        parsed.append(path)
        r = subprocess.run([tidy, "-p", db_dir, "--quiet", "--config=" + config, full],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=300)
        out = r.stdout.decode("utf-8", "replace")
        if check_spans:
            return check_brace_spans(path, full, out, r.returncode)
        found = [l for l in out.splitlines() if "readability-function-size" in l]
        if r.returncode != 0 and not found:
            # A file clang-tidy cannot parse would pass unchecked.
            found = ["%s: clang-tidy failed (exit %d): %s" % (path, r.returncode, out[-400:])]
        return "\n".join(found)

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for result in pool.map(run, files):
                if result:
                    problems.append(result)
    finally:
        shutil.rmtree(db_dir, ignore_errors=True)
    print("function sizes: clang-tidy parsed %d of %d files (%s)" % (
        len(parsed), len(files), "--tidy-all" if tidy_all else
        "the others hold no brace block over %d lines" % threshold))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--build")
    ap.add_argument("--tidy-all", action="store_true",
                    help="run clang-tidy on every server/ file, even those with no block over the limit")
    ap.add_argument("--function-lines", type=int, default=FUNCTION_LINES, help="the function size limit")
    ap.add_argument("--check-brace-spans", action="store_true",
                    help="check brace_spans.py against clang-tidy's count of every function (slow)")
    args = ap.parse_args()
    # Tracked and new (not ignored) files: a file counts before it is committed.
    files = subprocess.run(["git", "-C", args.root, "ls-files", "--cached", "--others",
                            "--exclude-standard", "*.h", "*.cc"],
                           stdout=subprocess.PIPE, check=True).stdout.decode().split()
    problems = []
    files = sorted(f for f in set(files) if os.path.exists(os.path.join(args.root, f)))
    for path in files:
        with open(os.path.join(args.root, path), encoding="utf-8", errors="replace") as f:
            check_file(path, f.read(), problems)
    if args.build:
        function_sizes(args.root, args.build,
                       [f for f in files if f.startswith("server/") and f.endswith(".cc")], problems,
                       args.tidy_all or args.check_brace_spans,
                       0 if args.check_brace_spans else args.function_lines, args.check_brace_spans)
    for p in problems:
        print(p)
    print("code_shape: %d files, %d problems" % (len(files), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
