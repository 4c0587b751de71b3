"""The robustness run's anomaly report for people: DIR/anomalies.html and
DIR/anomalies-slice.jsonl, written by run's check_run when it found anomalies.

    write(out_dir, anomalies, faults, config, history=None)

anomalies.html is one self-contained page (inline SVG and CSS, no script): a header
with the seed, the arguments and the count of anomalies per check, then a section
per anomaly (the first MAX_SECTIONS) with its check, its text and, when it names
operations, a timeline drawn as Porcupine draws one: a row per client, each
operation a bar from its call to its return; an operation of unknown outcome may
take effect at any later time, so its bar is hatched and runs to the right edge.
The offending operations are drawn in red; the other operations on their keys that
overlap their span (from the whole history), lighter, show what they raced with;
fault windows are shaded behind (fault to healed dark, healed to recovered light).
Hovering a bar shows the whole record (an SVG <title>).

anomalies-slice.jsonl is the minimal history slice: every anomaly's operations plus
the operations on the same keys that overlap their span, one record a line, by t0.
"""

import bisect
import collections
import html
import json
import math
import os

import checks

MAX_SECTIONS = 50
MAX_CONTEXT = 150       # context operations drawn per anomaly, the nearest to the span
LOOKBACK = 10.0         # s: no operation that started earlier is looked at as context
MAX_TEXT = 4000         # characters of an anomaly's text shown
WIDTH, LABEL_W, AXIS_H, LANE_H, BAR_H = 1100, 210, 34, 20, 15
CHAR_W = 6.7            # px per character of the bars' 11 px monospace font
PREFIX = "/rb/"
READS = ("get", "sget", "lget", "oget", "lttl")

CSS = """
body{font:13px sans-serif;margin:1em 2em;color:#222}
h1{font-size:18px} h2{font-size:15px;margin:1.6em 0 .3em}
pre.what{white-space:pre-wrap;background:#f6f6f6;padding:.4em;margin:.2em 0}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:1px 6px;font-size:12px}
svg text{font:11px monospace} svg .lbl{font:12px sans-serif} svg .ax{fill:#666}
rect.op{fill:#cfe0fa;stroke:#3a68b8} rect.op.bad{fill:#ffc9c9;stroke:#c00;stroke-width:2}
rect.op.ctx{fill:#e8eef8;stroke:#9db0d0} rect.op.unknown{fill:url(#hatch);stroke-dasharray:4 3}
rect.op.bad.unknown{fill:url(#hatchbad)}
rect.fault{fill:#ffe0a8;opacity:.55} rect.heal{fill:#fff1d6;opacity:.6}
line.ev{stroke:#d08000;stroke-dasharray:2 2} line.tick{stroke:#e4e4e4}
"""
DEFS = ('<svg width="0" height="0" style="position:absolute"><defs>'
        '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eef3fb"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#9db0d0" stroke-width="2"/></pattern>'
        '<pattern id="hatchbad" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffe4e4"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#d44" stroke-width="2"/></pattern>'
        '</defs></svg>')


def esc(x):
    return html.escape(str(x), quote=True)


def keys_of(op):
    k = op.get("k")
    if k is None:
        return []
    return list(k) if isinstance(k, list) else [k]


def known(op):
    return op.get("st") == "ok" and op.get("t1") is not None


def end_of(op):
    """When the operation can last take effect: its return, or never for an unknown one."""
    return op["t1"] if known(op) else float("inf")


def load_history(out_dir):
    """Every client, lease and compactor record, the last of each id."""
    return checks.load_ops(out_dir, checks.OP_RECORDS)


class KeyIndex:
    """The history's operations per key, by start time."""

    def __init__(self, history):
        self.by_key = collections.defaultdict(list)
        for op in history:
            for k in keys_of(op):
                self.by_key[k].append(op)
        for ops in self.by_key.values():
            ops.sort(key=lambda o: o["t0"])
        self.starts = {k: [o["t0"] for o in ops] for k, ops in self.by_key.items()}

    def overlapping(self, keys, lo, hi):
        out = {}
        for k in keys:
            ops, starts = self.by_key.get(k, []), self.starts.get(k, [])
            for op in ops[bisect.bisect_left(starts, lo - LOOKBACK):bisect.bisect_right(starts, hi)]:
                # a read of unknown outcome changed nothing: only one called in the span counts
                if end_of(op) >= lo and (known(op) or op.get("op") not in READS or op["t0"] >= lo):
                    out[op["id"]] = op
        return out


def offending(anomaly):
    """The anomaly's operations, once each (a check may name one twice)."""
    seen = {}
    for op in anomaly.get("ops") or []:
        if isinstance(op, dict) and "t0" in op and op.get("id") not in seen:
            seen[op.get("id")] = op
    return list(seen.values())


def span(ops):
    return (min(o["t0"] for o in ops),
            max(o["t1"] if o.get("t1") is not None else o["t0"] for o in ops))


def context(index, bad):
    """The other operations on the offending operations' keys overlapping their span."""
    lo, hi = span(bad)
    ids = {o.get("id") for o in bad}
    keys = {k for o in bad for k in keys_of(o)}
    ctx = [o for i, o in index.overlapping(keys, lo, hi).items() if i not in ids]
    mid = (lo + hi) / 2
    ctx.sort(key=lambda o: 0 if o["t0"] <= hi and end_of(o) >= lo else abs(o["t0"] - mid))
    return sorted(ctx[:MAX_CONTEXT], key=lambda o: o["t0"])


def short_key(k):
    return k[len(PREFIX):] if isinstance(k, str) and k.startswith(PREFIX) else k


def describe(op):
    """kind key = value -> result, for a bar's label."""
    ks = ",".join(str(short_key(k)) for k in keys_of(op))
    s = "%s %s" % (op.get("op"), ks)
    v = op.get("v")
    if v is not None:
        s += " = %s" % (",".join(map(str, v)) if isinstance(v, list) else v)
    if op.get("op") == "cas":
        s += " if mod=%s" % op.get("exp")
    if not known(op):
        return s + " -> ? (%s)" % op.get("err", op.get("st"))
    res = []
    if op.get("op") == "cas":
        res.append("ok" if op.get("ok") else "failed")
    kv = op.get("kv")
    if isinstance(kv, list) and kv:
        res.append(("%s mod %s" % (kv[1], kv[2])) if kv[0] else "absent")
    if "n" in op:
        res.append("n=%s" % op["n"])
    if op.get("rev") is not None:
        res.append("rev %s" % op["rev"])
    return s + " -> " + " ".join(map(str, res)) if res else s


def client_order(c):
    return (0, c, "") if isinstance(c, int) else (1, 0, str(c))


def lanes(ops, right):
    """Places each client's operations in lanes so that none overlaps another:
    (op, lane) pairs and the lane count."""
    ends, out = [], []
    for op in sorted(ops, key=lambda o: o["t0"]):
        stop = right if not known(op) else op["t1"]
        for i, e in enumerate(ends):
            if e <= op["t0"]:
                ends[i] = stop
                out.append((op, i))
                break
        else:
            ends.append(stop)
            out.append((op, len(ends) - 1))
    return out, max(1, len(ends))


def nice_step(width_ms):
    """A tick step of 1, 2 or 5 times a power of ten giving about eight ticks."""
    raw = max(width_ms, 1e-6) / 8
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def fault_bands(faults):
    """[(start, healed, recovered, label, record)] and [(t, label)] for other events."""
    bands, events, cur = [], [], None
    for rec in faults:
        ev, t = rec.get("ev"), rec.get("t")
        if t is None:
            continue
        if ev == "fault":
            cur = [t, None, None, "%s %s %s" % (rec.get("kind"), rec.get("target"),
                                                ",".join(rec.get("members") or [])), rec]
            bands.append(cur)
        elif ev == "healed" and cur is not None and cur[1] is None:
            cur[1] = t
        elif ev in ("recovered", "no-leader") and cur is not None:
            cur[2] = t
            cur = None
        elif ev not in ("healed", "recovered", "no-leader"):
            events.append((t, "%s %s" % (ev, rec.get("member", "")), rec))
    inf = float("inf")
    return [(b[0], b[1] if b[1] is not None else (b[2] or inf), b[2] or b[1] or inf, b[3], b[4])
            for b in bands], events


def rel(t, zero):
    return "%+.1f" % ((t - zero) * 1000) if t != float("inf") else "never"


def svg(bad, ctx, faults, t_first):
    lo, hi = span(bad)
    margin = max(0.1 * (hi - lo), 0.0002)
    wlo, whi = lo - margin, hi + margin
    plot_w = WIDTH - LABEL_W - 10

    def x(t):
        return LABEL_W + max(0.0, min(1.0, (t - wlo) / (whi - wlo))) * plot_w

    bad_ids = {o.get("id") for o in bad}
    by_client = collections.defaultdict(list)
    for op in bad + ctx:
        by_client[op.get("c")].append(op)
    rows, y = [], AXIS_H
    for c in sorted(by_client, key=client_order):
        placed, n = lanes(by_client[c], whi)
        rows.append((c, placed, y, n))
        y += n * LANE_H + 4
    height = y + 4
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d">' % (WIDTH, height)]
    bands, events = fault_bands(faults)
    for start, healed, rec_t, label, rec in bands:
        if start > whi or rec_t < wlo:
            continue
        out.append('<g><title>%s</title>' % esc(json.dumps(rec)))
        out.append('<rect class="fault" x="%.1f" y="14" width="%.1f" height="%d"/>'
                   % (x(start), x(healed) - x(start), height - 14))
        if x(rec_t) > x(healed):
            out.append('<rect class="heal" x="%.1f" y="14" width="%.1f" height="%d"/>'
                       % (x(healed), x(rec_t) - x(healed), height - 14))
        out.append('<text x="%.1f" y="11" fill="#a06000">%s</text></g>' % (
            x(max(start, wlo)) + 2, esc("%s: %s ms, healed %s ms, recovered %s ms" % (
                label, rel(start, lo), rel(healed, lo), rel(rec_t, lo)))))
    for t, label, rec in events:
        if wlo <= t <= whi:
            out.append('<g><title>%s</title><line class="ev" x1="%.1f" x2="%.1f" y1="14" y2="%d"/>'
                       '</g>' % (esc(json.dumps(rec)), x(t), x(t), height))
    step = nice_step((whi - wlo) * 1000)
    tick = (int(((wlo - lo) * 1000) // step) + 1) * step
    while tick <= (whi - lo) * 1000:
        tx = x(lo + tick / 1000)
        out.append('<line class="tick" x1="%.1f" x2="%.1f" y1="%d" y2="%d"/>'
                   '<text class="ax" x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (tx, tx, AXIS_H - 4, height, tx, AXIS_H - 7, "%g ms" % round(tick, 6)))
        tick += step
    for c, placed, y0, n in rows:
        eps = sorted({str(o.get("ep")) for o, _ in placed})
        if len(eps) > 1 and len({e.rsplit(":", 1)[0] for e in eps}) == 1:
            eps = [":" + e.rsplit(":", 1)[-1] for e in eps]  # one host: the ports tell them apart
        label = "client %s @ %s" % (c, " ".join(eps))
        out.append('<g><title>%s</title><text class="lbl" x="4" y="%d">%s</text></g>' % (
            esc(label), y0 + 12, esc(label if len(label) <= 30 else label[:29] + "\u2026")))
        for op, lane in placed:
            out.append(bar(op, op.get("id") in bad_ids, x, y0 + lane * LANE_H, (wlo, lo, whi),
                           t_first))
    out.append("</svg>")
    return "\n".join(out)


def bar(op, is_bad, x, y, window, t_first):
    wlo, zero, whi = window
    unknown = not known(op)
    x0, x1 = x(op["t0"]), x(whi if unknown else op["t1"])
    w = max(x1 - x0, 1.5)
    cls = "op " + ("bad" if is_bad else "ctx") + (" unknown" if unknown else "")
    text = describe(op)
    full = "%s: %s\ncall %+.3f ms, return %s; %.6f s into the run\n%s" % (
        op.get("id"), text, (op["t0"] - zero) * 1000,
        "unknown" if unknown else "%+.3f ms" % ((op["t1"] - zero) * 1000),
        op["t0"] - t_first, json.dumps(op, default=repr)[:1500])
    label = ("\u25c2" if op["t0"] < wlo else "") + text
    room = int((w - 4) / CHAR_W)
    if len(label) > room:
        label = label[:room - 1] + "\u2026" if room >= 4 else ""
    return ('<g><title>%s</title><rect class="%s" x="%.1f" y="%d" width="%.1f" height="%d"/>'
            '<text x="%.1f" y="%d">%s</text></g>' % (
                esc(full), cls, x0, y, w, BAR_H, x0 + 2, y + 11, esc(label)))


def ops_table(bad, t_first):
    rows = ["<tr><th>id</th><th>client @ endpoint</th><th>operation</th>"
            "<th>call (s into the run)</th><th>took</th></tr>"]
    for op in bad:
        took = "unknown" if not known(op) else "%.3f ms" % ((op["t1"] - op["t0"]) * 1000)
        rows.append("<tr><td>%s</td><td>%s @ %s</td><td>%s</td><td>%.6f</td><td>%s</td></tr>" % (
            esc(op.get("id")), esc(op.get("c")), esc(op.get("ep")), esc(describe(op)),
            op["t0"] - t_first, esc(took)))
    return "<table>%s</table>" % "".join(rows)


def slice_ops(anomalies, index):
    got = {}
    for a in anomalies:
        bad = offending(a)
        if bad:
            for op in bad + context(index, bad):
                got.setdefault(op.get("id"), op)
    return sorted(got.values(), key=lambda o: o["t0"])


def write(out_dir, anomalies, faults, config, history=None):
    """Writes DIR/anomalies.html and DIR/anomalies-slice.jsonl; history: every
    operation record (read from DIR when None)."""
    history = load_history(out_dir) if history is None else history
    index = KeyIndex(history)
    t_first = min((o["t0"] for o in history), default=0.0)
    with open(os.path.join(out_dir, "anomalies-slice.jsonl"), "w") as f:
        for op in slice_ops(anomalies, index):
            f.write(json.dumps(op, default=repr) + "\n")
    args = (config or {}).get("args", {})
    counts = collections.Counter(a.get("check") for a in anomalies)
    page = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>ketcd robustness: %d anomalies"
            "</title><style>%s</style></head><body>%s" % (len(anomalies), CSS, DEFS),
            "<h1>Robustness anomalies: seed %s</h1>" % esc(args.get("seed")),
            "<p>%s</p>" % esc(out_dir),
            "<table>%s</table>" % "".join("<tr><th>%s</th><td>%d</td></tr>" % (esc(c), n)
                                          for c, n in sorted(counts.items())),
            "<details><summary>arguments and fault schedule</summary><pre>%s</pre></details>"
            % esc(json.dumps(config, indent=1, default=repr)),
            "<p>Each timeline: a row per client; red bars are the anomaly's operations, light ones "
            "the other operations on their keys overlapping them; hatched bars have no known "
            "outcome and may take effect until the right edge; 0 ms is the first offending call; "
            "orange bands are faults (light: healed, no leader agreed yet). Hover for records.</p>"]
    if len(anomalies) > MAX_SECTIONS:
        page.append("<p>The first %d of %d anomalies are drawn; anomalies.json has them all.</p>"
                    % (MAX_SECTIONS, len(anomalies)))
    for i, a in enumerate(anomalies[:MAX_SECTIONS]):
        what = str(a.get("what", ""))
        page.append('<section class="anomaly"><h2>#%d %s</h2><pre class="what">%s</pre>' % (
            i + 1, esc(a.get("check")), esc(what if len(what) <= MAX_TEXT else what[:MAX_TEXT] + "\u2026")))
        bad = offending(a)
        if bad:
            ctx = context(index, bad)
            page.append(ops_table(bad, t_first))
            page.append("<p>%d other operations on the same keys overlap.</p>" % len(ctx))
            page.append(svg(bad, ctx, faults, t_first))
        else:
            page.append("<p>No client operations are attached to this anomaly.</p>")
        page.append("</section>")
    page.append("</body></html>\n")
    with open(os.path.join(out_dir, "anomalies.html"), "w") as f:
        f.write("\n".join(page))
