"""Watch guarantees, checked per watcher against the final history (FinalHistory).

A watcher's records (client.py, watcher mode), in order:
  {"t": "meta", "w", "prev_kv", "start"}      once, first
  {"t": "start", "rev", "ep"}                 each (re)creation of the watch
  {"t": "resp", "hdr", "ev": [[type, key, value, mod, create, version, prev]]}
                                              prev: [value, mod, create, version] or None
  {"t": "broken" | "canceled", ...}           the stream ended
Checks (etcd's documented watch guarantees):
  ordered       event revisions never go back; within one revision, sub-revision order
  unique        no (revision, key) delivered twice
  atomic        the events of one revision come in one response
  complete      every event of the history from the start revision up to the newest
                revision delivered is delivered (no gap), and the watcher reached the
                final revision
  exact         every event equals the history's (type, value, create, version), and
                prev_kv the key's previous version when requested
  resumed       a watch re-created after its stream broke starts at last delivered + 1
"""

import bisect

from checks import anomaly


def _ref_event(ref, key, rev):
    """The history's event on key at rev: ("PUT", value, create, version),
    ("DELETE",), or None when the key did not change at rev."""
    revs, kvs = ref.by_key.get(key, ([], []))
    i = bisect.bisect_left(revs, rev)
    if i == len(revs) or revs[i] != rev:
        return None
    kv = kvs[i]
    return ("PUT", kv[0], kv[2], kv[3]) if kv is not None else ("DELETE",)


def check_watcher(name, records, ref, final_rev):
    found = []
    meta = records[0] if records and records[0].get("t") == "meta" else {}
    want_prev = bool(meta.get("prev_kv"))
    start = meta.get("start", 1)
    delivered = set()
    last = start - 1          # newest revision delivered
    closed = start - 1        # revisions up to here were completed by an earlier response
    first_start = True
    for rec in records:
        t = rec.get("t")
        if t == "start":
            if not first_start and rec["rev"] != last + 1:
                found.append(anomaly("watch-resume", "%s: re-created at revision %d after "
                                     "delivering up to %d" % (name, rec["rev"], last)))
            first_start = False
            continue
        if t != "resp":
            continue
        prev_ev = None
        for ev in rec["ev"]:
            typ, key, value, mod, create, version, prev = ev
            tag = "%s: event %s %r at %d" % (name, typ, key, mod)
            if (mod, key) in delivered:
                found.append(anomaly("watch-duplicate", tag + " delivered twice"))
                continue
            if mod < last or (prev_ev is not None and (mod, key) < prev_ev):
                found.append(anomaly("watch-order", tag + " after revision %d" % last))
            if mod <= closed:
                found.append(anomaly("watch-atomic", tag + ": revision %d was split over "
                                     "responses" % mod))
            delivered.add((mod, key))
            prev_ev = (mod, key)
            last = max(last, mod)
            want = _ref_event(ref, key, mod)
            got = ("PUT", value, create, version) if typ == "PUT" else ("DELETE",)
            if want != got:
                found.append(anomaly("watch-content", tag + ": got %r, history has %r"
                                     % (got, want)))
            if want_prev:
                p = ref.kv_at(key, mod - 1)
                wp = list(p) if p is not None else None
                if (list(prev) if prev is not None else None) != wp:
                    found.append(anomaly("watch-prev-kv", tag + ": prev_kv %r, history has %r"
                                         % (prev, wp)))
        closed = last
    missing = [(rev, key) for rev, _, key, _, _, _ in ref.events
               if start <= rev <= last and (rev, key) not in delivered]
    if missing:
        found.append(anomaly("watch-gap", "%s: %d events of the history up to revision %d "
                             "never delivered, first %s" % (name, len(missing), last,
                                                             missing[:5])))
    if last < final_rev:
        found.append(anomaly("watch-incomplete", "%s: delivered up to revision %d, the "
                             "final revision is %d" % (name, last, final_rev)))
    return found, len(delivered)
