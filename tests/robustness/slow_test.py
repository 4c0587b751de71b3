#!/usr/bin/python3
"""Unit tests of the robustness harness's `slow` fault (faults.py): its schedule,
its check, and the slowdisk preload shim itself (when built: $KETCD_SLOWDISK_LIB,
else build/tests/robustness/ketcd_slowdisk.so), alone and behind libfiu's preload.

    /usr/bin/python3 tests/robustness/slow_test.py [-v]
"""

import errno
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "compat", "lib"))

import faults  # noqa: E402

LIB = os.environ.get("KETCD_SLOWDISK_LIB") or os.path.join(
    HERE, "..", "..", "build", "tests", "robustness", "ketcd_slowdisk.so")
# a process whose syncs go through libc: prints each call's outcome and time
SYNCS = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o600)
for call in (os.fsync, os.fdatasync):
    t = time.monotonic()
    try:
        call(fd)
        err = 0
    except OSError as e:
        err = e.errno
    print(call.__name__, err, round((time.monotonic() - t) * 1000))
"""


class Member:
    """What under_slow and set_slow need of a harness member."""

    def __init__(self, tmpdir):
        self.tmpdir, self.env_extra, self.name = tmpdir, {}, "m1"

    def alive(self):
        return True


class SlowScheduleTest(unittest.TestCase):
    def test_schedule(self):
        kinds = {"slow", "kill"}
        a = faults.schedule(5, 120, kinds, 1.0)
        self.assertEqual(a, faults.schedule(5, 120, kinds, 1.0))
        slow = [f for f in a if f["kind"] == "slow"]
        self.assertTrue(slow)
        self.assertTrue(all(50 <= f["delay_ms"] <= 400 and 2.0 <= f["down"] <= 6.0
                            and f["target"] in ("leader", "follower") for f in slow))
        self.assertTrue(all("delay_ms" not in f for f in a if f["kind"] != "slow"))


class SlowCheckTest(unittest.TestCase):
    def test_check(self):
        ok = dict(member="m1", delay_ms=200, enabled=True, stopped=False, calls=40, delayed=12)
        self.assertEqual(faults.check_slow([ok]), [])
        idle = dict(ok, calls=40, delayed=0)
        found = faults.check_slow([ok, idle])
        self.assertEqual([a["check"] for a in found], ["slow"])
        self.assertIn("delayed no call", found[0]["what"])
        never = dict(ok, enabled=False, delayed=0)
        self.assertIn("never switched on", faults.check_slow([never])[0]["what"])
        stopped = dict(ok, stopped=True, rc=-6, line="ketcd: fatal: x", how="fatal")
        self.assertIn("stopped under 200 ms slow syncs", faults.check_slow([stopped])[0]["what"])
        # no counters at all (the shim never mapped the control file) is no pass either
        self.assertEqual(len(faults.check_slow([dict(member="m1", delay_ms=90, enabled=True,
                                                     stopped=False)])), 1)


@unittest.skipUnless(os.path.exists(LIB), "slowdisk shim not built: ninja ketcd_slowdisk")
class ShimTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ketcd-slow-test-")
        self.m = Member(self.dir)
        faults.under_slow(self.m, os.path.abspath(LIB))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def syncs(self, argv_prefix=()):
        env = dict(os.environ, **self.m.env_extra)
        out = subprocess.run(list(argv_prefix) + [sys.executable, "-c", SYNCS,
                                                  os.path.join(self.dir, "f")],
                             env=env, capture_output=True, timeout=30, check=True)
        return {name: (int(err), int(ms)) for name, err, ms in
                (line.split() for line in out.stdout.decode().splitlines())}

    def test_off_counts_only(self):
        got = self.syncs()
        self.assertEqual({k: v[0] for k, v in got.items()}, {"fsync": 0, "fdatasync": 0})
        self.assertEqual(faults.slow_counters(self.m), {"calls": 2, "delayed": 0, "slept_ms": 0})

    def test_delays_and_counts(self):
        self.assertTrue(faults.set_slow(self.m, 120))
        got = self.syncs()
        self.assertTrue(all(err == 0 and ms >= 120 for err, ms in got.values()), got)
        self.assertEqual(faults.slow_counters(self.m), {"calls": 2, "delayed": 2, "slept_ms": 240})

    @unittest.skipUnless(shutil.which(faults.FIU_RUN), "no fiu-run (fiu-utils)")
    def test_behind_libfiu(self):
        # fsync fails in libfiu's wrapper, before the shim; fdatasync passes it and is delayed
        self.assertTrue(faults.set_slow(self.m, 100))
        got = self.syncs([faults.FIU_RUN, "-x", "-f", "", "-c",
                          "enable name=posix/io/sync/fsync,failinfo=%d" % errno.EIO]
                         + faults.SLOW_AFTER_FIU)
        self.assertEqual(got["fsync"][0], errno.EIO)
        self.assertEqual(got["fdatasync"][0], 0)
        self.assertGreaterEqual(got["fdatasync"][1], 100)
        self.assertEqual(faults.slow_counters(self.m), {"calls": 1, "delayed": 1, "slept_ms": 100})

    def test_control_file_layout(self):
        with open(self.m.slow_ctl, "rb") as f:
            self.assertEqual(f.read(), bytes(faults.SLOW_CTL_SIZE))
        faults.set_slow(self.m, 300)
        with open(self.m.slow_ctl, "rb") as f:
            self.assertEqual(struct.unpack("<I", f.read(4))[0], 300)


if __name__ == "__main__":
    unittest.main()
