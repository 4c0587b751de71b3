#!/usr/bin/python3
"""Unit test of bench/flamegraph.py on a small synthetic `perf script`
text: the folded stacks (root first, one line per distinct stack, counts,
thread-name roots on and off, offsets and addresses gone, kernel frames
marked, unresolved frames named after their object, a mangled name
demangled, ';' in a name kept out of the separator), the round trip through
the folded format, the self-time ranking, and the SVG: well-formed XML
(xml.etree), one frame per stack prefix, widths proportional to samples
(the root spans the image's usable width; each frame's callees fit inside
it, in alphabetical order), tooltips with samples and share, the same
colour for the same name in any graph, names that need XML escaping. With
/usr/bin/etcd installed (a stripped Go binary), a frame that perf left
unresolved is named from .gopclntab. The CLI's three commands once each.

usage: flamegraph_test.py
"""
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.dont_write_bytecode = True
import flamegraph  # noqa: E402

FAILED = []
SVG = "{http://www.w3.org/2000/svg}"

# Four samples of two threads: the raft loop twice in the same stack, once
# elsewhere, and a gRPC thread in the kernel under an unresolved frame.
PERF_SCRIPT = """\
ketcd 1234/1234 [001] 100.000100:    2004008 cpu-clock:ppp: 
\t          6cbf4e rocksdb::MemTable::Add+0xd37 (/opt/ketcd/ketcd)
\t          31d83c storage::WriteBatch::Commit+0x24c (/opt/ketcd/ketcd)
\t          247d19 server::RaftMember::Loop+0x2a9 (/opt/ketcd/ketcd)
\t          891f4 start_thread+0x304 (/usr/lib/x86_64-linux-gnu/libc.so.6)

ketcd 1234/1234 [000] 100.002100:    2004008 cpu-clock:ppp: 
\t          6cbf50 rocksdb::MemTable::Add+0xd39 (/opt/ketcd/ketcd)
\t          31d83c storage::WriteBatch::Commit+0x24c (/opt/ketcd/ketcd)
\t          247d19 server::RaftMember::Loop+0x2a9 (/opt/ketcd/ketcd)
\t          891f4 start_thread+0x304 (/usr/lib/x86_64-linux-gnu/libc.so.6)

ketcd 1234/1234 [000] 100.004100:    2004008 cpu-clock:ppp: 
\t          290441 InWriteTxn<Put(Batch&, const Req&) const::<lambda(Acc&)> >+0xd1 (inlined)
\t          2a4dcc _ZN6server10AlarmGuard3PutEv+0x6c (/opt/ketcd/ketcd)
\t          247d19 server::RaftMember::Loop+0x2a9 (/opt/ketcd/ketcd)
\t          891f4 start_thread+0x304 (/usr/lib/x86_64-linux-gnu/libc.so.6)

grpc worker 7 1240 100.005000:    2004008 cpu-clock:ppp: 
\tffffffff8144bfee __x64_sys_futex+0x12e ([kernel.kallsyms])
\t          420f1f [unknown] (/usr/lib/x86_64-linux-gnu/libgrpc.so.29.0.0)
\t          414685 odd;name+0x165 (/usr/lib/x86_64-linux-gnu/libgrpc.so.29.0.0)
\t               0 [unknown] ([unknown])

"""
RAFT = "start_thread;server::RaftMember::Loop"
EXPECTED = {
    "ketcd;" + RAFT + ";storage::WriteBatch::Commit;rocksdb::MemTable::Add": 2,
    "ketcd;" + RAFT + ";server::AlarmGuard::Put;InWriteTxn<Put(Batch&, const Req&) const::<lambda(Acc&)> >": 1,
    "grpc worker 7;[unknown];odd:name;[libgrpc.so.29.0.0];__x64_sys_futex_[k]": 1,
}


def check(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail and not ok else ""), flush=True)
    if not ok:
        FAILED.append(name)


def expected(thread_root=True):
    out = {}
    for stack, n in EXPECTED.items():
        if shutil.which("c++filt") is None:
            stack = stack.replace("server::AlarmGuard::Put", "_ZN6server10AlarmGuard3PutEv")
        out[stack if thread_root else stack.split(";", 1)[1]] = n
    return out


def test_fold():
    folded = flamegraph.fold(PERF_SCRIPT)
    check("fold: one line per distinct stack, root first, counts", dict(folded) == expected(), repr(dict(folded)))
    bare = flamegraph.fold(PERF_SCRIPT.splitlines(), thread_root=False)
    check("fold --no-thread-root: no thread frame", dict(bare) == expected(False), repr(dict(bare)))
    text = flamegraph.format_folded(folded)
    check("folded lines: 'frames count', sorted", text.splitlines() == sorted("%s %d" % kv for kv in
                                                                           expected().items()), text)
    check("folded round trip", flamegraph.parse_folded(text) == folded)
    check("no address or +0x offset left", "+0x" not in text and "6cbf4e" not in text, text)
    top = flamegraph.top_self(folded, 2)
    check("top_self: self and total samples", top == [("rocksdb::MemTable::Add", 2, 2),
                                                     ("InWriteTxn<Put(Batch&, const Req&) const::<lambda(Acc&)> >",
                                                      1, 1)], repr(top))
    check("top_self: total counts a function once per stack",
          dict((n, t) for n, _, t in flamegraph.top_self(folded, 10)).get("__x64_sys_futex_[k]") == 1)
    return folded


def frames_of(svg_text):
    root = ET.fromstring(svg_text)
    out = []
    for g in root.iter(SVG + "g"):
        if g.get("class") != "f":
            continue
        rect, title = g.find(SVG + "rect"), g.find(SVG + "title").text
        out.append({"s": int(g.get("data-s")), "n": int(g.get("data-n")), "d": int(g.get("data-d")),
                    "x": float(rect.get("x")), "w": float(rect.get("width")), "fill": rect.get("fill"),
                    "name": title[:title.rindex(" (")], "title": title})
    return root, out


def test_svg(folded):
    text = flamegraph.render_svg(folded, "a <title> & more", "sub")
    try:
        root, frames = frames_of(text)
    except ET.ParseError as e:
        check("SVG is well-formed XML", False, str(e))
        return
    check("SVG is well-formed XML with an svg root", root.tag == SVG + "svg", root.tag)
    check("title escaped", any(t.text == "a <title> & more" for t in root.iter(SVG + "text")))
    # Every distinct stack prefix is a frame, plus the root "all".
    prefixes = {";".join(s.split(";")[:i]) for s in folded for i in range(1, len(s.split(";")) + 1)}
    check("one frame per stack prefix and a root", len(frames) == len(prefixes) + 1,
          "%d frames, %d prefixes" % (len(frames), len(prefixes)))
    usable = flamegraph.WIDTH - 2 * flamegraph.PAD
    top = [f for f in frames if f["d"] == 0]
    check("one root 'all' with every sample, the full usable width",
          len(top) == 1 and top[0]["name"] == "all" and top[0]["n"] == 4 and abs(top[0]["w"] - usable) < 0.01,
          repr(top))
    check("widths proportional to samples", all(abs(f["w"] - f["n"] * usable / 4.0) < 0.01 for f in frames))
    for f in frames:
        kids = sorted((c for c in frames if c["d"] == f["d"] + 1 and f["s"] <= c["s"] < f["s"] + f["n"]),
                      key=lambda c: c["x"])
        if not kids:
            continue
        check("%s: callees' widths sum to at most its own" % f["name"],
              sum(c["w"] for c in kids) <= f["w"] + 0.01 and kids[-1]["x"] + kids[-1]["w"] <= f["x"] + f["w"] + 0.01)
        if sum(c["n"] for c in kids) == f["n"]:  # no self time: the callees fill it exactly
            check("%s: callees' widths sum to its own" % f["name"], abs(sum(c["w"] for c in kids) - f["w"]) < 0.01
                  and abs(kids[0]["x"] - f["x"]) < 0.01)
        check("%s: callees in alphabetical order" % f["name"], [c["name"] for c in kids] ==
              sorted(c["name"] for c in kids), repr([c["name"] for c in kids]))
    threads = sorted(f["name"] for f in frames if f["d"] == 1)
    check("the thread roots", threads == ["grpc worker 7", "ketcd"], repr(threads))
    add = next((f for f in frames if f["name"] == "rocksdb::MemTable::Add"), None)
    check("tooltip: samples and share", add is not None and add["title"].endswith("(2 samples, 50.00%)"),
          repr(add))
    k = next((f for f in frames if f["name"].endswith("_[k]")), None)
    check("kernel frames coloured apart (blue)", k is not None and flamegraph.colour(k["name"]).startswith("rgb(")
          and int(k["fill"][4:-1].split(",")[2]) >= 215, repr(k))
    other = flamegraph.render_svg({"x;rocksdb::MemTable::Add": 5})
    _, other_frames = frames_of(other)
    check("the same name, the same colour in another graph",
          add is not None and [f["fill"] for f in other_frames if f["name"] == "rocksdb::MemTable::Add"]
          == [add["fill"]])
    check("the script is embedded", "function zoom(" in text and "function search(" in text)


def test_go_symbols():
    etcd = "/usr/bin/etcd"
    go = flamegraph.go_symbols(etcd) if os.path.exists(etcd) else None
    if go is None:
        print("skip Go symbols: no readable Go binary at %s" % etcd)
        return
    want = "runtime.goexit"
    check("%s: .gopclntab read" % etcd, want in go.names, "%d names" % len(go.names))
    if want not in go.names:
        return
    vaddr = go.entries[go.names.index(want)] + 1
    off = next(o + vaddr - v for o, size, v in go.segments if v <= vaddr < v + size)
    text = "etcd 9 1.000000: 1 cpu-clock:\n\t %x [unknown] (%s)\n\n" % (off, etcd)
    check("an unresolved frame in a stripped Go binary named from .gopclntab",
          dict(flamegraph.fold(text)) == {"etcd;" + want: 1}, repr(dict(flamegraph.fold(text))))
    check("go.etcd.io functions are there", any(n.startswith("go.etcd.io/etcd/") for n in go.names))


def test_cli():
    tmp = tempfile.mkdtemp(prefix="ketcd-flamegraph-test-")
    try:
        script = os.path.join(tmp, "perf.txt")
        with open(script, "w") as f:
            f.write(PERF_SCRIPT)
        tool = [sys.executable, os.path.join(ROOT, "bench", "flamegraph.py")]
        r = subprocess.run(tool + ["fold", script], capture_output=True, text=True, timeout=60)
        check("CLI fold", r.returncode == 0 and flamegraph.parse_folded(r.stdout) == expected(), r.stdout + r.stderr)
        r = subprocess.run(tool + ["svg", "--title", "t"], input=r.stdout, capture_output=True, text=True,
                           timeout=60)
        check("CLI svg (stdin)", r.returncode == 0 and ET.fromstring(r.stdout).tag == SVG + "svg", r.stderr)
        r = subprocess.run(tool + ["top", "-n", "1"], input=flamegraph.format_folded(expected()),
                           capture_output=True, text=True, timeout=60)
        check("CLI top", r.returncode == 0 and r.stdout.split() == ["50.00%", "50.00%", "rocksdb::MemTable::Add"],
              r.stdout + r.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    folded = test_fold()
    test_svg(folded)
    test_go_symbols()
    test_cli()
    print("flamegraph test: %s" % ("FAILED: " + ", ".join(FAILED) if FAILED else "all passed"))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
