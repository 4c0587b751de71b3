"""bench/compare --defrag: what defragmentation gives back, ketcd and etcd
3.4 side by side (see bench/compare's help).

After the load, every key is deleted (`etcdctl del --prefix ""`, one
request), one key put, and the store compacted to that head revision
(`etcdctl compact REV --physical`); once every member's dbSizeInUse has settled, each member's
Status dbSize and dbSizeInUse and its data dir's disk use (`du -sk`) are
read, each member is defragmented in turn (`etcdctl defrag` on its own
endpoint, as `defrag --cluster` does it, each call timed) while one client
keeps putting on the leader, and the same three figures are read again.
"""

import json
import os
import subprocess
import threading
import time

MIB = float(1 << 20)


def member_status(cluster):
    """{client endpoint: Status} of every member that answers."""
    return {s["Endpoint"]: s["Status"] for s in cluster.status()}


def du_mib(path):
    """The data dir's disk use as `du -sk` counts it (hard links once)."""
    r = subprocess.run(["du", "-sk", path], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not r.stdout.split():
        raise RuntimeError("du %s: %s" % (path, r.stderr.strip()[-300:]))
    return int(r.stdout.split()[0]) / 1024.0


def sizes(cluster):
    """Per member: dbSize and dbSizeInUse (MiB) from Status, disk use (MiB)."""
    st = member_status(cluster)
    out = []
    for m in cluster.members:
        s = st.get(m["client"])
        if s is None:
            raise RuntimeError("%s: %s did not answer endpoint status\n%s" % (cluster.system, m["name"],
                                                                             cluster.log_tails()))
        out.append({"db_mib": int(s.get("dbSize", 0)) / MIB, "in_use_mib": int(s.get("dbSizeInUse", 0)) / MIB,
                    "disk_mib": du_mib(os.path.join(cluster.dir, m["name"]))})
    return out


def wait_settled(cluster, timeout):
    """Waits until no member's dbSizeInUse changed over two seconds (the
    followers apply the compaction at their own pace); returns the seconds
    waited."""
    t0, last, still = time.time(), None, 0
    while time.time() - t0 < timeout:
        now = [s.get("dbSizeInUse") for s in member_status(cluster).values()]
        still = still + 1 if now == last and len(now) == len(cluster.members) else 0
        if still >= 4:
            return time.time() - t0
        last = now
        time.sleep(0.5)
    raise RuntimeError("%s: dbSizeInUse still changing %d s after the compaction" % (cluster.system, timeout))


def checked(cluster, what, r):
    if r.returncode != 0:
        raise RuntimeError("%s: etcdctl %s failed: %s" % (cluster.system, what, (r.stderr or r.stdout).strip()[-500:]))
    return r


def defrag_bench(runner, system, writes):
    """Delete everything, compact, defragment each member with a writer
    running; returns the figures (also printed)."""
    c = runner.clusters[system]
    leader = c.leader()
    r = checked(c, "del", c.etcdctl(leader, "--command-timeout=900s", "del", "--prefix", "", "-w", "json",
                                    timeout=960))
    deleted = int(json.loads(r.stdout).get("deleted", 0))
    # One put after the delete, and the compaction at its revision: the head,
    # with the deletes below it, as when deletes are spread over revisions.
    # (ketcd keeps the compacted revision itself whole for a watcher that
    # starts there; compacting at the delete's own revision would keep every
    # tombstone of that one revision.)
    r = checked(c, "put", c.etcdctl(leader, "put", "compare-defrag-mark", "x", "-w", "json"))
    rev = int(json.loads(r.stdout)["header"]["revision"])
    t0 = time.time()
    checked(c, "compact", c.etcdctl(leader, "--command-timeout=900s", "compact", str(rev), "--physical",
                                    timeout=960))
    compact_s = time.time() - t0
    settle_s = wait_settled(c, 600)
    before = sizes(c)
    put, failed = {}, []

    def write():
        try:
            put.update(runner.bench(system, "put-during-defrag",
                                    ["--clients", "1", "--conns", "1", "put", "--val-size", "256",
                                     "--key-space-size", "1000"], writes, "leader", 1, timeout=600))
        except Exception as e:  # noqa: BLE001 -- re-raised on the main thread below
            failed.append(e)

    writer = threading.Thread(target=write)
    w0 = time.time()
    if writes > 0:
        writer.start()
        time.sleep(0.3)  # the writer has dialed and is putting
    per_member = []
    d0 = time.time()
    for m in c.members:  # member order, as `etcdctl defrag --cluster`
        t = time.time()
        checked(c, "defrag on " + m["name"], c.etcdctl(m["client"], "--command-timeout=900s", "defrag",
                                                        timeout=960))
        per_member.append(time.time() - t)
    defrag_total = time.time() - d0
    if writes:
        writer.join()
        if failed:
            raise failed[0]
    writer_s = time.time() - w0
    after = sizes(c)
    members = []
    for m, b, a, s in zip(c.members, before, after, per_member):
        members.append({"name": m["name"], "leader": m["client"] == leader, "defrag_s": s,
                        "before": b, "after": a})
    out = {"deleted": deleted, "compact_rev": rev, "compact_s": compact_s, "settle_s": settle_s,
           "defrag_total_s": defrag_total, "members": members, "writer_puts": writes, "writer_s": writer_s,
           "put_p50_ms": put.get("p50_ms", float("nan")), "put_p99_ms": put.get("p99_ms", float("nan")),
           "put_errors": put.get("errors", -1)}
    for key in ("db_mib", "in_use_mib", "disk_mib"):
        out["before_" + key] = sum(x["before"][key] for x in members) / len(members)
        out["after_" + key] = sum(x["after"][key] for x in members) / len(members)
    out["defrag_mean_s"] = sum(per_member) / len(per_member)
    print("  %s: deleted %d keys, compacted at %d in %.2f s (settled %.1f s); per member dbSize %.1f -> %.1f MiB, "
          "in use %.1f -> %.1f MiB, disk %.1f -> %.1f MiB; defrag %.2f s per member; a writer's put p50 %.2f ms, "
          "p99 %.2f ms meanwhile" % (system, deleted, rev, compact_s, settle_s, out["before_db_mib"],
                                     out["after_db_mib"], out["before_in_use_mib"], out["after_in_use_mib"],
                                     out["before_disk_mib"], out["after_disk_mib"], out["defrag_mean_s"],
                                     out["put_p50_ms"], out["put_p99_ms"]), flush=True)
    return out


def ratio(a, b):
    return "%.2f×" % (a / b) if b else "n/a"


def table_lines(k, e):
    """The results table's section, from the two systems' defrag_bench()."""
    rows = [("Status dbSize before defrag, MiB", "before_db_mib"),
            ("Status dbSizeInUse before defrag, MiB", "before_in_use_mib"),
            ("data dir on disk (du) before defrag, MiB", "before_disk_mib"),
            ("Status dbSize after defrag, MiB", "after_db_mib"),
            ("Status dbSizeInUse after defrag, MiB", "after_in_use_mib"),
            ("data dir on disk (du) after defrag, MiB", "after_disk_mib"),
            ("`etcdctl defrag` per member, s", "defrag_mean_s")]
    writer = bool(k["writer_puts"] and e["writer_puts"])
    lines = ["", "Defragmentation after deleting %d keys and compacting (`etcdctl del --prefix \"\"`, one put, "
             "`compact HEAD --physical`, then `etcdctl defrag` on each member in turn%s; sizes are the mean of the members; "
             "etcd deleted %d):" % (k["deleted"], " while one client puts on the leader" if writer else "",
                                    e["deleted"]), "",
             "| | ketcd | etcd | ketcd/etcd |", "|---|---:|---:|---:|"]
    for label, key in rows:
        lines.append("| %s | %.2f | %.2f | %s |" % (label, k[key], e[key], ratio(k[key], e[key])))
    if writer:
        lines.append("| put p50 / p99 during the defrags (%d puts; the writer ran %.1f s / %.1f s), ms "
                     "| %.2f / %.2f | %.2f / %.2f | %s (p99) |" % (
                         k["writer_puts"], k["writer_s"], e["writer_s"], k["put_p50_ms"], k["put_p99_ms"],
                         e["put_p50_ms"], e["put_p99_ms"], ratio(k["put_p99_ms"], e["put_p99_ms"])))
    for system, d in (("ketcd", k), ("etcd", e)):
        lines.append("")
        lines.append("%s per member (dbSize / dbSizeInUse / du, MiB, before -> after): " % system + "; ".join(
            "%s%s %.1f / %.1f / %.1f -> %.1f / %.1f / %.1f, defrag %.2f s" % (
                m["name"], " (leader)" if m["leader"] else "", m["before"]["db_mib"], m["before"]["in_use_mib"],
                m["before"]["disk_mib"], m["after"]["db_mib"], m["after"]["in_use_mib"], m["after"]["disk_mib"],
                m["defrag_s"]) for m in d["members"]))
    return lines
