"""Watch guarantees, checked per watcher against the final history (FinalHistory).

A watcher's records (client.py, watcher mode), in order:
  {"t": "meta", "w", "prev_kv", "start"}      once, first
  {"t": "start", "rev", "ep"}                 each (re)creation of the watch
  {"t": "resp", "hdr", "ev": [[type, key, value, mod, create, version, prev]]}
                                              prev: [value, mod, create, version] or None
  {"t": "created", "hdr"}                     the watch was created
  {"t": "progress", "hdr", "wid", "time"}     an answer to a WatchProgressRequest
  {"t": "broken" | "canceled", ...}           the stream ended; canceled carries "rev",
                                              the compact revision (0: not for compaction)
Checks (etcd's documented watch guarantees):
  ordered       event revisions never go back; within one revision, sub-revision order
  unique        no (revision, key) delivered twice
  atomic        the events of one revision come in one response
  complete      every event of the history from the start revision up to the newest
                revision delivered is delivered (no gap), and the watcher reached the
                final revision
  exact         every event equals the history's (type, value, create, version), and
                prev_kv the key's previous version when requested
  resumed       a watch re-created after its stream broke starts at last delivered + 1,
                after a cancel for compaction at the compact revision
  compacted     a cancel for compaction names a revision above the watch's start that
                a compaction sent before the cancel asked for; the revisions it skipped
                (start .. compact revision - 1) are not required by "complete"
  progress      on one stream, progress revisions never go back, are not below an
                event already delivered, and no event at or below a progress revision
                arrives after it (etcd: "all events up to this revision were sent")
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


def check_watcher(name, records, ref, final_rev, compactions=()):
    """compactions: [(time sent, revision)] of every compaction request of the run."""
    found = []
    meta = records[0] if records and records[0].get("t") == "meta" else {}
    want_prev = bool(meta.get("prev_kv"))
    start = meta.get("start", 1)
    delivered = set()
    last = start - 1          # newest revision delivered
    closed = start - 1        # revisions up to here were completed by an earlier response
    first_start = True
    cur_start, resume_at = start, None
    excused = []              # [(lo, hi)]: revisions lo..hi-1 skipped by a compaction cancel
    progress, stream_max = 0, 0
    for rec in records:
        t = rec.get("t")
        if t == "start":
            want = resume_at if resume_at is not None else last + 1
            if not first_start and rec["rev"] != want:
                found.append(anomaly("watch-resume", "%s: re-created at revision %d after "
                                     "delivering up to %d (expected %d)"
                                     % (name, rec["rev"], last, want)))
            first_start, cur_start, resume_at = False, rec["rev"], None
            progress, stream_max = 0, 0
            continue
        if t == "canceled" and rec.get("rev"):
            c = rec["rev"]
            asked = [r for when, r in compactions if when <= rec.get("time", float("inf"))]
            if c <= cur_start or c not in asked:
                found.append(anomaly("watch-compacted", "%s: watch from revision %d canceled "
                                     "with compact revision %d; compactions asked for before: %s"
                                     % (name, cur_start, c, asked[-5:])))
            # only what the cancel skipped: this stream's revisions up to the last
            # one delivered were due before it, compaction or not
            excused.append((max(cur_start, last + 1), c))
            resume_at = c
            continue
        if t == "progress":
            h = rec["hdr"]
            if h < progress:
                found.append(anomaly("watch-progress-back", "%s: progress revision %d after "
                                     "progress %d on one stream" % (name, h, progress)))
            if h < stream_max:
                found.append(anomaly("watch-progress-behind", "%s: progress revision %d after "
                                     "an event at %d on one stream" % (name, h, stream_max)))
            progress = max(progress, h)
            continue
        if t != "resp":
            continue
        prev_ev = None
        for ev in rec["ev"]:
            typ, key, value, mod, create, version, prev = ev
            if mod > final_rev:
                # made after the history was read back (a lease expiring once the load
                # stopped): nothing to compare with; the watcher stops here anyway
                continue
            tag = "%s: event %s %r at %d" % (name, typ, key, mod)
            if mod <= progress:
                found.append(anomaly("watch-progress-ahead", tag + " arrived after a progress "
                                     "notification at revision %d" % progress))
            stream_max = max(stream_max, mod)
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
    # etcd's compaction at C drops the tombstones at C: a watch resumed at C after a
    # compaction cancel may miss C's deletes (ketcd delivers them)
    missing = [(rev, key) for rev, typ, key, _, _, _ in ref.events
               if start <= rev <= last and (rev, key) not in delivered
               and not any(lo <= rev < hi or (rev == hi and typ == "DELETE")
                           for lo, hi in excused)]
    if missing:
        found.append(anomaly("watch-gap", "%s: %d events of the history up to revision %d "
                             "never delivered, first %s" % (name, len(missing), last,
                                                             missing[:5])))
    if last < final_rev:
        found.append(anomaly("watch-incomplete", "%s: delivered up to revision %d, the "
                             "final revision is %d" % (name, last, final_rev)))
    return found, len(delivered)
