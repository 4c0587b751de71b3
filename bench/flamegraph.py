#!/usr/bin/python3
"""Flame graphs from `perf script` output, written for ketcd's benchmarks
(bench/compare --profile) and usable on its own.

  flamegraph.py fold [--no-thread-root] [PERF_SCRIPT_TXT]   > out.folded
  flamegraph.py svg [--title T] [--subtitle S] [FOLDED]     > out.svg
  flamegraph.py top [-n 20] [FOLDED]                        (self time per function)

(stdin when no file is named.) `fold` turns each sample's call chain into
one "root;...;leaf count" line: the thread's name as the root frame (unless
--no-thread-root), addresses and +0x offsets dropped, C++ names demangled
(perf demangles already; names it left mangled go through `c++filt -p`),
kernel frames marked "_[k]", unresolved frames named after their object
("[libgrpc.so.29]"). Go binaries that are stripped (Debian's etcd has no
.symtab, so perf prints "[unknown]") are symbolized here from the
function table the Go runtime keeps in .gopclntab.

`svg` draws a self-contained SVG: one rectangle per frame, its width
proportional to its samples, callers below callees, the frames of each
level in alphabetical order (so that equal stacks merge), a colour derived
from the function's name (the same function is the same colour in every
graph), the name, samples and share in each frame's tooltip. A few lines of
script zoom into a frame on click and highlight a regular expression's
matches with their share.
"""
import argparse
import bisect
import collections
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
from xml.sax.saxutils import escape

# "comm tid[/tid] [cpu] time:" (comm may hold spaces; the tid and time anchor it).
HEADER = re.compile(r"^(.+?)\s+(\d+)(?:/\d+)?\s+(?:\[\d+\]\s+)?\d+\.\d+:")
# "    addr symbol+0xoff (dso)"; the symbol may hold spaces and parentheses.
FRAME = re.compile(r"^([0-9a-fA-F]+)\s+(.*?)(?:\s+\(([^()]*)\))?$")
OFFSET = re.compile(r"\+0x[0-9a-fA-F]+$")


# --- Go symbols ------------------------------------------------------------

class GoSymbols:
    """Function names of a Go binary from its .gopclntab, which stripping
    keeps (the runtime needs it for tracebacks). Knows the layouts of Go
    1.2-1.15, 1.16-1.17 and 1.18 on; 64- and 32-bit little-endian ELF."""

    def __init__(self, data):
        self.segments = []  # (file offset, size, virtual address) of each PT_LOAD
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        for i in range(phnum):
            ptype, _, off, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
            if ptype == 1:
                self.segments.append((off, filesz, vaddr))
        sections = elf_sections(data)
        _, off, size = sections[".gopclntab"]
        tab = data[off:off + size]
        text = sections.get(".text", (0, 0, 0))[0]
        magic, ptr = struct.unpack_from("<I", tab, 0)[0], tab[7]
        word = lambda i: struct.unpack_from("<Q" if ptr == 8 else "<I", tab, 8 + i * ptr)[0]  # noqa: E731
        uptr = "<Q" if ptr == 8 else "<I"
        funcs = []  # (entry address, name offset within the name table)
        if magic in (0xfffffff0, 0xfffffff1):  # Go 1.18 on: 32-bit offsets from textStart
            nfunc, names, pcln = word(0), word(3), word(7)
            start = word(2) or text  # 0 in a PIE file (filled in at load time)
            for i in range(nfunc + 1):
                entry, funcoff = struct.unpack_from("<II", tab, pcln + 8 * i)
                funcs.append((start + entry, struct.unpack_from("<i", tab, pcln + funcoff + 4)[0]
                              if i < nfunc else -1))
        elif magic in (0xfffffffa, 0xfffffffb):  # Go 1.16-1.17, and 1.2-1.15 (names from the table's start)
            nfunc = word(0)
            names, pcln = (word(2), word(6)) if magic == 0xfffffffa else (0, 8 + ptr)
            for i in range(nfunc + 1):
                entry = struct.unpack_from(uptr, tab, pcln + 2 * ptr * i)[0]
                funcoff = struct.unpack_from(uptr, tab, pcln + 2 * ptr * i + ptr)[0] if i < nfunc else 0
                funcs.append((entry, struct.unpack_from("<i", tab, (pcln if magic == 0xfffffffa else 0)
                                                        + funcoff + ptr)[0] if i < nfunc else -1))
        else:
            raise ValueError("unknown .gopclntab magic %#x" % magic)
        self.entries = [f[0] for f in funcs]
        self.names = []
        for _, nameoff in funcs[:-1]:
            at = names + nameoff
            self.names.append(tab[at:tab.index(b"\0", at)].decode("utf-8", "replace"))

    def address(self, file_offset):
        """The virtual address of a file offset (what perf prints for an
        address it could not resolve in a mapped object)."""
        for off, size, vaddr in self.segments:
            if off <= file_offset < off + size:
                return file_offset - off + vaddr
        return None

    def lookup(self, vaddr):
        i = bisect.bisect_right(self.entries, vaddr) - 1
        return self.names[i] if 0 <= i < len(self.names) else None


def elf_sections(data):
    """{name: (address, file offset, size)} of a 64-bit little-endian ELF."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    out = {}
    for name, _, _, addr, off, size in headers:
        at = strtab + name
        out[data[at:data.index(b"\0", at)].decode("ascii", "replace")] = (addr, off, size)
    return out


_GO_CACHE = {}


def go_symbols(path):
    """The GoSymbols of the binary at `path`, or None (not Go, unreadable)."""
    if path not in _GO_CACHE:
        try:
            with open(path, "rb") as f:
                data = f.read()
            _GO_CACHE[path] = GoSymbols(data) if b".gopclntab" in data else None
        except (OSError, ValueError, KeyError, struct.error, IndexError):
            _GO_CACHE[path] = None
    return _GO_CACHE[path]


# --- folding ---------------------------------------------------------------

def frame_name(addr, sym, dso):
    """One frame's name in the folded output (before demangling)."""
    sym = OFFSET.sub("", sym.strip())
    if dso == "[kernel.kallsyms]" or (dso or "").startswith("[kernel"):
        return (sym if sym and sym != "[unknown]" else "[kernel]") + "_[k]"
    if sym and sym != "[unknown]":
        return sym
    if dso and dso.startswith("/"):
        go = go_symbols(dso)
        if go is not None:
            vaddr = go.address(int(addr, 16))
            name = go.lookup(vaddr) if vaddr is not None else None
            if name:
                return name
    if dso and dso not in ("[unknown]", "inlined"):
        return "[%s]" % os.path.basename(dso)
    return "[unknown]"


def demangle(names):
    """{mangled: demangled} for the names in `names` that look mangled
    (Itanium ABI), through `c++filt -p` (no parameter lists, as perf prints
    them); empty when c++filt is missing."""
    mangled = sorted({n for n in names if n.startswith("_Z")})
    if not mangled or shutil.which("c++filt") is None:
        return {}
    r = subprocess.run(["c++filt", "-p"], input="\n".join(mangled) + "\n", capture_output=True, text=True,
                       timeout=120)
    out = r.stdout.split("\n")
    return {m: d for m, d in zip(mangled, out) if r.returncode == 0 and d}


def fold(lines, thread_root=True):
    """Counter {"root;...;leaf": samples} of `perf script` output (an
    iterable of lines, or one string)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    samples = []  # (comm, [frame names, leaf first])
    comm, frames = None, None
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            if frames is not None:
                samples.append((comm, frames))
            comm, frames = None, None
            continue
        if line.startswith("#"):
            continue
        if not line[0].isspace():  # a sample's header line
            if frames is not None:
                samples.append((comm, frames))
            m = HEADER.match(line)
            comm, frames = (m.group(1).strip() if m else line.split()[0]), []
            continue
        m = FRAME.match(line.strip())
        if m and frames is not None:
            frames.append(frame_name(m.group(1), m.group(2), m.group(3)))
    if frames is not None:
        samples.append((comm, frames))
    names = demangle({f for _, fs in samples for f in fs})
    folded = collections.Counter()
    for comm, fs in samples:
        stack = [names.get(f, f).replace(";", ":") for f in reversed(fs)]
        if thread_root:
            stack.insert(0, comm.replace(";", ":"))
        if stack:
            folded[";".join(stack)] += 1
    return folded


def format_folded(folded):
    return "".join("%s %d\n" % (stack, n) for stack, n in sorted(folded.items()))


def parse_folded(lines):
    """Counter {stack: samples} of folded lines ("a;b;c 12")."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    out = collections.Counter()
    for line in lines:
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if stack and n.isdigit():
            out[stack] += int(n)
    return out


def top_self(folded, n=20):
    """The `n` functions with the most self samples (the leaf of a stack):
    [(name, self samples, samples with it anywhere on the stack)]."""
    self_, total = collections.Counter(), collections.Counter()
    for stack, count in folded.items():
        frames = stack.split(";")
        self_[frames[-1]] += count
        for f in set(frames):
            total[f] += count
    return [(name, s, total[name]) for name, s in sorted(self_.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


# --- SVG -------------------------------------------------------------------

WIDTH, PAD, FRAME_H, TOP, BOTTOM, CHAR_W = 1200, 10, 16, 54, 24, 6.6

SCRIPT = """
var frames, total, W, P = %(pad)d;
function $(id) { return document.getElementById(id); }
function init() {
  frames = Array.prototype.slice.call(document.querySelectorAll('g.f'));
  total = +$('frames').getAttribute('data-total');
  W = +document.documentElement.getAttribute('width') - 2 * P;
  frames.forEach(function (g) {
    g.onclick = function () { zoom(g); };
    g.onmouseover = function () { $('info').textContent = g.firstChild.textContent; };
    g.onmouseout = function () { $('info').textContent = ' '; };
  });
  $('reset').onclick = function () { zoom(null); };
  $('search').onclick = search;
}
function label(g, w) {
  var t = g.firstChild.textContent, name = t.slice(0, t.lastIndexOf(' (')), n = Math.floor((w - 6) / %(char)s);
  return n < 3 ? '' : name.length <= n ? name : name.slice(0, n - 2) + '..';
}
function zoom(z) {
  var s0 = z ? +z.getAttribute('data-s') : 0, n0 = z ? +z.getAttribute('data-n') : total;
  var d0 = z ? +z.getAttribute('data-d') : 0, k = W / n0;
  $('reset').style.opacity = z ? 1 : 0;
  frames.forEach(function (g) {
    var s = +g.getAttribute('data-s'), n = +g.getAttribute('data-n'), d = +g.getAttribute('data-d');
    var r = g.querySelector('rect'), t = g.querySelector('text'), x, w;
    if (d < d0 && s <= s0 && s + n >= s0 + n0) { x = P; w = W; g.style.opacity = 0.6; }
    else if (d >= d0 && s >= s0 && s + n <= s0 + n0) { x = P + (s - s0) * k; w = n * k; g.style.opacity = 1; }
    else { g.style.display = 'none'; return; }
    g.style.display = w < 0.5 ? 'none' : '';
    r.setAttribute('x', x); r.setAttribute('width', w);
    t.setAttribute('x', x + 3); t.textContent = label(g, w);
  });
}
function search() {
  var q = prompt('Highlight frames matching (regular expression):', ''), re, spans = [], hit = 0, end = -1;
  if (q === null) return;
  try { re = new RegExp(q); } catch (e) { alert(e); return; }
  frames.forEach(function (g) {
    var t = g.firstChild.textContent, on = q !== '' && re.test(t.slice(0, t.lastIndexOf(' (')));
    g.setAttribute('class', on ? 'f hit' : 'f');
    if (on) spans.push([+g.getAttribute('data-s'), +g.getAttribute('data-n')]);
  });
  spans.sort(function (a, b) { return a[0] - b[0]; }).forEach(function (p) {
    var e = p[0] + p[1];
    if (e > end) { hit += e - Math.max(p[0], end); end = e; }
  });
  $('matched').textContent = q === '' ? '' : 'matched ' + (100 * hit / total).toFixed(1) + '%%';
}
"""


def colour(name):
    """A colour from the name's hash: warm for user code, blue for the
    kernel, grey for frames without a symbol."""
    h = hashlib.md5(name.encode("utf-8", "replace")).digest()
    a, b, c = h[0] / 255.0, h[1] / 255.0, h[2] / 255.0
    if name.endswith("_[k]"):
        return "rgb(%d,%d,%d)" % (80 + 60 * a, 140 + 60 * b, 215 + 40 * c)
    if name.startswith("["):
        return "rgb(%d,%d,%d)" % ((170 + 40 * a,) * 3)
    return "rgb(%d,%d,%d)" % (205 + 50 * a, 230 * b, 55 * c)


def layout(folded):
    """[(name, depth, first sample, samples)] of every frame, a root "all"
    at depth 0, each level's frames in alphabetical order within their
    caller; and the total."""
    root = [0, {}]
    for stack, n in folded.items():
        root[0] += n
        node = root
        for f in stack.split(";"):
            node = node[1].setdefault(f, [0, {}])
            node[0] += n
    out, todo = [], [("all", root, 0, 0)]
    while todo:
        name, node, depth, start = todo.pop()
        out.append((name, depth, start, node[0]))
        at = start
        children = []
        for child in sorted(node[1]):
            children.append((child, node[1][child], depth + 1, at))
            at += node[1][child][0]
        todo.extend(reversed(children))
    return out, root[0]


def label(name, width):
    n = int((width - 6) / CHAR_W)
    return "" if n < 3 else name if len(name) <= n else name[:n - 2] + ".."


def render_svg(folded, title="Flame graph", subtitle="", min_px=0.1):
    """The SVG (a string) of `folded` ({stack: samples}); frames narrower
    than `min_px` pixels are left out (with everything above them)."""
    frames, total = layout(folded)
    scale = (WIDTH - 2 * PAD) / float(max(total, 1))
    frames = [f for f in frames if f[3] * scale >= min_px]
    depth = max((f[1] for f in frames), default=0) + 1
    height = TOP + depth * FRAME_H + BOTTOM
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" '
           'onload="init()">' % (WIDTH, height, WIDTH, height),
           "<style>text{font-family:monospace;font-size:11px;fill:#000}g.f{cursor:pointer}"
           "g.f:hover rect{stroke:#000;stroke-width:0.5}g.hit rect{fill:rgb(225,0,225)}"
           "#title{font-size:16px;text-anchor:middle}#reset,#search{fill:#036;cursor:pointer}</style>",
           "<script><![CDATA[%s]]></script>" % (SCRIPT % {"pad": PAD, "char": CHAR_W}),
           '<rect x="0" y="0" width="100%" height="100%" fill="rgb(250,250,245)"/>',
           '<text id="title" x="%d" y="22">%s</text>' % (WIDTH // 2, escape(title)),
           '<text x="%d" y="40">%s</text>' % (PAD, escape(subtitle)),
           '<text id="reset" x="%d" y="22" style="opacity:0">reset zoom</text>' % PAD,
           '<text id="search" x="%d" y="22">search</text>' % (WIDTH - PAD - 60),
           '<text id="info" x="%d" y="%d"> </text>' % (PAD, height - 8),
           '<text id="matched" x="%d" y="%d"></text>' % (WIDTH - PAD - 120, height - 8),
           '<g id="frames" data-total="%d">' % total]
    for name, d, start, n in frames:
        x, w = PAD + start * scale, n * scale
        y = height - BOTTOM - (d + 1) * FRAME_H
        tip = "%s (%d samples, %.2f%%)" % (name, n, 100.0 * n / max(total, 1))
        out.append('<g class="f" data-s="%d" data-n="%d" data-d="%d"><title>%s</title>'
                   '<rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" rx="1"/>'
                   '<text x="%.2f" y="%d">%s</text></g>'
                   % (start, n, d, escape(tip), x, y, w, FRAME_H - 1, colour(name), x + 3, y + FRAME_H - 4,
                      escape(label(name, w))))
    out += ["</g>", "</svg>", ""]
    return "\n".join(out)


# --- CLI -------------------------------------------------------------------

def read_input(path):
    if path in (None, "-"):
        return sys.stdin.read()
    with open(path, errors="replace") as f:
        return f.read()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fold", help="perf script output -> folded stacks")
    p.add_argument("input", nargs="?")
    p.add_argument("--no-thread-root", action="store_true", help="no thread name as the root frame")
    p = sub.add_parser("svg", help="folded stacks -> SVG flame graph")
    p.add_argument("input", nargs="?")
    p.add_argument("--title", default="Flame graph")
    p.add_argument("--subtitle", default="")
    p = sub.add_parser("top", help="folded stacks -> the functions with the most self time")
    p.add_argument("input", nargs="?")
    p.add_argument("-n", type=int, default=20)
    args = ap.parse_args(argv)
    text = read_input(args.input)
    if args.cmd == "fold":
        sys.stdout.write(format_folded(fold(text, thread_root=not args.no_thread_root)))
    elif args.cmd == "svg":
        sys.stdout.write(render_svg(parse_folded(text), args.title, args.subtitle))
    else:
        folded = parse_folded(text)
        total = max(1, sum(folded.values()))
        for name, s, incl in top_self(folded, args.n):
            print("%6.2f%% %6.2f%%  %s" % (100.0 * s / total, 100.0 * incl / total, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
