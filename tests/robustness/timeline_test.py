#!/usr/bin/python3
"""Unit test of timeline.py, the anomaly page of a robustness run, on a small
hand-made run directory with a stale read during a partition.

    /usr/bin/python3 tests/robustness/timeline_test.py [-v]
"""

import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import timeline  # noqa: E402

K0, K1 = "/rb/k0", "/rb/k1"
EP = ["127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"]


def op(id_, c, kind, k, t0, t1=None, st="ok", **res):
    rec = {"id": id_, "c": c, "ep": EP[c % 3], "sess": 1, "op": kind, "k": k, "t0": t0, "st": st}
    if t1 is not None:
        rec["t1"] = t1
    rec.update(res)
    return rec


# c0 writes a, then "<b>" (rev 3); c1 then reads k0 and still sees a: stale.
# c2's put of x is sent and never answered (unknown outcome, overlapping the read).
# c2's earlier read of unknown outcome and c0's write of a (returned before) are
# not in the slice; nor is c0's write of k1 (another key) nor c1's read long before.
CLIENT0 = [op("c0-1", 0, "put", K0, 99.90, 99.95, v="a", rev=2),
           op("c0-2", 0, "put", K0, 100.10, st="sent", v="<b>"),
           op("c0-2", 0, "put", K0, 100.10, 100.20, v="<b>", rev=3),
           op("c0-3", 0, "put", K1, 100.21, 100.22, v="y", rev=4)]
CLIENT1 = [op("c1-0", 1, "get", K0, 95.0, 95.01, kv=[False, None, 0, 0, 0], rev=1),
           op("c1-1", 1, "get", K0, 100.25, 100.26, kv=[True, "a", 2, 2, 1], rev=2)]
CLIENT2 = [op("c2-0", 2, "get", K0, 99.0, st="sent"),
           op("c2-1", 2, "put", K0, 100.05, st="sent", v="x")]
FAULTS = [{"ev": "fault", "kind": "partition", "target": "leader", "members": ["m1"],
           "down": 0.5, "t": 100.0},
          {"ev": "healed", "kind": "partition", "members": ["m1"], "t": 100.5},
          {"ev": "recovered", "leader": "m2", "after": 0.1, "t": 100.6}]
CONFIG = {"args": {"seed": "4242", "duration": 5.0, "faults": "partition"}, "schedule": []}


class TimelineTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="timeline-test-")
        for name, recs in (("client-0.jsonl", CLIENT0), ("client-1.jsonl", CLIENT1),
                           ("client-2.jsonl", CLIENT2), ("faults.jsonl", FAULTS)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in recs)
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(CONFIG, f)
        read, write = CLIENT1[1], CLIENT0[2]
        self.anomalies = [
            {"check": "linearizability", "what": "key '/rb/k0': no linearization", "ops": [read, read]},
            {"check": "revision-order", "what": "c1-1 saw revision 2 after c0-2 returned 3",
             "ops": [write, read]},
            {"check": "watch", "what": "watch-0: event <i>gap</i> at revision 3"}]
        timeline.write(self.dir, self.anomalies, FAULTS, CONFIG)
        with open(os.path.join(self.dir, "anomalies.html")) as f:
            self.page = f.read()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def sections(self):
        return re.findall(r'<section class="anomaly">(.*?)</section>', self.page, re.S)

    def test_one_section_per_anomaly(self):
        secs = self.sections()
        self.assertEqual(len(secs), 3)
        self.assertIn("linearizability", secs[0])
        self.assertIn("revision-order", secs[1])
        self.assertIn("No client operations", secs[2])
        self.assertNotIn("<svg", secs[2])
        self.assertIn("4242", self.page)  # the seed in the header

    def test_a_bar_per_operation(self):
        secs = self.sections()
        # the read (named twice, drawn once) and the unknown put
        self.assertEqual(len(re.findall(r'<rect class="op\b', secs[0])), 2)
        # the write, the read and the unknown put
        self.assertEqual(len(re.findall(r'<rect class="op bad"', secs[1])), 2)
        self.assertEqual(len(re.findall(r'<rect class="op\b', secs[1])), 3)
        for c in (0, 1, 2):
            self.assertIn("client %d @ %s" % (c, EP[c]), secs[1])

    def test_unknown_outcome_drawn_open(self):
        for sec in self.sections()[:2]:
            bars = re.findall(r'<rect class="op ctx unknown" x="([\d.]+)" y="\d+" width="([\d.]+)"',
                              sec)
            self.assertEqual(len(bars), 1, sec)
            x, w = map(float, bars[0])
            self.assertAlmostEqual(x + w, timeline.WIDTH - 10, delta=0.2)  # to the right edge

    def test_fault_band(self):
        for sec in self.sections()[:2]:
            self.assertIn('<rect class="fault"', sec)
            self.assertIn("partition leader m1", sec)

    def test_text_escaped(self):
        self.assertNotIn("<b>", self.page)
        self.assertNotIn("<i>", self.page)
        self.assertIn("&lt;b&gt;", self.page)
        self.assertIn("&lt;i&gt;gap&lt;/i&gt;", self.page)

    def test_slice(self):
        with open(os.path.join(self.dir, "anomalies-slice.jsonl")) as f:
            got = [json.loads(line) for line in f]
        self.assertEqual([o["id"] for o in got], ["c2-1", "c0-2", "c1-1"])
        self.assertEqual(got[0]["st"], "err")  # the unanswered one
        self.assertIsNone(got[0]["t1"])
        self.assertEqual(got[1]["st"], "ok")  # the last record of an id

    def test_history_passed_in(self):
        # as run passes it: the same page and slice
        os.unlink(os.path.join(self.dir, "anomalies-slice.jsonl"))
        timeline.write(self.dir, self.anomalies, FAULTS, CONFIG,
                       timeline.load_history(self.dir))
        with open(os.path.join(self.dir, "anomalies.html")) as f:
            self.assertEqual(f.read(), self.page)
        self.assertTrue(os.path.exists(os.path.join(self.dir, "anomalies-slice.jsonl")))


if __name__ == "__main__":
    unittest.main()
